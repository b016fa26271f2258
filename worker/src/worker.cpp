#include "qg/worker/worker.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "qg/common/errors.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/worker/command_template.hpp"
#include "qg/worker/log_tail.hpp"

namespace qg::worker {

namespace fs = std::filesystem;
using proto::JobStatus;

namespace {

constexpr std::size_t kMaxFrames = 8;
constexpr std::size_t kMaxBytes = 8u << 20;
constexpr std::int64_t kSendRetryMs = 100;  // a send that could not be queued (not connected yet)

// A file-name-safe rendering of an id.
std::string safe_name(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '_' && c != '-') c = '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_";
  return out;
}

bool retryable(const std::string& code) {
  return code == proto::errc::not_found || code == proto::errc::unavailable || code == proto::errc::internal;
}

}  // namespace

Worker::Worker(Settings settings, zmq::context_t& context, std::shared_ptr<spdlog::logger> logger, const Clock& clock)
    : settings_(std::move(settings)), context_(context), log_(std::move(logger)), clock_(clock) {
  if (settings_.worker_id.empty()) throw ConfigError("worker id is empty");
  if (settings_.targets.empty()) throw ConfigError("no targets");
  std::error_code ec;
  fs::create_directories(fs::path(settings_.workdir) / "logs", ec);
  if (ec) throw ConfigError("cannot create workdir " + settings_.workdir + ": " + ec.message());
  heartbeat_ms_ = std::max<std::int64_t>(settings_.heartbeat.count(), 10);
  load_installed();
}

Worker::~Worker() = default;

std::string Worker::next_rid() { return ids_.next(clock_.now_ms()); }

// ---------------------------------------------------------------------------------------
// Sockets

void Worker::open_sockets() {
  dealer_.emplace(context_, zmq::socket_type::dealer);
  set_common_options(*dealer_, std::chrono::milliseconds(1000));
  set_zmq_heartbeats(*dealer_, std::chrono::milliseconds(heartbeat_ms_), std::chrono::milliseconds(heartbeat_ms_ * 3));
  // Queue only on a live connection: while the broker is away sends fail and are retried by
  // us, instead of a backlog of stale heartbeats and pulls arriving at a restarted broker.
  dealer_->set(zmq::sockopt::immediate, 1);
  dealer_->set(zmq::sockopt::routing_id, settings_.worker_id);
  dealer_->connect(settings_.broker);
  pub_.emplace(context_, zmq::socket_type::pub);
  set_common_options(*pub_, std::chrono::milliseconds(1000));
  set_zmq_heartbeats(*pub_, std::chrono::milliseconds(heartbeat_ms_), std::chrono::milliseconds(heartbeat_ms_ * 3));
  pub_->connect(settings_.events);
}

template <class T>
bool Worker::send(const T& message) {
  try {
    return send_multipart(*dealer_, proto::frames_of(proto::kWorkerProtocol, message));
  } catch (const zmq::error_t& e) {
    log_->warn("send {} failed: {}", T::command, e.what());
    return false;
  }
}

template <class T>
void Worker::publish(const std::string& topic, const T& message) {
  try {
    send_multipart(*pub_, {topic, std::string(proto::kEventProtocol), std::string(T::command), proto::encode(message)});
  } catch (const zmq::error_t& e) {
    log_->warn("publish {} failed: {}", topic, e.what());
  }
}

void Worker::send_hello() {
  proto::Hello hello;
  hello.rid = hello_rid_ = next_rid();
  hello.worker_id = settings_.worker_id;
  hello.device_id = settings_.device_id;
  hello.targets = settings_.targets;
  hello.labels = settings_.labels;
  hello.installed.assign(installed_.begin(), installed_.end());
  registered_ = false;
  pull_outstanding_ = false;
  auto now = steady_ms();
  hello_sent_ms_ = now;
  bool sent = send(hello);
  next_hello_ms_ = now + (sent ? settings_.reply_timeout.count() : kSendRetryMs);
  if (sent) ++counters_.hellos_sent;
  log_->debug("HELLO {} sent={}", hello.rid, sent);
}

void Worker::send_pull() {
  proto::Pull pull;
  pull.rid = next_rid();
  pull.worker_id = settings_.worker_id;
  pull.targets = settings_.targets;
  pull.installed.assign(installed_.begin(), installed_.end());
  pull.wait_ms = static_cast<std::uint32_t>(settings_.pull_wait.count());
  auto now = steady_ms();
  if (!send(pull)) {
    next_pull_ms_ = now + kSendRetryMs;
    return;
  }
  pull_rid_ = pull.rid;
  pull_sent_ms_ = now;
  pull_outstanding_ = true;
  ++counters_.pulls_sent;
}

void Worker::send_heartbeat() {
  proto::Heartbeat hb;
  hb.worker_id = settings_.worker_id;
  hb.device_id = settings_.device_id;
  hb.state = (draining_ || aborting_) ? "draining" : group_ ? "busy" : "idle";
  if (group_) {
    hb.lease_id = group_->assign.lease_id;
    hb.group_key = group_->assign.group_key;
    for (std::size_t i = 0; i < group_->slots.size(); ++i) {
      const auto& slot = group_->slots[i];
      if (slot.state != SlotState::pending && slot.state != SlotState::running) continue;
      JobStatus status = slot.state == SlotState::running ? JobStatus::running
                         : group_->installing             ? JobStatus::installing
                                                          : JobStatus::assigned;
      hb.jobs.push_back({slot.job.job_id, slot.job.attempt, status});
    }
  }
  hb.seq = ++heartbeat_seq_;
  hb.sent_at_ms = clock_.now_ms();
  if (registered_) send(hb);
  publish("hb." + settings_.worker_id, hb);
}

void Worker::send_release(const std::string& lease_id, std::vector<std::string> job_ids) {
  if (job_ids.empty()) return;
  PendingRelease pending;
  pending.release.rid = next_rid();
  pending.release.worker_id = settings_.worker_id;
  pending.release.lease_id = lease_id;
  pending.release.job_ids = std::move(job_ids);
  counters_.jobs_released += pending.release.job_ids.size();
  log_->info("releasing {} unstarted job(s) of lease {}", pending.release.job_ids.size(), lease_id);
  bool sent = send(pending.release);
  pending.next_send_ms = steady_ms() + (sent ? settings_.report_resend.count() : kSendRetryMs);
  releases_.emplace(pending.release.rid, std::move(pending));
}

void Worker::send_progress(const Slot& slot, JobStatus status) {
  proto::Progress progress;
  progress.worker_id = settings_.worker_id;
  progress.lease_id = group_->assign.lease_id;
  progress.job_id = slot.job.job_id;
  progress.attempt = slot.job.attempt;
  progress.status = status;
  send(progress);
  publish_job_event(slot, status, {});
}

void Worker::publish_job_event(const Slot& slot, JobStatus status, const std::string& message) {
  proto::JobEvent event;
  event.source = settings_.worker_id;
  event.seq = ++event_seq_;
  event.job_id = slot.job.job_id;
  event.org_id = group_->assign.org_id;
  event.app_version_id = group_->assign.app_version_id;
  event.attempt = slot.job.attempt;
  event.status = status;
  event.worker_id = settings_.worker_id;
  event.message = message;
  event.at_ms = clock_.now_ms();
  publish("job." + event.org_id + "." + event.job_id, event);
}

// ---------------------------------------------------------------------------------------
// Receiving

void Worker::drain_socket() {
  while (true) {
    std::optional<Multipart> message;
    try {
      message = recv_multipart(*dealer_, kMaxFrames, kMaxBytes);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      throw;
    }
    if (!message) return;
    if (message->oversize) {
      ++counters_.protocol_errors;
      log_->warn("dropped an oversize message from the broker");
      continue;
    }
    dispatch(message->frames);
  }
}

void Worker::dispatch(const std::vector<std::string>& frames) {
  auto envelope = proto::parse_envelope(frames, proto::kWorkerProtocol);
  if (!envelope) {
    ++counters_.protocol_errors;
    log_->warn("unreadable message from the broker: {} {}", envelope.error().code, envelope.error().message);
    return;
  }
  const auto& command = envelope->command;
  const auto& body = envelope->body;
  auto bad = [&](const proto::Error& e) {
    ++counters_.protocol_errors;
    log_->warn("unreadable {} from the broker: {} {} {}", command, e.code, e.field, e.message);
  };
  if (command == proto::HelloReply::command) {
    auto reply = proto::decode<proto::HelloReply>(body);
    if (!reply) return bad(reply.error());
    if (reply->rid != hello_rid_) return;
    registered_ = true;
    if (reply->heartbeat_ms > 0) {
      heartbeat_ms_ =
          std::min<std::int64_t>(std::max<std::int64_t>(settings_.heartbeat.count(), 10), reply->heartbeat_ms);
    }
    log_->info("registered with the broker as {} (heartbeat {} ms, lease {} ms)", settings_.worker_id, heartbeat_ms_,
               reply->lease_ms);
    next_pull_ms_ = 0;
    next_heartbeat_ms_ = 0;
  } else if (command == proto::Assign::command) {
    auto assign = proto::decode<proto::Assign>(body);
    if (!assign) return bad(assign.error());
    on_assign(std::move(assign).value());
  } else if (command == proto::NoWork::command) {
    auto nowork = proto::decode<proto::NoWork>(body);
    if (!nowork) return bad(nowork.error());
    if (nowork->rid == pull_rid_) {
      pull_outstanding_ = false;
      next_pull_ms_ = 0;
    }
  } else if (command == proto::Confirm::command) {
    auto confirm = proto::decode<proto::Confirm>(body);
    if (!confirm) return bad(confirm.error());
    auto it = reports_.find({confirm->job_id, confirm->attempt});
    if (it == reports_.end()) return;
    if (confirm->accepted) {
      ++counters_.reports_confirmed;
      log_->debug("report of {} attempt {} confirmed", confirm->job_id, confirm->attempt);
    } else {
      ++counters_.reports_rejected;
      log_->info("report of {} attempt {} not accepted: {}", confirm->job_id, confirm->attempt, confirm->reason);
    }
    reports_.erase(it);
  } else if (command == proto::ReleaseReply::command) {
    auto reply = proto::decode<proto::ReleaseReply>(body);
    if (!reply) return bad(reply.error());
    releases_.erase(reply->rid);
  } else if (command == proto::ByeReply::command) {
    auto reply = proto::decode<proto::ByeReply>(body);
    if (!reply) return bad(reply.error());
    if (!bye_rid_.empty() && reply->rid == bye_rid_) exit_code_ = aborting_ ? 130 : 0;
  } else if (command == proto::CancelJob::command) {
    auto cancel = proto::decode<proto::CancelJob>(body);
    if (!cancel) return bad(cancel.error());
    on_cancel(*cancel);
  } else if (command == proto::ErrorReply::command) {
    auto error = proto::decode<proto::ErrorReply>(body);
    if (!error) return bad(error.error());
    on_error(*error);
  } else {
    ++counters_.protocol_errors;
    log_->warn("unexpected command {} from the broker", command);
  }
}

void Worker::on_assign(proto::Assign assign) {
  if (assign.rid == pull_rid_) pull_outstanding_ = false;
  std::vector<std::string> ids;
  for (const auto& job : assign.jobs) ids.push_back(job.job_id);
  if (group_ || draining_ || aborting_) {
    // Not ours to run now (a late answer to an abandoned pull, or we are leaving): hand it back.
    log_->info("handing back lease {} ({})", assign.lease_id, group_ ? "busy" : "draining");
    send_release(assign.lease_id, std::move(ids));
    return;
  }
  if (assign.jobs.empty()) {
    log_->warn("lease {} came with no jobs", assign.lease_id);
    return;
  }
  start_group(std::move(assign));
}

void Worker::on_cancel(const proto::CancelJob& cancel) {
  if (!group_) return;
  for (std::size_t i = 0; i < group_->slots.size(); ++i) {
    auto& slot = group_->slots[i];
    if (slot.job.job_id != cancel.job_id) continue;
    if (cancel.attempt != 0 && cancel.attempt != slot.job.attempt) return;
    ++counters_.cancels;
    if (slot.state == SlotState::running) {
      log_->info("cancelling running job {}", slot.job.job_id);
      slot.cancel_requested = true;
      group_->command->cancel();
    } else if (slot.state == SlotState::pending) {
      log_->info("cancelling queued job {}", slot.job.job_id);
      finish_job(i, JobStatus::cancelled, 0, 0, {}, "cancelled before it started");
      bool any_pending = std::any_of(group_->slots.begin(), group_->slots.end(),
                                     [](const Slot& s) { return s.state == SlotState::pending; });
      if (group_->installing && !any_pending && group_->command) group_->command->cancel();
    }
    return;
  }
}

void Worker::on_error(const proto::ErrorReply& reply) {
  const auto& e = reply.error;
  log_->warn("broker error {} for rid '{}': {}{}{}", e.code, reply.rid, e.message, e.field.empty() ? "" : " field ",
             e.field);
  if (!reply.rid.empty() && reply.rid == hello_rid_) {
    if (!retryable(e.code)) {
      log_->error("the broker refused this worker's HELLO: {} — check --worker-id, --targets, --labels", e.message);
      exit_code_ = 3;
    }
    return;  // retried by the HELLO timer
  }
  for (auto it = reports_.begin(); it != reports_.end(); ++it) {
    if (it->second.report.rid != reply.rid) continue;
    if (!retryable(e.code)) {
      log_->error("report of {} refused for good ({}); dropping it", it->first.first, e.code);
      reports_.erase(it);
      return;
    }
    break;
  }
  if (auto it = releases_.find(reply.rid); it != releases_.end() && !retryable(e.code)) releases_.erase(it);
  if (!reply.rid.empty() && reply.rid == pull_rid_) pull_outstanding_ = false;
  if (e.code == proto::errc::not_found && !hello_rid_.empty() && registered_) {
    // Most likely a restarted broker that does not know us: introduce ourselves again.
    log_->info("re-sending HELLO");
    send_hello();
  } else if (!reply.rid.empty() && reply.rid == pull_rid_) {
    next_pull_ms_ = steady_ms() + settings_.report_resend.count();
  }
}

// ---------------------------------------------------------------------------------------
// The group

std::string Worker::build_key() const { return group_->assign.org_id + "/" + group_->assign.app_version_id; }

std::map<std::string, std::string> Worker::template_values(const Slot* slot) const {
  std::map<std::string, std::string> v;
  v["org_id"] = group_->assign.org_id;
  v["app_version_id"] = group_->assign.app_version_id;
  v["target"] = std::string(proto::to_string(group_->assign.target));
  v["device_id"] = settings_.device_id;
  v["test_path"] = slot != nullptr ? slot->job.test_path : "";
  v["job_id"] = slot != nullptr ? slot->job.job_id : "";
  v["attempt"] = slot != nullptr ? std::to_string(slot->job.attempt) : "";
  return v;
}

std::map<std::string, std::string> Worker::child_env(const Slot* slot) const {
  std::map<std::string, std::string> env;
  for (const auto& [k, v] : template_values(slot)) {
    std::string name = "QG_JOB_";
    for (char c : k) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    env[name] = v;
  }
  env["QG_WORKER_ID"] = settings_.worker_id;
  return env;
}

void Worker::start_group(proto::Assign assign) {
  ++counters_.groups_assigned;
  group_.emplace();
  group_->assign = std::move(assign);
  for (const auto& job : group_->assign.jobs) {
    Slot slot;
    slot.job = job;
    slot.log_path =
        (fs::path(settings_.workdir) / "logs" / (safe_name(job.job_id) + "." + std::to_string(job.attempt) + ".log"))
            .string();
    group_->slots.push_back(std::move(slot));
  }
  log_->info("assigned group {} (lease {}): {} job(s) of {} on {}", group_->assign.group_key, group_->assign.lease_id,
             group_->slots.size(), build_key(), proto::to_string(group_->assign.target));
  for (const auto& slot : group_->slots) publish_job_event(slot, JobStatus::assigned, {});

  auto key = build_key();
  if (settings_.install_cmd.empty()) {
    start_next_job();
    return;
  }
  if (installed_.count(key) != 0 && !group_->assign.reinstall) {
    ++counters_.installs_skipped;
    log_->info("install skipped: {} is already on device {}", key, settings_.device_id);
    start_next_job();
    return;
  }
  CommandSpec spec;
  spec.command = render_template(settings_.install_cmd, template_values(nullptr));
  group_->install_log = (fs::path(settings_.workdir) / "logs" /
                         ("install-" + safe_name(group_->assign.org_id) + "-" +
                          safe_name(group_->assign.app_version_id) + "-" + safe_name(group_->assign.lease_id) + ".log"))
                            .string();
  spec.log_path = group_->install_log;
  spec.env = child_env(nullptr);
  spec.timeout = settings_.install_timeout;
  spec.kill_grace = settings_.kill_grace;
  installed_.erase(key);  // a reinstall that fails leaves the build in an unknown state
  ++counters_.installs_run;
  log_->info("install started: {} on device {}{}: {}", key, settings_.device_id,
             group_->assign.reinstall ? " (reinstall)" : "", spec.command);
  group_->installing = true;
  for (const auto& slot : group_->slots) send_progress(slot, JobStatus::installing);
  try {
    group_->command.emplace(spec);
  } catch (const std::system_error& e) {
    group_->command.reset();
    CommandOutcome failed;
    failed.exit_code = -1;
    log_->error("cannot start the install command: {}", e.what());
    std::ofstream(group_->install_log, std::ios::app) << "qg-worker: cannot start install: " << e.what() << "\n";
    finish_install(failed);
  }
}

void Worker::finish_install(const CommandOutcome& outcome) {
  group_->installing = false;
  group_->command.reset();
  auto key = build_key();
  if (outcome.kind == CommandOutcome::Kind::exited && outcome.exit_code == 0) {
    installed_.insert(key);
    save_installed();
    log_->info("install finished: {} on device {} in {} ms", key, settings_.device_id, outcome.duration_ms);
    start_next_job();
    return;
  }
  std::string why;
  switch (outcome.kind) {
    case CommandOutcome::Kind::timed_out:
      why = "install timed out after " + std::to_string(settings_.install_timeout.count() / 1000) + " s";
      break;
    case CommandOutcome::Kind::cancelled:
      why = "install cancelled";
      break;
    default:
      why = "install failed with exit code " + std::to_string(outcome.exit_code);
  }
  ++counters_.installs_failed;
  save_installed();
  log_->warn("{}: {} on device {}", why, key, settings_.device_id);
  auto tail = tail_file(group_->install_log, settings_.tail_lines, settings_.tail_bytes);
  for (std::size_t i = 0; i < group_->slots.size(); ++i) {
    if (group_->slots[i].state == SlotState::pending) finish_job(i, JobStatus::error, outcome.exit_code, 0, tail, why);
  }
  group_.reset();
}

void Worker::start_next_job() {
  if (!group_) return;
  if (aborting_) return;
  auto it = std::find_if(group_->slots.begin(), group_->slots.end(),
                         [](const Slot& s) { return s.state == SlotState::pending; });
  if (it == group_->slots.end()) {
    log_->info("group {} done", group_->assign.group_key);
    group_.reset();
    next_pull_ms_ = 0;
    return;
  }
  auto index = static_cast<std::size_t>(it - group_->slots.begin());
  auto& slot = *it;
  CommandSpec spec;
  spec.command = render_template(settings_.run_cmd, template_values(&slot));
  spec.log_path = slot.log_path;
  spec.env = child_env(&slot);
  spec.timeout = settings_.job_timeout;
  spec.kill_grace = settings_.kill_grace;
  slot.state = SlotState::running;
  group_->running = index;
  log_->info("job {} attempt {} started: {}", slot.job.job_id, slot.job.attempt, spec.command);
  send_progress(slot, JobStatus::running);
  try {
    group_->command.emplace(spec);
  } catch (const std::system_error& e) {
    group_->command.reset();
    group_->running.reset();
    log_->error("cannot start job {}: {}", slot.job.job_id, e.what());
    finish_job(index, JobStatus::error, -1, 0, {}, std::string("cannot start the test command: ") + e.what());
    start_next_job();
  }
}

void Worker::drive_group() {
  if (!group_ || !group_->command) return;
  auto outcome = group_->command->poll();
  if (!outcome) return;
  if (group_->installing) {
    finish_install(*outcome);
    return;
  }
  auto index = *group_->running;
  group_->running.reset();
  group_->command.reset();
  auto& slot = group_->slots[index];
  if (aborting_) {
    // Killed by the second stop request: the job goes back to the queue, it did not fail.
    slot.state = SlotState::released;
    return;
  }
  JobStatus status = JobStatus::passed;
  std::string error;
  switch (outcome->kind) {
    case CommandOutcome::Kind::exited:
      status = outcome->exit_code == 0 ? JobStatus::passed : JobStatus::failed;
      break;
    case CommandOutcome::Kind::signalled:
      status = JobStatus::failed;
      break;
    case CommandOutcome::Kind::timed_out:
      status = JobStatus::timed_out;
      error = "killed after the job timeout of " + std::to_string(settings_.job_timeout.count() / 1000) + " s";
      break;
    case CommandOutcome::Kind::cancelled:
      status = JobStatus::cancelled;
      error = "cancelled while running";
      break;
  }
  auto tail = tail_file(slot.log_path, settings_.tail_lines, settings_.tail_bytes);
  finish_job(index, status, outcome->exit_code, outcome->duration_ms, std::move(tail), std::move(error));
  start_next_job();
}

void Worker::finish_job(std::size_t index, JobStatus status, std::int32_t exit_code, std::int64_t duration_ms,
                        std::string log_tail, std::string error) {
  auto& slot = group_->slots[index];
  slot.state = SlotState::done;
  ++counters_.jobs_finished;
  PendingReport pending;
  auto& r = pending.report;
  r.rid = next_rid();
  r.worker_id = settings_.worker_id;
  r.lease_id = group_->assign.lease_id;
  r.job_id = slot.job.job_id;
  r.attempt = slot.job.attempt;
  r.status = status;
  r.exit_code = exit_code;
  r.duration_ms = duration_ms;
  r.log_tail = std::move(log_tail);
  r.error = std::move(error);
  log_->info("job {} attempt {} {} (exit {}, {} ms){}{}", r.job_id, r.attempt, proto::to_string(status), exit_code,
             duration_ms, r.error.empty() ? "" : ": ", r.error);
  publish_job_event(slot, status, r.error.empty() ? "exit " + std::to_string(exit_code) : r.error);
  bool sent = send(r);
  pending.next_send_ms = steady_ms() + (sent ? settings_.report_resend.count() : kSendRetryMs);
  reports_[{r.job_id, r.attempt}] = std::move(pending);
}

// ---------------------------------------------------------------------------------------
// Stopping

void Worker::begin_drain() {
  if (draining_) return;
  draining_ = true;
  drain_started_ms_ = steady_ms();
  log_->info("draining: finishing the running test, handing back the rest");
  if (!group_) return;
  std::vector<std::string> ids;
  for (auto& slot : group_->slots) {
    if (slot.state != SlotState::pending) continue;
    slot.state = SlotState::released;
    ids.push_back(slot.job.job_id);
  }
  send_release(group_->assign.lease_id, std::move(ids));
  if (group_->installing && group_->command) group_->command->cancel();
  if (group_->installing && !group_->command) group_.reset();
}

void Worker::abort_now() {
  if (aborting_) return;
  aborting_ = true;
  log_->warn("stopping now: killing the running test");
  if (!draining_) begin_drain();
  if (group_) {
    std::vector<std::string> ids;
    for (auto& slot : group_->slots) {
      if (slot.state != SlotState::pending && slot.state != SlotState::running) continue;
      slot.state = SlotState::released;
      ids.push_back(slot.job.job_id);
    }
    if (group_->command) {
      group_->command->kill_now();
      // SIGKILL cannot be ignored; reap it so nothing outlives us.
      group_->command->wait_for(std::chrono::milliseconds(2000));
    }
    send_release(group_->assign.lease_id, std::move(ids));
    group_.reset();
  }
}

// ---------------------------------------------------------------------------------------
// Timers and the loop

void Worker::timers() {
  auto now = steady_ms();
  if (!registered_ && now >= next_hello_ms_ && bye_rid_.empty()) {
    if (counters_.hellos_sent > 0) log_->debug("no answer to HELLO yet; sending again");
    send_hello();
  }
  if (now >= next_heartbeat_ms_) {
    send_heartbeat();
    next_heartbeat_ms_ = now + heartbeat_ms_;
  }
  if (registered_ && pull_outstanding_ &&
      now - pull_sent_ms_ > settings_.pull_wait.count() + settings_.reply_timeout.count()) {
    log_->warn("no answer to PULL for {} ms; the broker may have restarted; re-sending HELLO", now - pull_sent_ms_);
    send_hello();
  }
  if (registered_ && !group_ && !pull_outstanding_ && !draining_ && !aborting_ && now >= next_pull_ms_) send_pull();
  for (auto& [key, pending] : reports_) {
    if (now < pending.next_send_ms) continue;
    bool sent = send(pending.report);
    pending.next_send_ms = now + (sent ? settings_.report_resend.count() : kSendRetryMs);
  }
  for (auto& [rid, pending] : releases_) {
    if (now < pending.next_send_ms) continue;
    bool sent = send(pending.release);
    pending.next_send_ms = now + (sent ? settings_.report_resend.count() : kSendRetryMs);
  }
  if (draining_ && !group_ && bye_rid_.empty()) {
    bool settled = reports_.empty() && releases_.empty();
    bool overdue = settings_.drain_timeout.count() > 0 && now - drain_started_ms_ > settings_.drain_timeout.count();
    if (aborting_ || settled || overdue) {
      if (!settled) {
        log_->warn("leaving with {} unconfirmed report(s) and {} unanswered release(s)", reports_.size(),
                   releases_.size());
      }
      proto::Bye bye;
      bye.rid = bye_rid_ = next_rid();
      bye.worker_id = settings_.worker_id;
      send(bye);
      bye_sent_ms_ = now;
      if (aborting_) exit_code_ = 130;  // do not wait for anyone
    }
  }
  if (!bye_rid_.empty() && exit_code_ < 0 && now - bye_sent_ms_ > settings_.reply_timeout.count()) {
    log_->warn("no answer to BYE; leaving anyway");
    exit_code_ = 0;
  }
}

std::int64_t Worker::loop_wait_ms() const {
  // At most 100 ms, so that a stop requested from another thread (not a signal, which ends
  // the wait with EINTR) is seen promptly.
  const auto now = steady_ms();
  std::int64_t until = now + std::min<std::int64_t>(100, heartbeat_ms_);
  auto consider = [&](std::int64_t at) { until = std::min(until, at); };
  consider(next_heartbeat_ms_);
  if (!registered_ && bye_rid_.empty()) consider(next_hello_ms_);
  if (registered_ && !group_ && !pull_outstanding_ && !draining_ && !aborting_) consider(next_pull_ms_);
  for (const auto& [key, pending] : reports_) consider(pending.next_send_ms);
  for (const auto& [rid, pending] : releases_) consider(pending.next_send_ms);
  if (group_ && group_->command) {
    if (auto at = group_->command->next_deadline_ms()) consider(*at);
    // Without a pidfd the exit can only be noticed by looking.
    if (group_->command->exit_fd() < 0) consider(now + settings_.tick.count());
  }
  return std::max<std::int64_t>(until - now, 0);
}

int Worker::run() {
  open_sockets();
  log_->info("worker {} (device '{}', targets {}) connecting to {} / events {}", settings_.worker_id,
             settings_.device_id, settings_.targets.size(), settings_.broker, settings_.events);
  for (const auto& name : unknown_placeholders(settings_.run_cmd)) {
    log_->warn("--run-cmd has an unknown placeholder {{{}}} (left as it is)", name);
  }
  for (const auto& name : unknown_placeholders(settings_.install_cmd)) {
    log_->warn("--install-cmd has an unknown placeholder {{{}}} (left as it is)", name);
  }
  while (exit_code_ < 0) {
    auto stops = stop_requests_.load(std::memory_order_relaxed);
    if (stops > stops_seen_) {
      stops_seen_ = stops;
      if (stops >= 2) {
        abort_now();
      } else {
        begin_drain();
      }
    }
    drive_group();
    timers();
    if (exit_code_ >= 0) break;
    // One wait for everything: the broker's messages, the running command's exit (its pidfd)
    // and the next timer. A command's end is seen at once, so the next test starts without a
    // poll step in between.
    zmq::pollitem_t items[] = {{static_cast<void*>(*dealer_), 0, ZMQ_POLLIN, 0}, {nullptr, -1, ZMQ_POLLIN, 0}};
    int count = 1;
    if (group_ && group_->command && group_->command->exit_fd() >= 0) {
      items[1].fd = group_->command->exit_fd();
      count = 2;
    }
    try {
      zmq::poll(items, count, std::chrono::milliseconds(loop_wait_ms()));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    if ((items[0].revents & ZMQ_POLLIN) != 0) drain_socket();
  }
  log_->info("worker {} leaving (exit {}): {} job(s) run, {} install(s), {} skipped, {} released", settings_.worker_id,
             exit_code_, counters_.jobs_finished, counters_.installs_run, counters_.installs_skipped,
             counters_.jobs_released);
  dealer_.reset();
  pub_.reset();
  return exit_code_;
}

void Worker::load_installed() {
  std::ifstream in(fs::path(settings_.workdir) / "installed");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) installed_.insert(line);
  }
}

void Worker::save_installed() const {
  auto path = fs::path(settings_.workdir) / "installed";
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& key : installed_) out << key << "\n";
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) log_->warn("cannot save {}: {}", path.string(), ec.message());
}

}  // namespace qg::worker

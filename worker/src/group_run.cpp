// Running one assigned group on this device: install the build once (skipped when the device
// already has it and no reinstall was asked, or when there is no install command), then each
// test in order, each as its own process group with a timeout; every final result becomes a
// REPORT that the loop resends until the broker CONFIRMs it. A CANCEL stops the running test or
// finishes a queued one as cancelled. The builds the device has are kept in <workdir>/installed.
// Called only from the run() thread; the running command is polled by the loop in
// worker_loop.cpp, which calls drive_group() when it may have ended.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>

#include "broker_send.hpp"
#include "qg/common/clock.hpp"
#include "qg/proto/field_rules.hpp"
#include "qg/worker/command_template.hpp"
#include "qg/worker/log_tail.hpp"
#include "qg/worker/worker.hpp"

namespace qg::worker {

namespace fs = std::filesystem;
using proto::JobStatus;

namespace {

// A file-name-safe rendering of an id.
std::string safe_name(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '_' && c != '-') c = '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_";
  return out;
}

}  // namespace

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
  for (const auto& [k, v] : template_values(slot)) env[placeholder_env_name(k)] = v;
  env["QG_JOB_JOB_ID"] = env["QG_JOB_ID"];  // the name before QG_JOB_ID, still read by scripts
  env["QG_WORKER_ID"] = settings_.worker_id;
  return env;
}

// The broker validated these when they were submitted; they are checked again here because
// they are about to reach a command line and file names.
std::string Worker::refusal(const proto::Assign& assign) const {
  auto e = proto::check_org_id(assign.org_id);
  if (!e) e = proto::check_app_version_id(assign.app_version_id);
  if (!e) e = proto::check_id(assign.lease_id, "lease_id");
  return e ? e->field + " " + e->message : std::string();
}

std::string Worker::refusal(const proto::AssignedJob& job) const {
  auto e = proto::check_id(job.job_id, "job_id");
  if (!e) e = proto::check_test_path(job.test_path, "test_path");
  return e ? e->field + " " + e->message : std::string();
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

  const auto group_refusal = refusal(group_->assign);
  bool any_runnable = false;
  for (std::size_t i = 0; i < group_->slots.size(); ++i) {
    auto why = group_refusal.empty() ? refusal(group_->slots[i].job) : group_refusal;
    if (why.empty()) {
      any_runnable = true;
      continue;
    }
    log_->warn("job {} refused: {}", group_->slots[i].job.job_id, why);
    finish_job(i, JobStatus::error, -1, 0, {}, "refused to run the job: " + why);
  }
  if (!any_runnable) {
    start_next_job();  // nothing left: the group is done
    return;
  }

  auto key = build_key();
  if (install_cmd_.empty()) {
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
  spec.argv = install_cmd_.argv(template_values(nullptr));
  group_->install_log = (fs::path(settings_.workdir) / "logs" /
                         ("install-" + safe_name(group_->assign.org_id) + "-" +
                          safe_name(group_->assign.app_version_id) + "-" + safe_name(group_->assign.lease_id) + ".log"))
                            .string();
  spec.log_path = group_->install_log;
  spec.env = child_env(nullptr);
  spec.timeout = settings_.install_timeout;
  spec.kill_grace = settings_.kill_grace;
  spec.group_record = group_record_path();
  installed_.erase(key);  // a reinstall that fails leaves the build in an unknown state
  ++counters_.installs_run;
  log_->info("install started: {} on device {}{}: {}", key, settings_.device_id,
             group_->assign.reinstall ? " (reinstall)" : "", display_command(spec.argv));
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
  group_->install_ms = outcome.duration_ms;
  auto key = build_key();
  if (outcome.kind == CommandOutcome::Kind::exited && outcome.exit_code == 0) {
    installed_.insert(key);
    save_installed();
    log_->info("install finished: {} on device {} in {} ms", key, settings_.device_id, outcome.duration_ms);
    // The jobs behind the first are no longer installing: they wait their turn (assigned), or
    // they would show installing until each starts.
    bool first = true;
    for (const auto& slot : group_->slots) {
      if (slot.state != SlotState::pending) continue;
      if (!first) send_progress(slot, JobStatus::assigned);
      first = false;
    }
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
  auto tail = tail_file(group_->install_log, settings_.tail_lines, settings_.tail_bytes, mask_);
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
  spec.argv = run_cmd_.argv(template_values(&slot));
  spec.log_path = slot.log_path;
  spec.env = child_env(&slot);
  spec.timeout = settings_.job_timeout;
  spec.kill_grace = settings_.kill_grace;
  spec.group_record = group_record_path();
  slot.state = SlotState::running;
  group_->running = index;
  log_->info("job {} attempt {} started: {}", slot.job.job_id, slot.job.attempt, display_command(spec.argv));
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
  auto tail = tail_file(slot.log_path, settings_.tail_lines, settings_.tail_bytes, mask_);
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
  r.log_tail = std::move(log_tail);  // masked by tail_file() before it was cut
  r.error = mask_.apply(error);
  r.install_ms = std::exchange(group_->install_ms, std::nullopt);
  log_->info("job {} attempt {} {} (exit {}, {} ms){}{}", r.job_id, r.attempt, proto::to_string(status), exit_code,
             duration_ms, r.error.empty() ? "" : ": ", r.error);
  publish_job_event(slot, status, r.error.empty() ? "exit " + std::to_string(exit_code) : r.error);
  bool sent = send(r);
  pending.next_send_ms = steady_ms() + (sent ? settings_.report_resend.count() : kSendRetryMs);
  reports_[{r.job_id, r.attempt}] = std::move(pending);
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

// ---------------------------------------------------------------------------------------
// The builds on this device

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

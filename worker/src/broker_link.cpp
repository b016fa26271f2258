// The worker's side of the conversation with the broker: opening the DEALER and the event PUB,
// the messages the worker sends (HELLO, PULL, HEARTBEAT, RELEASE, PROGRESS and job events; a
// REPORT is built in group_run.cpp), and reading and dispatching what the broker sends back (its
// replies to HELLO, PULL, REPORT, RELEASE and BYE, a CANCEL, an ERROR). What happens to an
// assigned group lives in group_run.cpp; when each message goes out is decided by the loop in
// worker_loop.cpp.
#include <algorithm>
#include <cerrno>

#include "broker_send.hpp"
#include "qg/common/clock.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/worker/worker.hpp"

namespace qg::worker {

using proto::JobStatus;

namespace {

constexpr std::size_t kMaxFrames = 8;
constexpr std::size_t kMaxBytes = 8u << 20;

// CONFLICT on the worker port: another connection still holds this worker id on the broker
// (this worker's previous one, until the broker sees it is gone); resent, it goes through.
// STORE_FULL: Redis at maxmemory refused the write; resent, it goes through once memory is
// freed (results are not dropped).
bool retryable(const std::string& code) {
  return code == proto::errc::not_found || code == proto::errc::unavailable || code == proto::errc::internal ||
         code == proto::errc::conflict || code == proto::errc::store_full;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Sockets

void Worker::open_sockets() {
  dealer_.emplace(context_, zmq::socket_type::dealer);
  set_common_options(*dealer_, std::chrono::milliseconds(1000));
  set_zmq_heartbeats(*dealer_, std::chrono::milliseconds(heartbeat_ms_), std::chrono::milliseconds(heartbeat_ms_ * 3));
  // Queue only on a live connection: while the broker is away sends fail and are retried by
  // us, instead of a backlog of stale heartbeats and pulls arriving at a restarted broker.
  dealer_->set(zmq::sockopt::immediate, 1);
  // No routing id of our own: the broker's ROUTER names each connection, so no other
  // connection can take this worker's name at the socket level (the broker binds the worker id
  // in the messages to a connection itself).
  apply_curve(*dealer_, settings_.curve);
  dealer_->connect(settings_.broker);
  pub_.emplace(context_, zmq::socket_type::pub);
  set_common_options(*pub_, std::chrono::milliseconds(1000));
  set_zmq_heartbeats(*pub_, std::chrono::milliseconds(heartbeat_ms_), std::chrono::milliseconds(heartbeat_ms_ * 3));
  apply_curve(*pub_, settings_.curve);
  pub_->connect(settings_.events);
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
  event.org_seq = org_seqs_.next(event.org_id);
  event.test_path = slot.job.test_path;
  event.target = group_->assign.target;
  event.priority = slot.job.priority;
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
  } else if (command == proto::DrainRequested::command) {
    auto drain = proto::decode<proto::DrainRequested>(body);
    if (!drain) return bad(drain.error());
    log_->info("the broker asks this worker to drain and leave{}", drain->reason.empty() ? "" : ": " + drain->reason);
    begin_drain();
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

}  // namespace qg::worker

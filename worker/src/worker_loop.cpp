// The worker's event loop: one zmq::poll over the DEALER and the running command's pidfd, the
// timers that decide when HELLO, PULL, HEARTBEAT, resent REPORTs and RELEASEs and BYE go out,
// and stopping (drain on the first stop request, abort on the second). The messages themselves
// are built and read in broker_link.cpp; the group is run in group_run.cpp.
#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "broker_send.hpp"
#include "qg/common/clock.hpp"
#include "qg/common/errors.hpp"
#include "qg/proto/field_rules.hpp"
#include "qg/worker/command_template.hpp"
#include "qg/worker/log_prune.hpp"
#include "qg/worker/worker.hpp"

extern char** environ;

namespace qg::worker {

namespace fs = std::filesystem;

Worker::Worker(Settings settings, zmq::context_t& context, std::shared_ptr<spdlog::logger> logger, const Clock& clock)
    : settings_(std::move(settings)), context_(context), log_(std::move(logger)), clock_(clock) {
  if (!settings_.install_cmd.empty()) install_cmd_ = CommandTemplate(settings_.install_cmd, "--install-cmd");
  run_cmd_ = CommandTemplate(settings_.run_cmd, "--run-cmd");
  if (settings_.worker_id.empty()) throw ConfigError("worker id is empty");
  if (settings_.targets.empty()) throw ConfigError("no targets");
  if (auto e = proto::check_device_id(settings_.device_id)) throw ConfigError("--device-id " + e->message);
  auto patterns = settings_.default_masks ? default_mask_patterns() : std::vector<std::string>{};
  patterns.insert(patterns.end(), settings_.mask_env.begin(), settings_.mask_env.end());
  mask_ = SecretMask::from_environment(patterns, environ);
  std::error_code ec;
  fs::create_directories(fs::path(settings_.workdir) / "logs", ec);
  if (ec) throw ConfigError("cannot create workdir " + settings_.workdir + ": " + ec.message());
  // A predecessor on this workdir that died together with its test's guard left the test's
  // process group behind: it must not share the device with what this worker runs.
  if (auto pgid = kill_recorded_group(group_record_path())) {
    log_->warn("killed process group {}, left running by a previous worker on {}", *pgid, settings_.workdir);
  }
  heartbeat_ms_ = std::max<std::int64_t>(settings_.heartbeat.count(), 10);
  load_installed();
}

Worker::~Worker() = default;

std::string Worker::next_rid() { return ids_.next(clock_.now_ms()); }

std::string Worker::group_record_path() const { return (fs::path(settings_.workdir) / "running-group").string(); }

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
  if (settings_.log_retention && now >= next_log_prune_ms_) {
    // A bounded batch per round; the next round goes on at once while more are due.
    const auto logs = (std::filesystem::path(settings_.workdir) / "logs").string();
    const auto pruned = prune_logs(logs, *settings_.log_retention, clock_.now_ms(), 200);
    if (pruned.deleted > 0) log_->info("deleted {} log file(s) older than the log retention", pruned.deleted);
    next_log_prune_ms_ = now + (pruned.more ? 0 : 60'000);
  }
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

}  // namespace qg::worker

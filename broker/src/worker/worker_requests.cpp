// The worker side of the broker: the table of worker commands and the handler of each
// (HEARTBEAT, PULL, REPORT, PROGRESS, HELLO, RELEASE, BYE), and the worker records this
// broker keeps for `qgjob workers`. Every handler first admits the worker id its message names
// (worker_bindings.cpp): only that worker's connection may speak for it. PULLs and REPORTs are only queued here; they
// are applied in batches at the end of the loop round (pulls.cpp, reports.cpp). A new command is one row in
// kWorkerCommands and one handler.
#include <algorithm>
#include <string>
#include <vector>

#include "qg/common/errors.hpp"
#include "qg/common/zmq_util.hpp"
#include "registry/farm_view.hpp"
#include "routing.hpp"

namespace qg::broker {

namespace {

constexpr std::size_t kMaxReportBatch = 256;

}  // namespace

// Most frequent first: each message's row is found by comparing names in this order.
// reports_first: HELLO, RELEASE, BYE and anything unknown see every earlier report applied
// (a release must not requeue a job whose result is waiting in the batch). Heartbeats,
// reports, pulls and progress touch other jobs than the pending reports, so they let the
// batch grow: a pull may claim before this round's reports land, which changes nothing it
// reads.
// answers_failures: HEARTBEAT and PROGRESS have no reply, so their failures are not
// answered either.
const Broker::WorkerCommand Broker::kWorkerCommands[] = {
    // name, handler, reports_first, answers_failures
    {proto::Heartbeat::command, &Broker::handle_heartbeat, false, false},
    {proto::Report::command, &Broker::handle_report, false, true},
    {proto::Pull::command, &Broker::handle_pull, false, true},
    {proto::Progress::command, &Broker::handle_progress, false, false},
    {proto::Hello::command, &Broker::handle_hello, true, true},
    {proto::Release::command, &Broker::handle_release, true, true},
    {proto::Bye::command, &Broker::handle_bye, true, true},
};

bool Broker::on_worker_message() {
  auto request = receive_request(workers_, proto::kWorkerProtocol);
  if (!request) return false;
  ++counters_.worker_messages;
  if (request->rejected) return true;
  const auto* command = find_command(kWorkerCommands, request->envelope.command);
  const bool answered = command == nullptr || command->answers_failures;
  serve_guarded(workers_, proto::kWorkerProtocol, *request, answered, [&] { handle_worker(*request, command); });
  return true;
}

void Broker::handle_worker(const Request& request, const WorkerCommand* command) {
  const auto& envelope = request.envelope;
  const Incoming in{workers_, proto::kWorkerProtocol, request.identity, request.peer, envelope, clock_.now_ms()};
  if (command == nullptr || command->reports_first) flush_reports();
  if (command == nullptr) {
    reject(in, {std::string(proto::errc::unknown_command), "unknown worker command '" + envelope.command + "'", ""});
    return;
  }
  (this->*command->handle)(in);
}

void Broker::handle_heartbeat(const Incoming& in) {
  auto hb = decode<proto::Heartbeat>(in);
  if (!hb || !admit_worker(in, hb->worker_id, {})) return;
  note_worker(hb->worker_id);
  if (!hb->lease_id.empty()) renew_lease(hb->worker_id, hb->lease_id);
  auto& info = worker_records_[hb->worker_id].info;
  if (info.state != hb->state || info.lease_id != hb->lease_id || info.device_id != hb->device_id) {
    auto& changed = worker_record(hb->worker_id);
    changed.state = hb->state;
    changed.lease_id = hb->lease_id;
    changed.group_key = hb->group_key;
    if (!hb->device_id.empty()) changed.device_id = hb->device_id;
  }
}

void Broker::handle_pull(const Incoming& in) {
  auto pull = decode<proto::Pull>(in);
  if (!pull || !admit_worker(in, pull->worker_id, pull->rid)) return;
  note_worker(pull->worker_id);
  farm_->note_serving(pull->targets);
  if (!worker_records_[pull->worker_id].labels_known) recall_labels(pull->worker_id);
  {
    auto& info = worker_records_[pull->worker_id].info;
    if (info.installed != pull->installed || info.targets != pull->targets || info.state != "idle") {
      auto& changed = worker_record(pull->worker_id);
      changed.installed = pull->installed;
      changed.targets = pull->targets;
      changed.state = "idle";
      changed.lease_id.clear();
      changed.group_key.clear();
    }
  }
  // A pull from a worker replaces any pull it still had held or waiting in this round.
  std::erase_if(held_pulls_, [&](const HeldPull& held) { return held.identity == in.identity; });
  std::erase_if(pending_pulls_, [&](const HeldPull& p) { return p.identity == in.identity; });
  // Claimed with the rest of this round's pulls: one store round trip for all of them.
  auto wait = std::min<std::int64_t>(pull->wait_ms, settings_.max_pull_wait.count());
  pending_pulls_.push_back({in.identity, std::move(*pull), steady_ms() + wait});
}

void Broker::handle_report(const Incoming& in) {
  auto report = decode<proto::Report>(in);
  if (!report || !admit_worker(in, report->worker_id, report->rid)) return;
  note_worker(report->worker_id);
  renew_lease(report->worker_id, report->lease_id);
  // Confirmed after the store applied it, with the rest of this round's reports.
  pending_reports_.push_back({in.identity, std::move(*report)});
  if (pending_reports_.size() >= kMaxReportBatch) flush_reports();
}

void Broker::handle_progress(const Incoming& in) {
  auto progress = decode<proto::Progress>(in);
  if (!progress || !admit_worker(in, progress->worker_id, {})) return;
  note_worker(progress->worker_id);
  renew_lease(progress->worker_id, progress->lease_id);
  (void)store().progress(*progress, in.now);
}

void Broker::handle_hello(const Incoming& in) {
  auto hello = decode<proto::Hello>(in);
  if (!hello || !admit_worker(in, hello->worker_id, hello->rid)) return;
  note_worker(hello->worker_id);
  farm_->note_serving(hello->targets, hello->labels);
  auto& info = worker_record(hello->worker_id);
  info.device_id = hello->device_id;
  info.targets = hello->targets;
  info.labels = hello->labels;
  worker_records_[hello->worker_id].labels_known = true;
  info.installed = hello->installed;
  info.state = "idle";
  info.last_seen_ms = in.now;
  flush_worker_records(false);
  proto::HelloReply reply;
  reply.rid = hello->rid;
  reply.heartbeat_ms = static_cast<std::uint32_t>(settings_.heartbeat.count());
  reply.lease_ms = static_cast<std::uint32_t>(settings_.lease.count());
  reply_worker(in.identity, reply);
  proto::WorkerEvent joined;
  joined.worker_id = hello->worker_id;
  joined.state = "joined";
  joined.at_ms = in.now;
  events_->worker(std::move(joined));
  log_->info("worker {} joined (device {}, {} target(s), {} build(s) installed)", hello->worker_id, hello->device_id,
             hello->targets.size(), hello->installed.size());
}

void Broker::handle_release(const Incoming& in) {
  auto release = decode<proto::Release>(in);
  if (!release || !admit_worker(in, release->worker_id, release->rid)) return;
  auto released = store().release(release->worker_id, release->lease_id, release->job_ids, in.now);
  proto::ReleaseReply reply;
  reply.rid = release->rid;
  reply.released = released;
  reply_worker(in.identity, reply);
  if (released > 0) work_maybe_available_ = true;
  log_->info("worker {} released {} job(s) of lease {}", release->worker_id, released, release->lease_id);
}

void Broker::handle_bye(const Incoming& in) {
  auto bye = decode<proto::Bye>(in);
  if (!bye || !admit_worker(in, bye->worker_id, bye->rid)) return;
  std::erase_if(held_pulls_, [&](const HeldPull& held) { return held.identity == in.identity; });
  std::erase_if(pending_pulls_, [&](const HeldPull& p) { return p.identity == in.identity; });
  worker_bindings_.erase(bye->worker_id);
  worker_records_.erase(bye->worker_id);
  store().remove_worker(bye->worker_id);
  proto::ByeReply reply;
  reply.rid = bye->rid;
  reply_worker(in.identity, reply);
  proto::WorkerEvent left;
  left.worker_id = bye->worker_id;
  left.state = "left";
  left.at_ms = in.now;
  events_->worker(std::move(left));
  log_->info("worker {} left", bye->worker_id);
}

// A worker pulling from this broker without a HELLO to it (this broker restarted): its labels
// are those its registration left in the store (written by the broker that admitted its HELLO
// on its own connection), read once. Claims match them against requirements.
void Broker::recall_labels(const std::string& worker_id) {
  auto& record = worker_records_[worker_id];
  record.labels_known = true;
  for (const auto& w : store().workers()) {
    if (w.worker_id != worker_id || w.labels.empty()) continue;
    worker_record(worker_id).labels = w.labels;
    farm_->note_serving(w.targets, w.labels);
    log_->info("worker {} pulls without a HELLO to this broker: its labels are the registry's", worker_id);
    return;
  }
}

void Broker::note_worker(const std::string& worker_id) {
  auto& record = worker_records_[worker_id];
  record.info.worker_id = worker_id;
  record.info.last_seen_ms = clock_.now_ms();
  record.dirty = true;
}

proto::WorkerInfo& Broker::worker_record(const std::string& worker_id) {
  auto& record = worker_records_[worker_id];
  record.info.worker_id = worker_id;
  record.dirty = true;
  record.changed = true;
  worker_changes_pending_ = true;
  return record.info;
}

void Broker::flush_worker_records(bool all) {
  const auto now = clock_.now_ms();
  // Walking every record is O(workers): do it only when something changed or, for
  // last_seen alone, every 200 ms.
  if (!all && !worker_changes_pending_ && now < next_worker_flush_ms_) return;
  worker_changes_pending_ = false;
  next_worker_flush_ms_ = now + 200;
  for (auto& [id, record] : worker_records_) {
    if (!record.dirty) continue;
    if (!all && !record.changed && now - record.written_ms < 1000) continue;
    try {
      store().upsert_worker(record.info);
    } catch (const StoreUnavailable&) {
      ++counters_.store_unavailable;
      worker_changes_pending_ = true;
      return;
    } catch (const StoreFull&) {
      // Redis at maxmemory: the records stay dirty and are written at a later flush.
      return;
    }
    record.dirty = false;
    record.changed = false;
    record.written_ms = now;
  }
}

void Broker::send_cancel(const proto::Job& job) {
  auto it = worker_bindings_.find(job.worker_id);
  if (it == worker_bindings_.end()) {
    log_->warn(
        "job {} is held by worker {}, which is not connected to this broker: it cannot be stopped early; "
        "it ends cancelled when its worker reports (unless it passed) and is not retried",
        job.id, job.worker_id);
    return;
  }
  proto::CancelJob cancel;
  cancel.job_id = job.id;
  cancel.attempt = job.attempt;
  if (!send_routed(workers_, it->second.identity, proto::kWorkerProtocol, proto::CancelJob::command,
                   proto::encode(cancel))) {
    ++counters_.unroutable;
  }
}

}  // namespace qg::broker

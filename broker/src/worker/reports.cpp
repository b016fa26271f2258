// REPORTs, applied in batches: the round's reports (queued by handle_report) are applied with
// one store call (report_many, fenced by attempt and lease) and each is answered CONFIRM,
// accepted or not; a store failure is answered to every report of the batch, and the workers
// resend.
#include <string>
#include <vector>

#include "routing.hpp"

namespace qg::broker {

void Broker::flush_reports() {
  if (pending_reports_.empty()) return;
  auto batch = std::move(pending_reports_);
  pending_reports_.clear();
  const auto now = clock_.now_ms();
  std::vector<proto::Report> reports;
  reports.reserve(batch.size());
  for (const auto& p : batch) reports.push_back(p.report);
  std::vector<sched::ReportOutcome> outcomes;
  std::vector<BatchPeer> peers;
  for (const auto& p : batch) peers.push_back({&p.identity, &p.report.rid});
  // Workers resend reports; UNAVAILABLE tells them to back off first.
  if (!batch_store_call(workers_, proto::kWorkerProtocol, "REPORT", peers,
                        [&] { outcomes = store().report_many(reports, now, has_subscribers()); })) {
    return;
  }
  for (std::size_t i = 0; i < batch.size() && i < outcomes.size(); ++i) {
    const auto& report = batch[i].report;
    const auto& outcome = outcomes[i];
    proto::Confirm confirm;
    confirm.rid = report.rid;
    confirm.job_id = report.job_id;
    confirm.attempt = report.attempt;
    confirm.accepted = outcome.accepted;
    confirm.reason = outcome.reason;
    if (outcome.accepted) {
      ++counters_.reports_accepted;
      if (outcome.job && has_subscribers()) events_->job_status(*outcome.job, now);
      if (outcome.requeued) work_maybe_available_ = true;
    } else {
      ++counters_.reports_stale;
      log_->info("ignored report of job {} attempt {} from {}: {}", report.job_id, report.attempt, report.worker_id,
                 outcome.reason);
    }
    reply_worker(batch[i].identity, confirm);
  }
  // Device health changes only with an infrastructure failure, or a report from a worker
  // that was quarantined (its probe).
  bool health = false;
  for (std::size_t i = 0; i < batch.size() && i < outcomes.size(); ++i) {
    const auto& report = batch[i].report;
    if (outcomes[i].accepted && (report.status == proto::JobStatus::error || quarantined_.contains(report.worker_id))) {
      health = true;
    }
  }
  if (health) note_worker_health(now);
}

}  // namespace qg::broker

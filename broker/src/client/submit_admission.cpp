// Broker::admit(): the SUBMIT path's quota and rate check (client/admission.hpp), with the
// store's queued counts sampled when due, and the refusal's reply.
#include <exception>
#include <string>

#include "client/admission.hpp"
#include "qg/broker/broker.hpp"
#include "qg/common/clock.hpp"
#include "qg/proto/codec.hpp"

namespace qg::broker {

bool Broker::admit(const Incoming& in, const std::string& rid, const std::string& org, std::size_t jobs) {
  if (!admission_) return true;
  // Steady time: buckets and sampling bound costs and rates in real time, even under a test
  // clock (as the claim policy's sampling does).
  const auto now = steady_ms();
  if (admission_->sample_due(now)) {
    // Every submission admitted so far reaches the store first (in arrival order, as before
    // any other command), so the sample counts each of them once.
    flush_submits();
    try {
      admission_->sampled(store().queued_by_org(), now);
    } catch (const std::exception& e) {
      // Decided on the last estimates; the submit itself meets the outage, if it lasts.
      admission_->sample_failed(now);
      log_->debug("queued counts for quotas not read: {}", e.what());
    }
  }
  auto refused = admission_->admit(org, jobs, now);
  if (!refused) return true;
  ++(refused->code == proto::errc::quota_exceeded ? counters_.quota_refused : counters_.rate_refused);
  log_->debug("SUBMIT of {} job(s) for org {} refused: {} {}", jobs, org, refused->code, refused->message);
  proto::ErrorReply reply;
  reply.rid = rid;
  reply.error = std::move(*refused);
  if (!send_routed(in.socket, in.identity, in.protocol, proto::ErrorReply::command, proto::encode(reply))) {
    ++counters_.unroutable;
  }
  return false;
}

}  // namespace qg::broker

// Lease renewals: any traffic on a lease (heartbeats on either socket, reports, progress)
// renews it, at most once per renewal_interval_ms() since this broker last set its deadline;
// the renewals of a loop round go to the store together (flush_renewals). A claim sets the
// deadline a lease ahead (note_lease_deadline from send_assign).
#include <algorithm>
#include <string>
#include <vector>

#include "qg/broker/broker.hpp"
#include "qg/common/errors.hpp"

namespace qg::broker {

namespace {

constexpr std::size_t kMaxRenewalBatch = 1024;  // renewals per store round trip

}  // namespace

void Broker::renew_lease(const std::string& worker_id, const std::string& lease_id) {
  if (worker_id.empty() || lease_id.empty()) return;
  const auto now = clock_.now_ms();
  if (auto it = lease_renewed_ms_.find(lease_id);
      it != lease_renewed_ms_.end() && now - it->second < renewal_interval_ms()) {
    return;
  }
  pending_renewals_[worker_id] = lease_id;
}

void Broker::note_lease_deadline(const std::string& lease_id, std::int64_t now) {
  if (lease_renewed_ms_.size() >= lease_prune_at_) {
    // An entry older than a lease says nothing any more: that lease expired or needs renewing.
    std::erase_if(lease_renewed_ms_, [&](const auto& entry) { return now - entry.second >= settings_.lease.count(); });
    lease_prune_at_ = std::max<std::size_t>(1024, 2 * lease_renewed_ms_.size());
  }
  lease_renewed_ms_[lease_id] = now;
}

void Broker::flush_renewals() {
  if (pending_renewals_.empty()) return;
  const auto now = clock_.now_ms();
  // Renewals are coalesced per loop iteration (one per worker however many messages it
  // sent) and go out together: one store round trip per iteration, not one per lease.
  std::vector<sched::JobStore::LeaseRenewal> batch;
  auto end = pending_renewals_.begin();
  for (; end != pending_renewals_.end() && batch.size() < kMaxRenewalBatch; ++end) {
    batch.push_back({end->first, end->second});
  }
  std::vector<bool> renewed;
  try {
    renewed = store().renew_leases(batch, now);
  } catch (const StoreUnavailable&) {
    ++counters_.store_unavailable;
    return;  // kept for the next iteration
  }
  pending_renewals_.erase(pending_renewals_.begin(), end);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (i < renewed.size() && renewed[i]) {
      ++counters_.lease_renewals;
      note_lease_deadline(batch[i].lease_id, now);
    } else {
      lease_renewed_ms_.erase(batch[i].lease_id);
    }
  }
}

}  // namespace qg::broker

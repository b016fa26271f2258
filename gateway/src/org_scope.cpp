// An org caller's view of replies; the contract is in org_scope.hpp.
#include "org_scope.hpp"

#include <algorithm>

namespace qg::gateway {

namespace {

bool of_org(const std::string& build_or_group, const std::string& org_id) {
  return build_or_group.size() > org_id.size() && build_or_group.compare(0, org_id.size(), org_id) == 0 &&
         build_or_group[org_id.size()] == '/';
}

}  // namespace

void scope_queue(proto::QueueReply& reply, const Caller& caller) {
  if (caller.sees_every_org()) return;
  std::erase_if(reply.groups, [&](const proto::GroupInfo& g) { return g.org_id != caller.org_id; });
  reply.by_status.clear();
  reply.by_priority.clear();
}

void scope_workers(proto::WorkersReply& reply, const Caller& caller) {
  if (caller.sees_every_org()) return;
  for (auto& w : reply.workers) {
    if (!of_org(w.group_key, caller.org_id)) w.group_key.clear();
    std::erase_if(w.installed, [&](const std::string& build) { return !of_org(build, caller.org_id); });
  }
}

void scope_stats(proto::StatsReply& reply, const Caller& caller) {
  if (caller.sees_every_org()) return;
  std::map<std::string, std::uint64_t> own;
  if (auto it = reply.by_org.find(caller.org_id); it != reply.by_org.end()) own.insert(*it);
  reply.by_org = std::move(own);
  reply.by_status.clear();
  reply.jobs_per_sec = 0;
  reply.rejected_requests = 0;
  std::erase_if(reply.farm, [&](const proto::FarmStat& f) { return f.org_id != caller.org_id; });
}

void scope_health(proto::HealthReply& reply, const Caller& caller) {
  if (caller.sees_every_org()) return;
  reply.queue_depth = 0;
}

}  // namespace qg::gateway

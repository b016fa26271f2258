// RedisJobStore's device health: the quarantined workers (<p>quar, written by kReport and
// kClaim) and the operator's end of a quarantine.

#include <cstdlib>

#include "redis_job_store.hpp"

namespace qg::sched::redis {

std::map<std::string, std::int64_t> RedisJobStore::quarantined() {
  auto reply = conn_.command({"HGETALL", prefix_ + "quar"});
  if (reply.is_error()) throw_reply_error(reply.str());
  std::map<std::string, std::int64_t> out;
  const auto& fields = reply.array();
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    out[fields[i].str()] = std::strtoll(fields[i + 1].str().c_str(), nullptr, 10);
  }
  return out;
}

bool RedisJobStore::unquarantine(const std::string& worker_id) {
  // One round trip; the two hashes need not change together (a failure counted between them
  // is one more towards the next quarantine, as it would be after).
  auto replies = conn_.pipeline(
      {{"HDEL", prefix_ + "quar", worker_id}, {"HDEL", prefix_ + "whealth", worker_id, worker_id + ":l"}});
  for (const auto& r : replies) {
    if (r.is_error()) throw_reply_error(r.str());
  }
  return replies.at(0).integer() > 0;
}

}  // namespace qg::sched::redis

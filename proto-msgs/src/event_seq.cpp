// OrgSeqCounter (contract in qg/proto/event_seq.hpp).
#include "qg/proto/event_seq.hpp"

namespace qg::proto {

std::uint64_t OrgSeqCounter::next(std::string_view org_id) {
  if (auto it = counts_.find(org_id); it != counts_.end()) return ++it->second;
  if (counts_.size() >= kMaxOrgs) counts_.clear();
  counts_.emplace(std::string(org_id), 1);
  return 1;
}

}  // namespace qg::proto

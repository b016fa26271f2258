#pragma once
// The per-org sequence numbers of one source's JOB events (JobEvent::org_seq, docs/protocol.md
// 8.3). A subscriber to one org's topics (`job.<org_id>.`) sees only that org's events, so the
// source-wide `seq` jumps over the other orgs' events there; `org_seq` rises by one per event
// of the org and lets it tell a lost event from a filtered one.
//
// next(org) returns 1, 2, 3, ... per org. Memory is bounded: once kMaxOrgs orgs are counted,
// a further new org restarts every count at 1, which subscribers read as a restarted source.
// Not thread-safe: one owner thread, like the publisher it serves.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace qg::proto {

class OrgSeqCounter {
 public:
  static constexpr std::size_t kMaxOrgs = 65536;

  std::uint64_t next(std::string_view org_id);

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::uint64_t, Hash, std::equal_to<>> counts_;
};

}  // namespace qg::proto

// min_event_bytes(): the largest legitimate events, measured by encoding them with every field
// at its longest, so the event-size limit follows the protocol instead of a guess.
#include "qg/broker/event_limits.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "qg/proto/codec.hpp"
#include "qg/proto/field_rules.hpp"

namespace qg::broker {
namespace {

// The protocol's longest worker, job and lease id, org id and app version id
// (docs/protocol.md); every id the broker generates is 26 bytes.
constexpr std::size_t kLongestId = 128;
constexpr std::size_t kLongestOrgId = 64;
constexpr std::size_t kLongestAppVersionId = 128;
constexpr std::size_t kLongestTestPath = 1024;
// The longest message a worker writes into a job event: its own failure text, which may name
// the test command (a test path is at most kLongestTestPath bytes).
constexpr std::size_t kLongestEventMessage = 2048;

std::size_t event_bytes(std::size_t topic_bytes, std::string_view command, const std::string& body) {
  return topic_bytes + proto::kEventProtocol.size() + command.size() + body.size();
}

std::size_t largest_heartbeat(std::uint32_t jobs) {
  proto::Heartbeat hb;
  hb.worker_id.assign(kLongestId, 'w');
  hb.device_id.assign(kLongestId, 'd');
  hb.state = "draining";
  hb.lease_id.assign(kLongestId, 'l');
  // "<org>/<app>/<placement>": the target, then the longest requirements (every value byte
  // escaped as %XX: docs/protocol.md, GroupInfo `key`).
  hb.group_key = std::string(kLongestOrgId, 'o') + "/" + std::string(kLongestAppVersionId, 'a') + "/browserstack";
  for (std::size_t i = 0; i < proto::kMaxRequirements; ++i) {
    hb.group_key += i == 0 ? '?' : ',';
    hb.group_key +=
        std::string(proto::kMaxRequirementKeyBytes, 'k') + "=" + std::string(3 * proto::kMaxRequirementValueBytes, 'v');
  }
  hb.jobs.resize(jobs);
  for (auto& job : hb.jobs) {
    job.job_id.assign(kLongestId, 'j');
    job.attempt = std::numeric_limits<std::uint32_t>::max();
    job.status = proto::JobStatus::installing;
  }
  hb.seq = std::numeric_limits<std::uint64_t>::max();
  hb.sent_at_ms = std::numeric_limits<std::int64_t>::max();
  return event_bytes(3 + kLongestId, proto::Heartbeat::command, proto::encode(hb));
}

std::size_t largest_job_event() {
  proto::JobEvent event;
  event.source.assign(kLongestId, 's');
  event.seq = std::numeric_limits<std::uint64_t>::max();
  event.job_id.assign(kLongestId, 'j');
  event.org_id.assign(kLongestOrgId, 'o');
  event.app_version_id.assign(kLongestAppVersionId, 'a');
  event.attempt = std::numeric_limits<std::uint32_t>::max();
  event.status = proto::JobStatus::timed_out;
  event.worker_id.assign(kLongestId, 'w');
  event.message.assign(kLongestEventMessage, 'm');
  event.at_ms = std::numeric_limits<std::int64_t>::max();
  event.org_seq = std::numeric_limits<std::uint64_t>::max();
  event.test_path.assign(kLongestTestPath, 't');
  event.target = proto::Target::browserstack;
  event.priority = proto::Priority::medium;
  return event_bytes(4 + kLongestOrgId + 1 + kLongestId, proto::JobEvent::command, proto::encode(event));
}

}  // namespace

std::size_t min_event_bytes(std::uint32_t group_max) {
  return std::max(largest_heartbeat(group_max), largest_job_event());
}

}  // namespace qg::broker

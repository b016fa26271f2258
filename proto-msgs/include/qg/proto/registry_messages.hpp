#pragma once
// qgjob wire protocol v1: the messages of the farm's registry and its operators (draining and
// forgetting workers, the processes HEALTH lists). Part of messages.hpp, which includes it;
// docs/protocol.md is the normative description.

#include <cstdint>
#include <string>
#include <string_view>

namespace qg::proto {

// A broker or scheduler that announced itself recently.
struct ProcessInfo {
  std::string id;
  std::string host;
  std::int64_t pid = 0;
  std::int64_t started_at_ms = 0;  // unix epoch milliseconds
  std::int64_t expires_at_ms = 0;  // its announcement lapses then unless renewed
};
// An operator's request that a worker finish its running test, hand back the rest of its group
// and leave (as on SIGTERM). Served by the broker the worker is connected to.
struct DrainWorkerRequest {
  static constexpr std::string_view command = "DRAIN_WORKER";
  std::string rid;
  std::string worker_id;  // required
};
struct DrainWorkerReply {
  static constexpr std::string_view command = "DRAIN_WORKER";
  std::string rid;
  std::string worker_id;
};

// An operator's request that a worker no longer be listed as live: its record moves to the
// forgotten ones (WorkersRequest::all). Refused for a worker heard from recently.
struct ForgetWorkerRequest {
  static constexpr std::string_view command = "FORGET_WORKER";
  std::string rid;
  std::string worker_id;  // required
};
struct ForgetWorkerReply {
  static constexpr std::string_view command = "FORGET_WORKER";
  std::string rid;
  std::string worker_id;
};

// Broker -> worker: finish the running test, hand back the rest of the group, say BYE and
// exit (an operator's DRAIN_WORKER).
struct DrainRequested {
  static constexpr std::string_view command = "DRAIN";
  std::string reason;
};

}  // namespace qg::proto

#pragma once
// qgjob wire protocol v1: a job's place in the queue and when it is expected to finish, as
// STATUS answers them (docs/protocol.md, STATUS). Part of messages.hpp, which includes it.

#include <cstdint>
#include <optional>
#include <string>

namespace qg::proto {

struct JobEta {
  std::string job_id;
  // Queued jobs that go before it on its target's devices (0 once it is claimed).
  std::uint64_t queued_ahead = 0;
  // Milliseconds from the reply until it is expected to finish; absent while no live worker
  // serves its target.
  std::optional<std::int64_t> eta_ms;
};

}  // namespace qg::proto

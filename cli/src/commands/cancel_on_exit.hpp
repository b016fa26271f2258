#pragma once
// What `qgjob wait` (and `submit --wait`) does with the jobs it leaves behind when it ends early
// (its --timeout, SIGINT, SIGTERM): it cancels them, so an aborted CI run does not keep devices
// busy, and says what it cancelled. Private to the commands under src/commands/.

#include <chrono>
#include <ostream>
#include <vector>

#include "qg/cli/client.hpp"
#include "qg/proto/messages.hpp"

namespace qg::cli {

// Sends CANCEL for each of `unfinished` (one request per job: a build-wide cancel would also
// take other runs' jobs of the same build), each waiting at most `timeout` for its answer,
// and prints one line per job to `err`. Stops at the first request the broker does not
// answer and names the jobs it could not cancel. Returns the broker's answers, in order;
// never throws for a refused or unanswered request.
std::vector<proto::CancelResult> cancel_unfinished(Client& client, const std::vector<proto::Job>& unfinished,
                                                   std::chrono::milliseconds timeout, std::ostream& err);

}  // namespace qg::cli

#pragma once
// What the qgjob commands share: turning the client's exceptions into an exit code and one
// "qgjob: ..." line (guarded), the job table, and STATUS for any number of ids. Private to the
// commands under src/commands/; the exit codes are described in qg/cli/commands.hpp.

#include <chrono>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "qg/cli/client.hpp"
#include "qg/cli/commands.hpp"
#include "qg/proto/messages.hpp"

namespace qg::cli {

// Runs `body`, turning the client's exceptions into an exit code and one line on stderr.
int guarded(const GlobalConfig& g, Io io, const std::function<int()>& body);

// "org/app_version", the build a job belongs to.
std::string build_of(const proto::Job& j);

// The jobs as an aligned table, one row each. An ERROR column (the last error of jobs that did
// not pass, e.g. why a job is dead) is added when any job has one.
void print_jobs(std::ostream& out, const std::vector<proto::Job>& jobs);

// STATUS for any number of ids (batched); jobs in request order. Throws what Client::call throws.
proto::StatusReply fetch_status(Client& client, const std::vector<std::string>& ids, std::chrono::milliseconds timeout);
// "qgjob: no such job: ..." for the reply's missing ids, the expired ones apart ("deleted by
// retention").
void print_missing(std::ostream& err, const proto::StatusReply& reply);

// Requirements as `--require` takes them: `prefix` then "key=value,key=value"; "" for none.
std::string requirements_text(const std::map<std::string, std::string>& requirements, std::string_view prefix);

}  // namespace qg::cli

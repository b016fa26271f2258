#pragma once
// The pure parts of `qgjob wait`: when it is done, what it exits with, and sequence-gap
// detection on the event stream. No I/O, no clock.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "qg/proto/messages.hpp"

namespace qg::cli {

// Exit codes of every qgjob command (documented in `qgjob --help`).
namespace exit_code {
inline constexpr int ok = 0;  // all passed / request served
inline constexpr int failed =
    1;  // a job failed, timed out, errored, was cancelled or is dead; or the broker refused the request
inline constexpr int timeout = 2;      // wait's own --timeout ran out
inline constexpr int unreachable = 3;  // the broker did not answer, or the command line was wrong
inline constexpr int usage = 3;
// wait stopped by a signal: 130 for SIGINT, 143 for SIGTERM, as a shell reports it.
inline constexpr int signalled(int sig) { return 128 + sig; }
}  // namespace exit_code

bool all_final(const std::vector<proto::Job>& jobs);

// 0 when every job passed; 1 when every job is final and any did not pass; 2 when not all are
// final and `gave_up` (the wait timed out); -1 when not all are final and it has not given up.
int wait_exit_code(const std::vector<proto::Job>& jobs, bool gave_up);

// "3 passed, 1 failed, 1 running" in a fixed status order.
std::string summarize(const std::vector<proto::Job>& jobs);

// STATUS's estimates of the jobs not final as words: "12 queued ahead, about 4 min", "about
// 40 s left" (none queued ahead), "3 queued ahead, no estimate (no live worker for the
// target)". Empty when the reply has none (every job final, or a broker without estimates).
std::string eta_phrase(const proto::StatusReply& reply);
// A duration as eta_phrase writes it: "under 10 s", "40 s", "4 min", "2 h 5 min".
std::string about(std::int64_t ms);
// The STATUS replies of several batches as one: jobs, missing, expired and etas joined; the
// least queued_ahead; the latest eta_ms when every batch had one for its open jobs.
void join_status(proto::StatusReply& all, proto::StatusReply&& batch);

// Per-source sequence numbers of events. observe() returns true when events were missed
// since the last one seen from that source (the first event of a source is never a gap); it
// is truthful only for a subscriber to everything the source publishes (`job.` and
// `worker.`). observe_org() does the same with a JOB event's org_seq, per source and org: for
// a subscriber to one org's job topics (`job.<org>.`) or to every job topic (`job.`). An
// org_seq of 0 (a publisher that does not count per org) is never a gap.
class SeqTracker {
 public:
  bool observe(const std::string& source, std::uint64_t seq);
  bool observe_org(const std::string& source, const std::string& org_id, std::uint64_t org_seq);
  std::uint64_t gaps() const { return gaps_; }

 private:
  bool step(std::uint64_t& last, std::uint64_t seq);
  std::map<std::string, std::uint64_t> last_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> last_of_org_;
  std::uint64_t gaps_ = 0;
};

}  // namespace qg::cli

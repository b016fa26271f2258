// RedisJobStore: every multi-key transition is one Lua script (redis_scripts.hpp). The
// scripts are one function library, named by a hash of its text so that stores of different
// versions on one Redis each call their own; it is loaded with FUNCTION LOAD REPLACE and
// called with FCALL. When Redis no longer has it (a restart without persistence, a failover,
// FUNCTION FLUSH) it is loaded again and the call retried once. Reads that need no atomicity
// (get, list, stats) are pipelined. docs/architecture.md lists every key.
//
// Wakeups: scripts that make work claimable PUBLISH on "<prefix>wakeup". A second connection
// stays subscribed to it. wakeup_fd() is an epoll set holding that socket and a local
// eventfd, so the number stays the same across reconnects; after a resubscribe the eventfd
// is written once (wakeups may have been missed while disconnected).

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory_resource>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <msgpack.hpp>

#include "qg/common/clock.hpp"
#include "qg/common/ids.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/redis.hpp"
#include "qg/common/string_arena.hpp"
#include "redis_library.hpp"
#include "store_common.hpp"

namespace qg::sched {
namespace {

using proto::Job;
using proto::JobStatus;

std::int64_t to_i64(const std::string& s) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && ptr == s.data() + s.size()) return v;
  return static_cast<std::int64_t>(std::strtod(s.c_str(), nullptr));  // "1.7e+12" and the like
}

// A job as stored and as the scripts return it (redis_scripts.hpp): its spec, a msgpack array
// of kSpecFields written once at submit, and its state, a msgpack array of kStateFields,
// absent until the job's first transition (queued, attempt 0, updated at its creation).
enum SpecField : std::size_t {
  kSpecOrg,
  kSpecApp,
  kSpecTarget,
  kSpecPriority,
  kSpecPath,
  kSpecSubmission,
  kSpecCreated,
  kSpecRank,
  kSpecRetries,
  kSpecMaxAttempts,
  kSpecBudget,
  kSpecId,
  kSpecFields
};
enum StateField : std::size_t {
  kStateStatus,
  kStateAttempt,
  kStateUpdated,
  kStateWorker,
  kStateLease,
  kStateExit,
  kStateDuration,
  kStateError,
  kStateTail,
  kStateFlaky,
  kStateRetriesUsed,
  kStateFailures,
  kStateCancel,
  kStateMaxAttempts,  // 0: the spec's
  kStateFields
};

// Decodes a job from its spec and its state (nullopt: none yet). Throws StoreError for
// anything that is not one (the store wrote them, so this means another program wrote the
// keys).
Job decode_job(std::string_view spec_bytes, std::optional<std::string_view> state_bytes) {
  msgpack::zone zone;
  msgpack::object spec, state;
  const msgpack::unpack_limit limits(kStateFields, 0, 1 << 20, 0, 0, 4);
  auto unpack = [&](std::string_view bytes, std::size_t fields, const char* what) {
    std::size_t offset = 0;
    msgpack::object o;
    try {
      o = msgpack::unpack(zone, bytes.data(), bytes.size(), offset, nullptr, nullptr, limits);
    } catch (const std::exception& e) {
      throw StoreError(std::string("job ") + what + ": " + e.what());
    }
    if (o.type != msgpack::type::ARRAY || o.via.array.size != fields || offset != bytes.size()) {
      throw StoreError(std::string("job ") + what + ": not an array of " + std::to_string(fields) + " fields");
    }
    return o;
  };
  spec = unpack(spec_bytes, kSpecFields, "spec");
  if (state_bytes) state = unpack(*state_bytes, kStateFields, "state");
  auto str = [&](const msgpack::object& o, std::size_t i) -> std::string {
    if (o.type == msgpack::type::STR) return std::string(o.via.str.ptr, o.via.str.size);
    if (o.type == msgpack::type::BIN) return std::string(o.via.bin.ptr, o.via.bin.size);
    throw StoreError("job: field " + std::to_string(i) + " is not a string");
  };
  auto num = [&](const msgpack::object& o, std::size_t i) -> std::int64_t {
    switch (o.type) {
      case msgpack::type::POSITIVE_INTEGER:
        return static_cast<std::int64_t>(o.via.u64);
      case msgpack::type::NEGATIVE_INTEGER:
        return o.via.i64;
      case msgpack::type::FLOAT32:
      case msgpack::type::FLOAT64:
        return static_cast<std::int64_t>(o.via.f64);
      default:
        throw StoreError("job: field " + std::to_string(i) + " is not a number");
    }
  };
  const msgpack::object* sp = spec.via.array.ptr;
  auto spec_str = [&](SpecField i) { return str(sp[i], i); };
  auto spec_num = [&](SpecField i) { return num(sp[i], i); };
  auto count = [](std::int64_t v) { return static_cast<std::uint32_t>(std::max<std::int64_t>(0, v)); };
  Job j;
  j.id = spec_str(kSpecId);
  j.org_id = spec_str(kSpecOrg);
  j.app_version_id = spec_str(kSpecApp);
  j.target = proto::parse_target(spec_str(kSpecTarget)).value_or(proto::Target::emulator);
  j.priority = proto::parse_priority(spec_str(kSpecPriority)).value_or(proto::Priority::medium);
  j.test_path = spec_str(kSpecPath);
  j.submission_id = spec_str(kSpecSubmission);
  j.created_at_ms = spec_num(kSpecCreated);
  j.retries = count(spec_num(kSpecRetries));
  if (!state_bytes) {
    j.max_attempts = count(spec_num(kSpecMaxAttempts));
    j.status = JobStatus::queued;
    j.updated_at_ms = j.created_at_ms;
    return j;
  }
  const msgpack::object* st = state.via.array.ptr;
  auto state_str = [&](StateField i) { return str(st[i], std::size_t{kSpecFields} + i); };
  auto state_num = [&](StateField i) { return num(st[i], std::size_t{kSpecFields} + i); };
  const auto max_override = state_num(kStateMaxAttempts);
  j.max_attempts = count(max_override > 0 ? max_override : spec_num(kSpecMaxAttempts));
  j.status = proto::parse_status(state_str(kStateStatus)).value_or(JobStatus::queued);
  j.attempt = count(state_num(kStateAttempt));
  j.updated_at_ms = state_num(kStateUpdated);
  j.worker_id = state_str(kStateWorker);
  j.lease_id = state_str(kStateLease);
  j.exit_code = static_cast<std::int32_t>(state_num(kStateExit));
  j.duration_ms = state_num(kStateDuration);
  j.last_error = state_str(kStateError);
  j.log_tail = state_str(kStateTail);
  j.flaky = state_num(kStateFlaky) != 0;
  return j;
}

// A job as the scripts return it: two reply entries, its spec and its state (nil: none yet).
Job job_from_row(const RedisValue& spec, const RedisValue& state) {
  if (state.is_nil()) return decode_job(spec.str(), std::nullopt);
  return decode_job(spec.str(), state.str());
}

// msgpack-c's packer appends to a std::string through this.
struct PackTo {
  std::string* s;
  void write(const char* data, std::size_t n) { s->append(data, n); }
};
void pack_str(msgpack::packer<PackTo>& p, std::string_view v) {
  p.pack_str(static_cast<std::uint32_t>(v.size()));
  p.pack_str_body(v.data(), static_cast<std::uint32_t>(v.size()));
}

// Packs the specs of one submission's jobs as kSubmit stores them (the layout decode_job
// reads). The parts shared by every job of the submission are packed once.
class SpecPacker {
 public:
  SpecPacker(const NewSubmission& s, std::string_view target, std::string_view priority, std::uint32_t max_attempts,
             std::int64_t rank, std::int64_t now_ms)
      : rank_(rank) {
    // The fields before the test path, then (from split_) those between it and the id.
    PackTo to{&parts_};
    msgpack::packer<PackTo> p(to);
    p.pack_array(kSpecFields);
    pack_str(p, s.org_id);
    pack_str(p, s.app_version_id);
    pack_str(p, target);
    pack_str(p, priority);
    split_ = parts_.size();
    pack_str(p, s.submission_id);
    p.pack_int64(now_ms);
    p.pack_int64(rank);
    p.pack_uint32(s.retries);
    p.pack_uint32(max_attempts);
    p.pack_uint32(max_attempts);
  }

  std::string spec(std::string_view id, std::string_view path) const {
    std::string out;
    spec_into(out, id, path);
    return out;
  }
  // The same into `out` (replacing what it held, reusing its capacity).
  void spec_into(std::string& out, std::string_view id, std::string_view path) const {
    const std::string_view parts(parts_);
    out.clear();
    out.reserve(parts.size() + path.size() + id.size() + 10);
    out.append(parts.substr(0, split_));
    PackTo o{&out};
    msgpack::packer<PackTo> p(o);
    pack_str(p, path);
    out.append(parts.substr(split_));
    pack_str(p, id);
  }
  // The rank its specs carry (the submission's jobs share it).
  std::int64_t rank() const { return rank_; }

 private:
  std::string parts_;
  std::size_t split_ = 0;
  std::int64_t rank_ = 0;
};

std::map<std::string, std::uint64_t> positive_counts(const RedisValue& hash) {
  std::map<std::string, std::uint64_t> out;
  const auto& a = hash.array();
  for (std::size_t i = 0; i + 1 < a.size(); i += 2) {
    auto v = to_i64(a[i + 1].str());
    if (v > 0) out[a[i].str()] = static_cast<std::uint64_t>(v);
  }
  return out;
}


class RedisJobStore final : public JobStore {
  // A batch of send_submits(), until take_submits() hands it back.
  struct InFlightSubmits {
    std::vector<NewSubmission> subs;
    std::int64_t now_ms = 0;
    std::vector<std::size_t> sent;  // the submissions the script got (the others failed checks)
    std::vector<SubmitResult> out;
    std::vector<std::string> args;                       // kSubmit's, specs included: built when needed (full_args)
    std::string sentinel;                                // set: sent as MULTI, MSETNX, natives, kSubmitSent, EXEC
    std::vector<std::string_view> msetnx;                // its MSETNX from the sentinel on (plan_sent)
    std::vector<std::vector<std::string_view>> natives;  // its RPUSHes and HINCRBYs (plan_sent)
    std::vector<std::string_view> sent_fcall;            // kSubmitSent's whole FCALL, as first sent (plan_sent)
    StringArena sent_strings;                            // what msetnx and sent_fcall view beside subs
    std::size_t replies = 0;                             // deferred replies still to take
    RedisValue last;                                     // the last reply (EXEC's or the FCALL's)
    std::string lost;                                    // set when a reply was lost with the connection
  };

 public:
  RedisJobStore(const RedisAddress& address, const StoreSettings& settings, std::shared_ptr<spdlog::logger> logger)
      : settings_(settings),
        prefix_(settings.key_prefix),
        conn_(address, RedisOptions{}, logger),
        sub_(address, RedisOptions{}, logger),
        rng_(std::random_device{}()) {
    make_library();
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    event_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || event_fd_ < 0) throw Error("epoll/eventfd failed");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = event_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev);
    conn_.connect();
    load_scripts();
  }
  ~RedisJobStore() override {
    ::close(event_fd_);
    ::close(epoll_fd_);
  }
  RedisJobStore(const RedisJobStore&) = delete;
  RedisJobStore& operator=(const RedisJobStore&) = delete;

  SubmitOutcome submit(const NewSubmission& s, std::int64_t now_ms) override {
    auto results = submit_many(std::span<const NewSubmission>(&s, 1), now_ms);
    if (!results.at(0).outcome) throw StoreError("submit: " + results[0].error);
    return std::move(*results[0].outcome);
  }

  std::vector<SubmitResult> submit_many(std::span<const NewSubmission> subs, std::int64_t now_ms) override {
    std::vector<SubmitResult> out(subs.size());
    const auto sent = check_submissions(subs, out);
    if (sent.empty()) return out;
    parse_submits(eval(kSubmit, submit_args(subs, sent, now_ms)), subs, sent, out);
    return out;
  }

  // A batch goes out as MULTI, MSETNX (a sentinel and every spec), the list indexes' RPUSHes
  // and the org counts' HINCRBYs, kSubmitSent, EXEC: the specs, indexes and org counts are
  // written natively and the rest by writes the store works out (plan_sent), so that nothing
  // passes through Lua per submission. A batch that repeats a job id or an
  // idempotency key within itself goes as one kSubmit with the specs in its arguments,
  // which judges each submission after the ones before it.
  void send_submits(std::vector<NewSubmission> subs, std::int64_t now_ms) override {
    InFlightSubmits batch;
    batch.subs = std::move(subs);
    batch.now_ms = now_ms;
    batch.out.resize(batch.subs.size());
    batch.sent = check_submissions(batch.subs, batch.out);
    if (!batch.sent.empty()) {
      maybe_resubscribe();
      if (!loaded_) load_scripts();
      if (repeats_within(batch)) {
        const auto argv = fcall_argv(kSubmit, full_args(batch));
        conn_.send_deferred(argv);
        batch.replies = 1;
      } else {
        batch.sentinel = prefix_ + "sx:" + batch.subs[batch.sent.front()].submission_id;
        plan_sent(batch);
        static constexpr std::string_view kMulti[] = {"MULTI"}, kExec[] = {"EXEC"};
        std::vector<std::span<const std::string_view>> commands;
        commands.reserve(batch.natives.size() + 4);
        commands.emplace_back(kMulti);
        commands.emplace_back(batch.msetnx);
        for (const auto& native : batch.natives) commands.emplace_back(native);
        commands.emplace_back(batch.sent_fcall);
        commands.emplace_back(kExec);
        conn_.send_deferred(commands);
        batch.replies = commands.size();
      }
    }
    in_flight_.push_back(std::move(batch));
  }

  std::optional<SentSubmits> take_submits(bool wait) override {
    if (in_flight_.empty()) return std::nullopt;
    auto& batch = in_flight_.front();
    SentSubmits done;
    try {
      // Every reply of the batch (MULTI's OK and the QUEUEDs come first), the last kept.
      while (batch.replies > 0) {
        auto reply = conn_.take_deferred(wait);
        if (!reply) return std::nullopt;
        --batch.replies;
        if (!reply->value) {
          batch.lost = reply->lost;
        } else if (batch.replies == 0) {
          batch.last = std::move(*reply->value);
        }
      }
      if (!batch.lost.empty()) throw StoreUnavailable(batch.lost);
      if (!batch.sent.empty()) settle_sent(batch);
    } catch (const StoreUnavailable& e) {
      done.failure = SentSubmits::Failure::unavailable;
      done.error = e.what();
    } catch (const std::exception& e) {
      done.failure = SentSubmits::Failure::internal;
      done.error = e.what();
    }
    done.submissions = std::move(batch.subs);
    done.results = std::move(batch.out);
    in_flight_.pop_front();
    return done;
  }
  std::size_t submits_in_flight() const override { return in_flight_.size(); }

  int submits_fd() const override {
    if (in_flight_.empty() || in_flight_.front().replies == 0 || conn_.deferred_ready()) return -1;
    return conn_.fd();
  }

  SubmitAndClaim submit_and_claim(std::span<const NewSubmission> subs, std::span<const ClaimRequest> claims,
                                  std::int64_t now_ms) override {
    SubmitAndClaim out;
    out.submits.resize(subs.size());
    const auto sent = check_submissions(subs, out.submits);
    std::vector<std::pair<ScriptId, std::vector<std::string>>> calls;
    calls.emplace_back(kSubmit, submit_args(subs, sent, now_ms));
    if (sent.empty()) calls.clear();
    std::vector<std::string> lease_ids;
    for (const auto& c : claims) {
      lease_ids.push_back(lease_ids_.next(now_ms));
      auto args = claim_args(c, now_ms, lease_ids.back());
      if (calls.size() == 1 && calls.front().first == kSubmit) {
        // The first claim rides in the submit's call (kHandOff): its arguments from [5] on.
        calls.front().first = kHandOff;
        calls.front().second.insert(calls.front().second.end(), std::make_move_iterator(args.begin() + 4),
                                    std::make_move_iterator(args.end()));
      } else {
        calls.emplace_back(kClaim, std::move(args));
      }
    }
    auto replies = eval_pipeline(calls);
    std::size_t i = 0;
    std::size_t k = 0;
    std::vector<ClaimReply> claimed;
    if (!sent.empty()) {
      const auto& first = replies[i++];
      if (calls.front().first == kHandOff && !first.is_error() && !first.is_array()) {
        claimed.push_back(
            handed_off(subs[sent.front()], out.submits[sent.front()], claims[k].worker_id, lease_ids[k], now_ms));
        ++k;
      } else if (calls.front().first == kHandOff && !first.is_error()) {
        parse_submits(first[0], subs, sent, out.submits);
        claimed.push_back(parse_claim(first[1], lease_ids[k++]));
      } else {
        parse_submits(first, subs, sent, out.submits);
      }
    }
    for (; k < claims.size(); ++k) claimed.push_back(parse_claim(replies[i++], lease_ids[k]));
    if (sent.empty()) {
      out.claims = read_specs(std::move(claimed));
      return out;
    }
    // The submits are durable now and must be answered: a claim whose specs cannot be read
    // goes undelivered, and its lease expires and requeues its jobs.
    try {
      out.claims = read_specs(std::move(claimed));
    } catch (const Error&) {
      out.claims.assign(claims.size(), std::nullopt);
    }
    return out;
  }

  std::vector<std::optional<Job>> get(std::span<const std::string> job_ids) override {
    maybe_resubscribe();
    std::vector<std::optional<Job>> out;
    out.reserve(job_ids.size());
    constexpr std::size_t kChunk = 1000;
    std::vector<std::vector<std::string>> commands;
    for (std::size_t first = 0; first < job_ids.size(); first += kChunk) {
      std::vector<std::string> mget = {"MGET"};
      for (std::size_t i = first; i < std::min(job_ids.size(), first + kChunk); ++i) {
        mget.push_back(prefix_ + "j:" + job_ids[i]);
        mget.push_back(prefix_ + "st:" + job_ids[i]);
      }
      commands.push_back(std::move(mget));
    }
    for (const auto& reply : commands.empty() ? std::vector<RedisValue>{} : conn_.pipeline(commands)) {
      if (reply.is_error()) throw_reply_error(reply.str());
      const auto& a = reply.array();
      for (std::size_t i = 0; i + 1 < a.size(); i += 2) {
        if (a[i].is_nil()) {
          out.emplace_back();
        } else {
          out.emplace_back(job_from_row(a[i], a[i + 1]));
        }
      }
    }
    return out;
  }

  // The list indexes are lists with one member per submission, in submit order: "<job id>" for
  // a one-job submission, "<first job id>:<submission id>" for a suite, whose job ids are in
  // "s:<submission id>". A position is "<member's index from the head>|<jobs of it yielded>",
  // newest job first; indexes from the head stay valid as members are appended.
  ListPage list(const ListQuery& q) override {
    std::string key = prefix_ + "idx:all";
    auto choice = detail::choose_index(q);
    if (choice.kind == detail::IndexChoice::app) {
      key = prefix_ + "idx:app:" + q.org_id + ":" + q.app_version_id;
    } else if (choice.kind == detail::IndexChoice::org) {
      key = prefix_ + "idx:org:" + q.org_id;
    }
    auto fetch = [&](const std::string& after, std::size_t n) {
      std::vector<detail::IndexEntry> out;
      long long index = -1;
      long long yielded = 0;
      if (auto bar = after.find('|'); bar != std::string::npos) {
        index = std::atoll(after.c_str());
        yielded = std::max(0LL, std::atoll(after.c_str() + bar + 1));
      } else {
        index = conn_.command({"LLEN", key}).integer();  // one past the newest
      }
      // Appends up to n - out.size() jobs of member m (at index i) after its first `skip`;
      // true when m has no more.
      auto expand = [&](long long i, const std::string& m, long long skip) {
        const std::string pos = std::to_string(i) + "|";
        auto colon = m.find(':');
        if (colon == std::string::npos) {
          if (skip == 0) out.push_back({pos + "1", m});
          return true;
        }
        const auto want = static_cast<long long>(n - out.size());
        auto ids = conn_.command({"LRANGE", prefix_ + "s:" + m.substr(colon + 1), std::to_string(-(skip + want)),
                                  std::to_string(-(skip + 1))});
        const auto& a = ids.array();
        for (std::size_t k = a.size(); k-- > 0;) {
          out.push_back({pos + std::to_string(skip + static_cast<long long>(a.size() - k)), a[k].str()});
        }
        return static_cast<long long>(a.size()) < want;
      };
      if (yielded > 0 && index >= 0) {
        auto m = conn_.command({"LINDEX", key, std::to_string(index)});
        if (!m.is_nil() && !expand(index, m.str(), yielded)) return out;
      }
      while (out.size() < n && index > 0) {
        const long long from = std::max(0LL, index - static_cast<long long>(n - out.size()));
        auto members = conn_.command({"LRANGE", key, std::to_string(from), std::to_string(index - 1)});
        const auto& a = members.array();
        if (a.empty()) break;
        for (std::size_t k = a.size(); k-- > 0;) {
          index = from + static_cast<long long>(k);
          if (!expand(index, a[k].str(), 0) || out.size() >= n) return out;
        }
        index = from;
      }
      return out;
    };
    auto loader = [&](const std::vector<std::string>& ids) { return get(ids); };
    return detail::page_entries(q, fetch, loader);
  }

  proto::CancelResult cancel_job(const std::string& job_id, std::int64_t now_ms) override {
    auto args = base(now_ms);
    args.push_back("job");
    args.push_back(job_id);
    auto reply = eval(kCancel, args);
    return cancel_result(reply[0]);
  }

  std::vector<proto::CancelResult> cancel_build(const std::string& org_id, const std::string& app_version_id,
                                                std::int64_t now_ms) override {
    auto args = base(now_ms);
    args.push_back("build");
    args.push_back(org_id);
    args.push_back(app_version_id);
    auto reply = eval(kCancel, args);
    std::vector<proto::CancelResult> out;
    for (const auto& r : reply.array()) out.push_back(cancel_result(r));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.job_id < b.job_id; });
    return out;
  }

  std::optional<JobStatus> retry_dead(const std::string& job_id, std::int64_t now_ms) override {
    auto args = base(now_ms);
    args.push_back(job_id);
    auto reply = eval(kRetryDead, args);
    if (reply.is_nil()) return std::nullopt;
    return proto::parse_status(reply.str());
  }

  std::optional<Claim> claim_group(const ClaimRequest& request, std::int64_t now_ms) override {
    const std::string lease_id = lease_ids_.next(now_ms);
    std::vector<ClaimReply> replies;
    replies.push_back(parse_claim(eval(kClaim, claim_args(request, now_ms, lease_id)), lease_id));
    return std::move(read_specs(std::move(replies)).at(0));
  }

  ReportOutcome report(const proto::Report& r, std::int64_t now_ms) override {
    return std::move(report_many(std::span<const proto::Report>(&r, 1), now_ms, true).at(0));
  }

  std::vector<ReportOutcome> report_many(std::span<const proto::Report> reports, std::int64_t now_ms,
                                         bool with_jobs) override {
    std::vector<ReportOutcome> out;
    if (reports.empty()) return out;
    auto args = base(now_ms);
    args.reserve(args.size() + 6 + detail::kMaxDelaySlots);
    args.push_back(std::to_string(reports.size()));
    // Back-off delays only for a batch that may need them (an infrastructure error retried
    // later): each argument costs the script a Lua string, and the others none.
    const bool errors = std::ranges::any_of(reports, [](const auto& r) { return r.status == proto::JobStatus::error; });
    if (errors) {
      args.push_back(std::to_string(detail::kMaxDelaySlots));
      push_delays(args);
    } else {
      args.emplace_back("0");
    }
    auto packed = pack_reports(reports);
    args.push_back(std::move(packed.keys));
    args.push_back(std::move(packed.rest));
    args.emplace_back(with_jobs ? "1" : "0");
    args.emplace_back(packed.repeats ? "1" : "0");
    std::string now_packed;
    PackTo to{&now_packed};
    msgpack::packer<PackTo>(to).pack_int64(now_ms);
    args.push_back(std::move(now_packed));
    // The specs, which never change, are read beside the script in the same round trip, so
    // that the script handles only the small states.
    std::vector<std::vector<std::string>> reads;
    if (with_jobs) {
      auto& specs = reads.emplace_back(std::vector<std::string>{"MGET"});
      specs.reserve(1 + reports.size());
      for (const auto& r : reports) specs.push_back(prefix_ + "j:" + r.job_id);
    }
    auto replies = eval_pipeline({{kReport, std::move(args)}}, std::move(reads));
    const auto& reply = replies.at(0);
    if (reply.is_error()) throw_reply_error(reply.str());
    if (with_jobs && replies.at(1).is_error()) throw_reply_error(replies[1].str());
    out.reserve(reports.size());
    // Without the jobs: a digit per report, then the reasons of those refused (see kReport).
    const std::string codes = with_jobs ? std::string() : reply[0].str();
    if (!with_jobs && codes.size() != reports.size()) throw StoreError("report: reply of the wrong size");
    std::size_t refused = 0;
    for (std::size_t i = 0; i < reports.size(); ++i) {
      const auto code = with_jobs ? reply[2 * i].integer() : codes[i] - '0';
      ReportOutcome o;
      o.accepted = code != 0;
      if (!o.accepted) {
        o.reason = with_jobs ? reply[2 * i + 1].str() : reply[1 + refused++].str();
      } else {
        o.requeued = code == 2;
        if (with_jobs) o.job = job_from_row(replies[1].array().at(i), reply[2 * i + 1]);
      }
      out.push_back(std::move(o));
    }
    return out;
  }

  bool progress(const proto::Progress& p, std::int64_t now_ms) override {
    auto args = base(now_ms);
    args.push_back(p.job_id);
    args.push_back(p.lease_id);
    args.push_back(std::to_string(p.attempt));
    args.emplace_back(proto::to_string(p.status));
    return eval(kProgress, args).integer() == 1;
  }

  bool renew_lease(const std::string& worker_id, const std::string& lease_id, std::int64_t now_ms) override {
    return eval(kRenew, renew_args(worker_id, lease_id, now_ms)).integer() == 1;
  }

  std::vector<bool> renew_leases(std::span<const LeaseRenewal> renewals, std::int64_t now_ms) override {
    std::vector<std::pair<ScriptId, std::vector<std::string>>> calls;
    calls.reserve(renewals.size());
    for (const auto& r : renewals) calls.emplace_back(kRenew, renew_args(r.worker_id, r.lease_id, now_ms));
    std::vector<bool> out;
    out.reserve(renewals.size());
    for (const auto& reply : eval_pipeline(calls)) out.push_back(reply.integer() == 1);
    return out;
  }

  std::uint32_t release(const std::string& worker_id, const std::string& lease_id, std::span<const std::string> job_ids,
                        std::int64_t now_ms) override {
    auto args = base(now_ms);
    args.push_back(worker_id);
    args.push_back(lease_id);
    for (const auto& id : job_ids) args.push_back(id);
    return static_cast<std::uint32_t>(eval(kRelease, args).integer());
  }

  std::vector<ExpiredLease> expire_leases(std::int64_t now_ms, std::size_t max) override {
    maybe_resubscribe();
    std::vector<ExpiredLease> out;
    if (max == 0) return out;
    auto due = conn_.command(
        {"ZRANGEBYSCORE", prefix_ + "leases", "-inf", std::to_string(now_ms), "LIMIT", "0", std::to_string(max)});
    for (const auto& lease : due.array()) {
      auto args = base(now_ms);
      args.push_back(lease.str());
      push_delays(args);
      auto reply = eval(kExpire, args);
      if (reply.is_nil()) continue;  // renewed, or another scheduler expired it first
      ExpiredLease expired;
      expired.lease_id = lease.str();
      expired.worker_id = reply[0].str();
      for (std::size_t i = 1; i + 1 < reply.size(); i += 2) {
        expired.jobs.push_back(job_from_row(reply[i], reply[i + 1]));
      }
      out.push_back(std::move(expired));
    }
    return out;
  }

  std::size_t promote_due(std::int64_t now_ms, std::size_t max) override {
    auto args = base(now_ms);
    args.push_back(std::to_string(max));
    return static_cast<std::size_t>(eval(kPromote, args).integer());
  }

  std::optional<std::int64_t> next_due_ms() override {
    maybe_resubscribe();
    auto replies = conn_.pipeline({{"ZRANGE", prefix_ + "pending", "0", "0", "WITHSCORES"},
                                   {"ZRANGE", prefix_ + "delayed", "0", "0", "WITHSCORES"},
                                   {"ZRANGE", prefix_ + "leases", "0", "0", "WITHSCORES"}});
    std::optional<std::int64_t> due;
    for (const auto& r : replies) {
      if (r.is_error()) throw_reply_error(r.str());
      if (r.size() < 2) continue;
      auto t = to_i64(r[1].str());
      if (!due || t < *due) due = t;
    }
    return due;
  }

  QueuePage queue(const std::string& cursor, std::uint32_t limit, std::int64_t now_ms) override {
    long long phase = 0;
    long long offset = 0;
    if (auto colon = cursor.find(':'); colon != std::string::npos) {
      phase = std::clamp<long long>(std::atoll(cursor.substr(0, colon).c_str()), 0, 4);
      offset = std::max<long long>(0, std::atoll(cursor.c_str() + colon + 1));
    }
    limit = std::clamp<std::uint32_t>(limit, 1, 1000);
    auto args = base(now_ms);
    args.push_back(std::to_string(phase));
    args.push_back(std::to_string(offset));
    args.push_back(std::to_string(limit));
    for (auto t : {proto::Target::emulator, proto::Target::device, proto::Target::browserstack}) {
      args.emplace_back(proto::to_string(t));
    }
    auto reply = eval(kQueue, args);
    QueuePage page;
    if (reply[0].integer() >= 0) {
      page.next_cursor = std::to_string(reply[0].integer()) + ":" + std::to_string(reply[1].integer());
    }
    for (const auto& g : reply[2].array()) {
      proto::GroupInfo info;
      info.key = g[0].str();
      auto parts = detail::split_group_key(info.key);
      info.org_id = parts.org_id;
      info.app_version_id = parts.app_version_id;
      info.target = parts.target;
      info.claimable = g[1].integer() == 1;
      info.depth = static_cast<std::uint64_t>(g[2].integer());
      const long long head = g[3].integer();
      info.highest_priority =
          static_cast<proto::Priority>(std::clamp<long long>(2 - head / 10'000'000'000'000LL, 0, 2));
      info.oldest_age_ms = now_ms - g[4].integer();
      page.groups.push_back(std::move(info));
    }
    auto counts = conn_.pipeline({{"HGETALL", prefix_ + "counts"}, {"HGETALL", prefix_ + "qprio"}});
    page.by_status = positive_counts(counts[0]);
    page.by_priority = positive_counts(counts[1]);
    return page;
  }

  StatsSnapshot stats(std::int64_t now_ms) override {
    maybe_resubscribe();
    std::vector<std::string> mget = {"MGET"};
    const std::int64_t sec = now_ms / 1000;
    for (std::int64_t s = sec - detail::kRateWindowSec + 1; s <= sec; ++s) {
      mget.push_back(prefix_ + "fin:" + std::to_string(s));
    }
    auto replies = conn_.pipeline({{"HGETALL", prefix_ + "counts"}, {"HGETALL", prefix_ + "orgcounts"}, mget});
    for (const auto& r : replies) {
      if (r.is_error()) throw_reply_error(r.str());
    }
    StatsSnapshot snap;
    snap.by_status = positive_counts(replies[0]);
    snap.by_org = positive_counts(replies[1]);
    std::int64_t finished = 0;
    for (const auto& v : replies[2].array()) {
      if (!v.is_nil()) finished += to_i64(v.str());
    }
    snap.jobs_per_sec = static_cast<double>(finished) / static_cast<double>(detail::kRateWindowSec);
    return snap;
  }

  std::uint64_t queue_depth() override {
    maybe_resubscribe();
    auto v = conn_.command({"HGET", prefix_ + "counts", "queued"});
    if (v.is_nil()) return 0;
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, to_i64(v.str())));
  }

  void upsert_worker(const proto::WorkerInfo& worker) override {
    conn_.command({"HSET", prefix_ + "workers", worker.worker_id, detail::encode_worker(worker)});
  }
  void remove_worker(const std::string& worker_id) override { conn_.command({"HDEL", prefix_ + "workers", worker_id}); }
  std::vector<proto::WorkerInfo> workers() override {
    auto reply = conn_.command({"HVALS", prefix_ + "workers"});
    std::vector<proto::WorkerInfo> out;
    for (const auto& v : reply.array()) {
      proto::WorkerInfo w;
      if (detail::decode_worker(v.str(), w)) out.push_back(std::move(w));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.worker_id < b.worker_id; });
    return out;
  }

  bool ping() override {
    try {
      return conn_.command({"PING"}).str() == "PONG";
    } catch (const StoreUnavailable&) {
      return false;
    }
  }

  int wakeup_fd() override {
    want_wakeups();
    return epoll_fd_;
  }

  void drain_wakeups() override {
    want_wakeups();
    std::uint64_t value = 0;
    while (::read(event_fd_, &value, sizeof value) == static_cast<ssize_t>(sizeof value)) {
    }
    try {
      while (sub_.try_read()) {
      }
    } catch (const Error&) {
      // The subscriber dropped; its socket left the epoll set when it closed.
    }
    maybe_resubscribe();
  }

 private:
  // The function library every call of this store runs (redis_library.hpp).
  void make_library() {
    const FunctionLibrary& lib = function_library();
    library_ = lib.code;
    functions_ = lib.functions;
  }

  // The reports as kReport takes them: the jobs' state keys in one msgpack sequence, and per
  // report its other four values in another, the last the packed outcome (exit code,
  // duration, error text, log tail: the state's fields as a pass writes them, so a pass keeps
  // no error text); repeats: some job has more than one report in the batch.
  struct PackedReports {
    std::string keys, rest;
    bool repeats = false;
  };
  PackedReports pack_reports(std::span<const proto::Report> reports) const {
    PackedReports out;
    out.keys.reserve(reports.size() * (prefix_.size() + 32));
    out.rest.reserve(reports.size() * 80);
    PackTo kto{&out.keys};
    msgpack::packer<PackTo> k(kto);
    PackTo to{&out.rest};
    msgpack::packer<PackTo> p(to);
    std::string outcome;
    PackTo oto{&outcome};
    msgpack::packer<PackTo> o(oto);
    std::unordered_set<std::string_view> seen;
    seen.reserve(reports.size());
    std::string key = prefix_ + "st:";
    const auto base_size = key.size();
    for (const auto& r : reports) {
      if (!seen.insert(r.job_id).second) out.repeats = true;
      key.resize(base_size);
      key += r.job_id;
      pack_str(k, key);
      pack_str(p, r.lease_id);
      p.pack_uint32(r.attempt);
      pack_str(p, proto::to_string(r.status));
      outcome.clear();
      o.pack_int32(r.exit_code);
      o.pack_int64(r.duration_ms);
      pack_str(o, r.status == proto::JobStatus::passed ? std::string_view() : std::string_view(r.error));
      pack_str(o, r.log_tail);
      pack_str(p, outcome);
    }
    return out;
  }

  // The four arguments every script call begins with; `extra` is room for what the caller adds.
  std::vector<std::string> base(std::int64_t now_ms, std::size_t extra = 0) const {
    std::vector<std::string> args;
    args.reserve(4 + extra);
    args.push_back(prefix_);
    args.push_back(std::to_string(now_ms));
    args.push_back(group_max_arg_);
    args.push_back(group_window_arg_);
    return args;
  }

  void push_delays(std::vector<std::string>& args) {
    for (auto d : detail::backoff_table(settings_.backoff, rng_)) args.push_back(std::to_string(d));
  }

  void load_scripts() {
    conn_.command({"FUNCTION", "LOAD", "REPLACE", library_});
    loaded_ = true;
  }

  // The FCALL of a sent batch (kSubmitSent) sent again, after the batch's transaction: its
  // ARGV[6] tells the script so, for a refusal to find the native writes by value.
  static std::vector<std::string_view> sent_again_fcall(const InFlightSubmits& batch) {
    auto argv = batch.sent_fcall;
    argv[3 + 5] = "1";  // ARGV[6]
    return argv;
  }

  // A sent batch's MSETNX (batch.msetnx: the sentinel, its value and every (spec key, spec)
  // pair), its native writes (batch.natives: an RPUSH per list index, an HINCRBY per org) and
  // kSubmitSent's FCALL (batch.sent_fcall): every write of the batch worked out here, in
  // the script's layout (see there), so that Redis does no work per submission beyond them.
  // (group, band) pairs and lists keep the order in which the batch first names them,
  // entries keep submit order. All are views into the batch's submissions and into
  // batch.sent_strings (the keys, specs and counts made here), which stay in place while the
  // batch is moved. The plan's own tables live in one buffer on the stack (most batches fit).
  void plan_sent(InFlightSubmits& batch) const {
    auto& strings = batch.sent_strings;
    const auto keep = [&](std::string_view s) { return strings.keep(s); };
    const auto number = [&](auto v) {  // an integer in decimal
      char digits[24];
      return keep(std::string_view(digits, std::to_chars(digits, digits + sizeof digits, v).ptr));
    };
    alignas(std::max_align_t) std::byte stack[32 * 1024];
    std::pmr::monotonic_buffer_resource pool(stack, sizeof stack);
    // Segments ((group, band) pairs) and lists hold their items as chains through `next`
    // (one vector for the batch, not one per segment or list).
    struct Chain {
      std::size_t first = 0, last = 0, count = 0;
    };
    struct Item {
      std::string_view value;
      std::size_t next = 0;  // 0: none (item 0 is a placeholder)
    };
    std::pmr::vector<Item> items(1, &pool);
    const auto chain = [&](Chain& c, std::string_view v) {
      items.push_back({v, 0});
      const std::size_t at = items.size() - 1;
      if (c.count++ == 0) {
        c.first = at;
      } else {
        items[c.last].next = at;
      }
      c.last = at;
    };
    struct Segment {
      std::string_view list, rank;  // list: a group's band; rank: of its jobs (one org, band and time)
      Chain ids;
    };
    struct List {
      std::string_view key;
      Chain entries;
    };
    std::pmr::vector<std::string_view> idem(&pool);
    std::pmr::vector<Segment> segments(&pool);
    std::pmr::vector<List> lists(&pool);
    lists.push_back(List{strings.join({prefix_, "idx:all"}), {}});
    std::pmr::unordered_map<std::string_view, std::size_t> segment_at(&pool), list_at(&pool), org_at(&pool);
    std::pmr::vector<std::pair<std::string_view, std::size_t>> orgs(&pool);
    items.reserve(1 + 4 * batch.sent.size());
    segments.reserve(batch.sent.size());
    std::array<std::size_t, 3> per_band{};  // high, medium, low
    std::string scratch;
    const auto list = [&](std::initializer_list<std::string_view> parts) -> Chain& {
      scratch.assign(prefix_);
      for (auto p : parts) scratch.append(p);
      if (auto it = list_at.find(scratch); it != list_at.end()) return lists[it->second].entries;
      const auto key = keep(scratch);
      list_at.emplace(key, lists.size());
      return lists.emplace_back(List{key, {}}).entries;
    };
    const auto sentinel = keep(batch.sentinel);
    batch.msetnx = {"MSETNX", sentinel, "1"};
    for (auto k : batch.sent) {
      const auto& s = batch.subs[k];
      const std::size_t n = s.job_ids.size();
      if (!s.idempotency_key.empty()) {
        idem.push_back(strings.join({prefix_, "idem:", s.org_id, ":", s.idempotency_key}));
        idem.push_back(n == 1 ? strings.join({s.submission_id, " ", s.job_ids[0]}) : std::string_view(s.submission_id));
      }
      if (n == 0) continue;
      const auto packer = packer_of(s, batch.now_ms);
      for (std::size_t i = 0; i < n; ++i) {
        batch.msetnx.push_back(strings.join({prefix_, "j:", s.job_ids[i]}));
        packer.spec_into(scratch, s.job_ids[i], s.test_paths[i]);
        batch.msetnx.push_back(keep(scratch));
      }
      // The band's list of the job's group (qkey in the scripts).
      scratch.assign(prefix_).append("q:").append(s.org_id).append("/").append(s.app_version_id).append("/");
      scratch.append(proto::to_string(s.target)).append(":").append(proto::to_string(s.priority));
      auto seg = segment_at.find(scratch);
      if (seg == segment_at.end()) {
        const auto key = keep(scratch);
        seg = segment_at.emplace(key, segments.size()).first;
        const auto rank = number(packer.rank());
        segments.push_back(Segment{key, rank, {}});
      }
      for (const auto& id : s.job_ids) chain(segments[seg->second].ids, id);
      // The list indexes hold one entry per submission (see kSubmit).
      const std::string_view entry =
          n == 1 ? std::string_view(s.job_ids[0]) : strings.join({s.job_ids[0], ":", s.submission_id});
      chain(lists[0].entries, entry);
      chain(list({"idx:org:", s.org_id}), entry);
      chain(list({"idx:app:", s.org_id, ":", s.app_version_id}), entry);
      if (n > 1) {
        auto& members = list({"s:", s.submission_id});
        for (const auto& id : s.job_ids) chain(members, id);
      }
      auto [org, fresh] = org_at.try_emplace(s.org_id, orgs.size());
      if (fresh) orgs.emplace_back(s.org_id, 0);
      orgs[org->second].second += n;
      per_band[s.priority == proto::Priority::high ? 0 : s.priority == proto::Priority::medium ? 1 : 2] += n;
    }
    // The native writes, and the same packed for the script, which takes them back when it
    // refuses the batch.
    batch.natives.clear();
    batch.natives.reserve(lists.size() + orgs.size());
    std::string packed;
    PackTo to{&packed};
    msgpack::packer<PackTo> pk(to);
    const auto each = [&](const Chain& c, auto&& f) {
      for (std::size_t i = c.count > 0 ? c.first : 0; i != 0; i = items[i].next) f(items[i].value);
    };
    std::size_t pushed = 0;
    for (const auto& l : lists) pushed += l.entries.count > 0 ? 1 : 0;
    pk.pack_array(2);
    pk.pack_array(static_cast<std::uint32_t>(pushed));
    for (const auto& l : lists) {
      if (l.entries.count == 0) continue;  // idx:all of a batch of empty submissions
      auto& rpush = batch.natives.emplace_back();
      rpush.reserve(2 + l.entries.count);
      rpush.push_back("RPUSH");
      rpush.push_back(l.key);
      pk.pack_array(2);
      pack_str(pk, l.key);
      pk.pack_array(static_cast<std::uint32_t>(l.entries.count));
      each(l.entries, [&](std::string_view v) {
        rpush.push_back(v);
        pack_str(pk, v);
      });
    }
    pk.pack_array(static_cast<std::uint32_t>(orgs.size()));
    const auto org_counts = strings.join({prefix_, "orgcounts"});
    for (const auto& [org, jobs] : orgs) {
      batch.natives.push_back({"HINCRBY", org_counts, org, number(jobs)});
      pk.pack_array(2);
      pack_str(pk, org);
      pk.pack_uint64(jobs);
    }
    auto& out = batch.sent_fcall;
    out.clear();
    out.reserve(19 + idem.size() + 4 * segments.size() + items.size());
    out.insert(out.end(), {"FCALL", functions_[kSubmitSent], "0"});
    for (const auto& a : base(batch.now_ms)) out.push_back(keep(a));
    out.push_back(sentinel);
    out.push_back("0");  // ARGV[6]: how the script takes the native writes back (sent_again_fcall)
    out.push_back(keep(packed));
    out.push_back(number(idem.size() / 2));
    out.insert(out.end(), idem.begin(), idem.end());
    const auto emit = [&](const Chain& c) {
      out.push_back(number(c.count));
      each(c, [&](std::string_view v) { out.push_back(v); });
    };
    out.push_back(number(segments.size()));
    for (const auto& seg : segments) {
      out.push_back(seg.list);
      out.push_back(seg.rank);
      emit(seg.ids);
    }
    for (auto jobs : per_band) out.push_back(number(jobs));
  }

  // Reads a sent batch's results from its last reply (EXEC's, or the FCALL's), sending it
  // again when it did not run.
  void settle_sent(InFlightSubmits& batch) {
    const RedisValue* result = &batch.last;
    RedisValue again;
    bool specs_written = false;
    if (!batch.sentinel.empty()) {
      if (batch.last.is_error()) throw_reply_error(batch.last.str());  // EXECABORT: nothing ran
      specs_written = batch.last[0].integer() == 1;
      result = &batch.last[batch.last.size() - 1];
    }
    if (result->is_error() && is_missing_script(result->str())) {
      // The library went missing (restart, failover, FUNCTION FLUSH): the script did not run
      // (MSETNX and the native writes may have). Sent again now, after any call made since,
      // to find the native writes by value should it refuse the batch: each submission is
      // still applied once.
      load_scripts();
      const auto argv = sent_again_fcall(batch);
      again = conn_.command(std::span<const std::string_view>(argv));
      result = &again;
    }
    if (batch.sentinel.empty()) {
      parse_submits(*result, batch.subs, batch.sent, batch.out);
      return;
    }
    if (!specs_written || result->is_nil()) {
      // kSubmitSent wrote nothing: a job id was taken (MSETNX wrote nothing) or an
      // idempotency key is known. Sent again as kSubmit, which refuses only the submissions
      // concerned.
      parse_submits(eval(kSubmit, full_args(batch)), batch.subs, batch.sent, batch.out);
      return;
    }
    if (result->is_error()) throw_reply_error(result->str());
    for (auto k : batch.sent)
      batch.out[k].outcome = SubmitOutcome{batch.subs[k].submission_id, batch.subs[k].job_ids, false};
  }

  std::vector<std::string_view> fcall_argv(ScriptId id, const std::vector<std::string>& args) const {
    std::vector<std::string_view> argv;
    argv.reserve(args.size() + 3);
    argv.emplace_back("FCALL");
    argv.emplace_back(functions_[id]);
    argv.emplace_back("0");
    for (const auto& a : args) argv.emplace_back(a);
    return argv;
  }

  RedisValue eval(ScriptId id, const std::vector<std::string>& args) {
    maybe_resubscribe();
    auto call = [&] {
      const auto argv = fcall_argv(id, args);
      return conn_.command(std::span<const std::string_view>(argv));
    };
    if (!loaded_) load_scripts();
    try {
      return call();
    } catch (const RedisNoScript&) {
      load_scripts();
      return call();
    }
  }

  // The submissions the store can send (their positions); the others get their error.
  static std::vector<std::size_t> check_submissions(std::span<const NewSubmission> subs,
                                                    std::vector<SubmitResult>& out) {
    std::vector<std::size_t> sent;
    sent.reserve(subs.size());
    for (std::size_t k = 0; k < subs.size(); ++k) {
      if (subs[k].job_ids.size() != subs[k].test_paths.size()) {
        out[k].error = "submit: job_ids and test_paths differ in size";
      } else {
        sent.push_back(k);
      }
    }
    return sent;
  }

  // Whether a batch names a job id, or an org's idempotency key, twice.
  static bool repeats_within(const InFlightSubmits& batch) {
    std::vector<std::string_view> ids;
    std::vector<std::pair<std::string_view, std::string_view>> keys;
    for (auto k : batch.sent) {
      const auto& s = batch.subs[k];
      ids.insert(ids.end(), s.job_ids.begin(), s.job_ids.end());
      if (!s.idempotency_key.empty()) keys.emplace_back(s.org_id, s.idempotency_key);
    }
    std::sort(ids.begin(), ids.end());
    std::sort(keys.begin(), keys.end());
    return std::adjacent_find(ids.begin(), ids.end()) != ids.end() ||
           std::adjacent_find(keys.begin(), keys.end()) != keys.end();
  }

  // The packer of a submission's specs. They are packed here, not in Lua, where building
  // them cost Redis more than writing them.
  SpecPacker packer_of(const NewSubmission& s, std::int64_t now_ms) const {
    const std::uint32_t max_attempts = detail::max_attempts_of(s, settings_);
    return SpecPacker(s, proto::to_string(s.target), proto::to_string(s.priority), max_attempts,
                      detail::rank_base(settings_, s.org_id, s.priority, now_ms), now_ms);
  }

  // kSubmit's arguments for the submissions at `sent`.
  std::vector<std::string> submit_args(std::span<const NewSubmission> subs, const std::vector<std::size_t>& sent,
                                       std::int64_t now_ms) const {
    std::size_t words = 2;
    for (auto k : sent) words += 7 + 3 * subs[k].job_ids.size();
    auto args = base(now_ms, words);
    args.emplace_back();  // unused
    args.push_back(std::to_string(sent.size()));
    for (auto k : sent) {
      const auto& s = subs[k];
      args.push_back(s.org_id);
      args.push_back(s.app_version_id);
      args.emplace_back(proto::to_string(s.target));
      args.emplace_back(proto::to_string(s.priority));
      args.push_back(s.submission_id);
      args.push_back(s.idempotency_key);
      args.push_back(std::to_string(s.job_ids.size()));
      // Per job its key and its spec, then the job ids.
      const auto packer = packer_of(s, now_ms);
      for (std::size_t i = 0; i < s.job_ids.size(); ++i) {
        args.push_back(prefix_ + "j:" + s.job_ids[i]);
        args.push_back(packer.spec(s.job_ids[i], s.test_paths[i]));
      }
      args.insert(args.end(), s.job_ids.begin(), s.job_ids.end());
    }
    return args;
  }

  // A sent batch's kSubmit arguments, built the first time they are needed.
  const std::vector<std::string>& full_args(InFlightSubmits& batch) const {
    if (batch.args.empty()) batch.args = submit_args(batch.subs, batch.sent, batch.now_ms);
    return batch.args;
  }

  static void parse_submits(const RedisValue& reply, std::span<const NewSubmission> subs,
                            const std::vector<std::size_t>& sent, std::vector<SubmitResult>& out) {
    if (reply.is_error()) throw_reply_error(reply.str());
    for (std::size_t i = 0; i < sent.size(); ++i) parse_submit_entry(reply[i], subs[sent[i]], out[sent[i]]);
  }

  static void parse_submit_entry(const RedisValue& r, const NewSubmission& s, SubmitResult& result) {
    const auto kind = r[0].integer();
    if (kind == 2) {
      result.error = r[1].str();
      return;
    }
    SubmitOutcome o;
    o.submission_id = r[1].str();
    if (kind == 1) {
      o.duplicate = true;
      for (const auto& id : r[2].array()) o.job_ids.push_back(id.str());
    } else {
      o.job_ids = s.job_ids;
    }
    result.outcome = std::move(o);
  }

  std::vector<std::string> claim_args(const ClaimRequest& request, std::int64_t now_ms,
                                      const std::string& lease_id) const {
    auto args = base(now_ms, 9 + request.targets.size() + request.installed.size());
    args.push_back(lease_id);
    args.push_back(request.worker_id);
    args.push_back(lease_arg_);
    args.push_back(affinity_slack_arg_);
    args.push_back(candidates_arg_);
    args.push_back(std::to_string(request.max_jobs));
    args.push_back(std::to_string(request.targets.size()));
    for (auto t : request.targets) args.emplace_back(proto::to_string(t));
    args.push_back(std::to_string(request.installed.size()));
    for (const auto& i : request.installed) args.push_back(i);
    args.push_back(assigned_state(now_ms, request.worker_id, lease_id));
    return args;
  }

  // The state a claim gives every job it takes that was never claimed before (kClaim's
  // ASSIGNED1), packed as cmsgpack packs it (each value in its smallest form), so that the
  // script need not pack it.
  static std::string assigned_state(std::int64_t now_ms, std::string_view worker, std::string_view lease_id) {
    std::string out;
    out.reserve(48 + worker.size() + lease_id.size());
    PackTo to{&out};
    msgpack::packer<PackTo> p(to);
    p.pack_array(kStateFields);
    pack_str(p, "assigned");
    p.pack_uint32(1);
    p.pack_int64(now_ms);
    pack_str(p, worker);
    pack_str(p, lease_id);
    p.pack_uint32(0);                              // exit code
    p.pack_uint32(0);                              // duration
    pack_str(p, "");                               // error
    pack_str(p, "");                               // log tail
    for (int i = 0; i < 5; ++i) p.pack_uint32(0);  // flaky, retries used, failures, cancel, attempt limit
    return out;
  }

  // A claim script's reply (kClaim, kHandOff), its jobs decoded once read_specs() has the
  // specs of those the reply names by id.
  struct ClaimReply {
    std::optional<Claim> claim;       // nullopt: nothing claimed
    std::vector<std::string> ids;     // the jobs in order, when the reply names them by id
    std::vector<std::string> states;  // their states
  };

  // A hand-off (kHandOff's direct path): submission s written, its jobs under the lease with
  // the state assigned_state(now_ms, worker, lease_id), which the script wrote as sent (its
  // reply is only 1). The jobs are built from what the store sent rather than packed and decoded
  // again (that round trip was a tenth of the broker's work on an idle submission); the store
  // contract compares them field by field with what get() reads back.
  ClaimReply handed_off(const NewSubmission& s, SubmitResult& result, const std::string& worker,
                        const std::string& lease_id, std::int64_t now_ms) const {
    result.outcome = SubmitOutcome{s.submission_id, s.job_ids, false};
    ClaimReply out;
    Claim claim;
    claim.lease_id = lease_id;
    claim.org_id = s.org_id;
    claim.app_version_id = s.app_version_id;
    claim.target = s.target;
    claim.group_key = detail::group_key(s.org_id, s.app_version_id, s.target);
    const std::uint32_t max_attempts = detail::max_attempts_of(s, settings_);
    claim.jobs.reserve(s.job_ids.size());
    for (std::size_t i = 0; i < s.job_ids.size(); ++i) {
      Job& j = claim.jobs.emplace_back(detail::new_job(s, i, max_attempts, now_ms));
      j.status = JobStatus::assigned;
      j.attempt = 1;
      j.worker_id = worker;
      j.lease_id = lease_id;
    }
    out.claim = std::move(claim);
    return out;
  }

  static ClaimReply parse_claim(const RedisValue& reply, const std::string& lease_id) {
    if (reply.is_error()) throw_reply_error(reply.str());
    ClaimReply out;
    if (reply.is_nil()) return out;
    Claim claim;
    claim.lease_id = lease_id;
    claim.group_key = reply[0].str();
    auto parts = detail::split_group_key(claim.group_key);
    claim.org_id = parts.org_id;
    claim.app_version_id = parts.app_version_id;
    claim.target = parts.target;
    // One state for every job never claimed before, the ids, then the states of the others
    // by place (kClaim).
    const auto& fresh_state = reply[1].str();
    const auto n = static_cast<std::size_t>(reply[2].integer());
    if (reply.size() < 3 + n) throw StoreError("claim: reply of the wrong size");
    for (std::size_t i = 0; i < n; ++i) {
      out.ids.push_back(reply[3 + i].str());
      out.states.push_back(fresh_state);
    }
    for (std::size_t i = 3 + n; i + 1 < reply.size(); i += 2) {
      const auto place = reply[i].integer();
      if (place < 1 || static_cast<std::size_t>(place) > n) throw StoreError("claim: a state for no job");
      out.states[static_cast<std::size_t>(place) - 1] = reply[i + 1].str();
    }
    out.claim = std::move(claim);
    return out;
  }

  // Reads the specs of the jobs the replies name by id (one round trip for all) and returns
  // the claims.
  std::vector<std::optional<Claim>> read_specs(std::vector<ClaimReply> replies) {
    constexpr std::size_t kChunk = 1000;
    std::vector<std::vector<std::string>> commands;
    std::size_t in_chunk = kChunk;
    for (const auto& r : replies) {
      for (const auto& id : r.ids) {
        if (in_chunk == kChunk) {
          commands.push_back({"MGET"});
          in_chunk = 0;
        }
        commands.back().push_back(prefix_ + "j:" + id);
        ++in_chunk;
      }
    }
    std::vector<RedisValue> specs;
    if (!commands.empty()) {
      for (auto& reply : conn_.pipeline(commands)) {
        if (reply.is_error()) throw_reply_error(reply.str());
        for (const auto& v : reply.array()) specs.push_back(v);
      }
    }
    std::vector<std::optional<Claim>> out;
    out.reserve(replies.size());
    std::size_t next = 0;
    for (auto& r : replies) {
      for (std::size_t k = 0; k < r.ids.size(); ++k, ++next) {
        const auto& spec = specs.at(next);
        if (spec.is_nil()) throw StoreError("claimed job " + r.ids[k] + " has no spec");
        r.claim->jobs.push_back(decode_job(spec.str(), r.states[k]));
      }
      out.push_back(std::move(r.claim));
    }
    return out;
  }

  std::vector<std::string> renew_args(const std::string& worker_id, const std::string& lease_id, std::int64_t now_ms) {
    auto args = base(now_ms);
    args.push_back(worker_id);
    args.push_back(lease_id);
    args.push_back(std::to_string(settings_.lease.count()));
    return args;
  }

  // Several script calls in one round trip. A call refused because Redis no longer has the
  // library did not run: the library is loaded again and those calls are made again, in order. plain: commands without
  // a script, sent after the calls in the same round trip; their replies follow the calls'.
  std::vector<RedisValue> eval_pipeline(const std::vector<std::pair<ScriptId, std::vector<std::string>>>& calls,
                                        std::vector<std::vector<std::string>> plain = {}) {
    maybe_resubscribe();
    if (calls.empty()) return plain.empty() ? std::vector<RedisValue>{} : conn_.pipeline(plain);
    if (!loaded_) load_scripts();
    // Every command as views of the arguments it is sent with (nothing copied): an FCALL's
    // name and key count, then the call's own arguments.
    std::size_t words = 0;
    for (const auto& c : calls) words += c.second.size() + 3;
    for (const auto& p : plain) words += p.size();
    std::vector<std::string_view> argv;
    argv.reserve(words);
    std::vector<std::span<const std::string_view>> commands;
    commands.reserve(calls.size() + plain.size());
    const auto add = [&](auto&& fill) {
      const std::size_t first = argv.size();
      fill();
      commands.emplace_back(argv.data() + first, argv.size() - first);
    };
    for (const auto& c : calls) {
      add([&] {
        argv.insert(argv.end(), {"FCALL", functions_[c.first], "0"});
        argv.insert(argv.end(), c.second.begin(), c.second.end());
      });
    }
    for (const auto& p : plain) add([&] { argv.insert(argv.end(), p.begin(), p.end()); });
    auto replies = conn_.pipeline(std::span<const std::span<const std::string_view>>(commands));
    bool reloaded = false;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (!replies[i].is_error() || !is_missing_script(replies[i].str())) continue;
      if (!reloaded) {
        load_scripts();
        reloaded = true;
      }
      replies[i] = eval(calls[i].first, calls[i].second);
    }
    return replies;
  }

  static proto::CancelResult cancel_result(const RedisValue& v) {
    proto::CancelResult r;
    r.job_id = v[0].str();
    r.outcome = v[1].str();
    r.status = proto::parse_status(v[2].str()).value_or(JobStatus::cancelled);
    return r;
  }

  void subscribe() {
    sub_.send({"SUBSCRIBE", prefix_ + "wakeup"});
    sub_.read();  // the subscribe confirmation
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = sub_.fd();
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, sub_.fd(), &ev);
    subscribed_generation_ = sub_.generation();
  }

  // Re-subscribes after the subscriber connection dropped, once its back-off allows; then
  // signals the eventfd, since wakeups may have been missed meanwhile.
  // The wakeup subscription is made when somebody first asks for the fd (the broker), not
  // by every store: a process that never reads it (qg-scheduler) would leave Redis writing
  // every PUBLISH into a socket nobody drains, until the pub/sub output-buffer limit
  // dropped the connection and the next store call subscribed again.
  void want_wakeups() {
    if (wakeups_wanted_) return;
    wakeups_wanted_ = true;
    try {
      subscribe();
    } catch (const Error&) {
      sub_.disconnect();  // maybe_resubscribe() tries again
    }
  }

  void maybe_resubscribe() {
    if (!wakeups_wanted_) return;
    if (sub_.connected() && sub_.generation() == subscribed_generation_) return;
    if (steady_ms() < sub_.next_attempt_ms()) return;
    try {
      subscribe();
      std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(event_fd_, &one, sizeof one);
    } catch (const Error&) {
      sub_.disconnect();
    }
  }

  StoreSettings settings_;
  std::string prefix_;
  // The decimal forms of the settings that calls send (base(), claim_args()), made once.
  std::string group_max_arg_ = std::to_string(settings_.group_max);
  std::string group_window_arg_ = std::to_string(settings_.group_window.count());
  std::string lease_arg_ = std::to_string(settings_.lease.count());
  std::string affinity_slack_arg_ = std::to_string(settings_.affinity_slack.count());
  std::string candidates_arg_ = std::to_string(detail::kClaimCandidates);
  RedisConnection conn_;
  RedisConnection sub_;
  // Batches of send_submits() not yet taken, oldest first; their replies are deferred on
  // conn_, in the same order.
  std::deque<InFlightSubmits> in_flight_;
  std::string library_;
  std::array<std::string, kScriptCount> functions_;
  bool loaded_ = false;
  std::mt19937_64 rng_;
  IdGenerator lease_ids_;
  int epoll_fd_ = -1;
  int event_fd_ = -1;
  std::uint64_t subscribed_generation_ = 0;
  bool wakeups_wanted_ = false;
};

}  // namespace

std::unique_ptr<JobStore> make_redis_store(const std::string& url, const StoreSettings& settings) {
  return std::make_unique<RedisJobStore>(RedisAddress::parse(url), settings, null_logger());
}

std::unique_ptr<JobStore> wait_for_redis_store(const std::string& url, const StoreSettings& settings,
                                               spdlog::logger& log, const volatile std::sig_atomic_t& stop) {
  auto backoff = std::chrono::milliseconds(100);
  while (stop == 0) {
    try {
      return make_redis_store(url, settings);
    } catch (const StoreUnavailable& e) {
      log.warn("cannot reach Redis at {} ({}); retrying in {} ms", url, e.what(), backoff.count());
      const auto until = std::chrono::steady_clock::now() + backoff;
      while (stop == 0 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }
  return nullptr;
}

}  // namespace qg::sched

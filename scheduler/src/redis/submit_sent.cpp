// RedisJobStore's batches of submissions sent without waiting (send_submits, take_submits):
// planned by the store, sent as one transaction around kSubmitSent, settled when their
// replies are taken.

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <memory_resource>
#include <unordered_map>

#include "redis_job_store.hpp"

namespace qg::sched::redis {

// A batch goes out as MULTI, MSETNX (a sentinel and every spec), the list indexes' RPUSHes
// and the org counts' HINCRBYs, kSubmitSent, EXEC: the specs, indexes and org counts are
// written natively and the rest by writes the store works out (plan_sent), so that nothing
// passes through Lua per submission. A batch that repeats a job id or an
// idempotency key within itself goes as one kSubmit with the specs in its arguments,
// which judges each submission after the ones before it.
void RedisJobStore::send_submits(std::vector<NewSubmission> subs, std::int64_t now_ms) {
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
      if (settings_.min_replicas == 0) {
        conn_.send_deferred(argv);
        batch.replies = 1;
      } else {
        const std::string_view wait[] = {"WAIT", min_replicas_arg_, min_replicas_timeout_arg_};
        const std::span<const std::string_view> both[] = {argv, wait};
        conn_.send_deferred(both);
        batch.replies = 2;
        batch.waits = true;
      }
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
      // With min_replicas, a WAIT in the same round trip: its reply counts the replicas that
      // have the transaction (and every earlier write of this connection).
      const std::string_view wait[] = {"WAIT", min_replicas_arg_, min_replicas_timeout_arg_};
      if (settings_.min_replicas > 0) {
        commands.emplace_back(wait);
        batch.waits = true;
      }
      conn_.send_deferred(commands);
      batch.replies = commands.size();
    }
  }
  in_flight_.push_back(std::move(batch));
}

std::optional<RedisJobStore::SentSubmits> RedisJobStore::take_submits(bool wait) {
  if (in_flight_.empty()) return std::nullopt;
  auto& batch = in_flight_.front();
  SentSubmits done;
  try {
    // Every reply of the batch (MULTI's OK and the QUEUEDs come first), EXEC's or the FCALL's
    // kept, and WAIT's after it when there is one.
    while (batch.replies > 0) {
      auto reply = conn_.take_deferred(wait);
      if (!reply) return std::nullopt;
      --batch.replies;
      if (!reply->value) {
        batch.lost = reply->lost;
      } else if (batch.waits && batch.replies == 0) {
        batch.replicas = std::move(*reply->value);
      } else if (batch.replies == (batch.waits ? 1u : 0u)) {
        batch.last = std::move(*reply->value);
      } else if (reply->value->is_error() && batch.queue_error.empty()) {
        batch.queue_error = reply->value->str();  // why EXEC will answer EXECABORT (e.g. OOM)
      }
    }
    if (!batch.lost.empty()) throw StoreUnavailable(batch.lost);
    if (!batch.sent.empty()) settle_sent(batch);
    if (batch.waits && batch.resent) {
      confirm_replicated();  // settle_sent wrote after the WAIT: that write is waited for too
    } else if (batch.waits) {
      check_replicated(*batch.replicas);
    }
  } catch (const StoreUnavailable& e) {
    done.failure = SentSubmits::Failure::unavailable;
    done.error = e.what();
  } catch (const StoreFull& e) {
    done.failure = SentSubmits::Failure::full;
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

std::size_t RedisJobStore::submits_in_flight() const { return in_flight_.size(); }

int RedisJobStore::submits_fd() const {
  if (in_flight_.empty() || in_flight_.front().replies == 0 || conn_.deferred_ready()) return -1;
  return conn_.fd();
}

// Whether a batch names a job id, or an org's idempotency key, twice.
bool RedisJobStore::repeats_within(const InFlightSubmits& batch) {
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

// A sent batch's kSubmit arguments, built the first time they are needed.
const std::vector<std::string>& RedisJobStore::full_args(InFlightSubmits& batch) const {
  if (batch.args.empty()) batch.args = submit_args(batch.subs, batch.sent, batch.now_ms);
  return batch.args;
}

// The FCALL of a sent batch (kSubmitSent) sent again, after the batch's transaction: its
// ARGV[6] tells the script so, for a refusal to find the native writes by value.
std::vector<std::string_view> RedisJobStore::sent_again_fcall(const InFlightSubmits& batch) {
  auto argv = batch.sent_fcall;
  argv[3 + 5] = "1";  // ARGV[6]
  return argv;
}

// A sent batch's MSETNX (batch.msetnx: the sentinel, its value and every (spec key, spec)
// pair), its native writes (batch.natives: an RPUSH per list index, an HINCRBY of orgcounts
// and of orgq per org) and kSubmitSent's FCALL (batch.sent_fcall): every write of the batch
// worked out here, in the script's layout (see there), so that Redis does no work per
// submission beyond them.
// (group, band) pairs and lists keep the order in which the batch first names them,
// entries keep submit order. All are views into the batch's submissions and into
// batch.sent_strings (the keys, specs and counts made here), which stay in place while the
// batch is moved. The plan's own tables live in one buffer on the stack (most batches fit).
void RedisJobStore::plan_sent(InFlightSubmits& batch) const {
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
    scratch.append(detail::placement_of(s)).append(":").append(proto::to_string(s.priority));
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
  batch.natives.reserve(lists.size() + 2 * orgs.size());
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
  const auto org_queued = strings.join({prefix_, "orgq"});
  for (const auto& [org, jobs] : orgs) {
    const auto n = number(jobs);
    batch.natives.push_back({"HINCRBY", org_counts, org, n});
    batch.natives.push_back({"HINCRBY", org_queued, org, n});
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
void RedisJobStore::settle_sent(InFlightSubmits& batch) {
  const RedisValue* result = &batch.last;
  RedisValue again;
  bool specs_written = false;
  if (!batch.sentinel.empty()) {
    if (batch.last.is_error()) {  // EXECABORT: nothing ran; the reason is a queued command's error
      throw_reply_error(batch.queue_error.empty() ? batch.last.str() : batch.queue_error);
    }
    specs_written = batch.last[0].integer() == 1;
    result = &batch.last[batch.last.size() - 1];
  }
  if (result->is_error() && is_missing_script(result->str())) {
    // The library went missing (restart, failover, FUNCTION FLUSH): the script did not run
    // (MSETNX and the native writes may have). Sent again now, after any call made since,
    // to find the native writes by value should it refuse the batch: each submission is
    // still applied once.
    load_scripts();
    batch.resent = true;
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
    batch.resent = true;
    parse_submits(eval(kSubmit, full_args(batch)), batch.subs, batch.sent, batch.out);
    return;
  }
  if (result->is_error()) throw_reply_error(result->str());
  for (auto k : batch.sent)
    batch.out[k].outcome = SubmitOutcome{batch.subs[k].submission_id, batch.subs[k].job_ids, false};
}

}  // namespace qg::sched::redis

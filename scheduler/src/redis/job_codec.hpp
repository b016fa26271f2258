#pragma once
// How the Redis store keeps a job, as the scripts do (scheduler/lua): the layouts of its
// spec and state, their decoding, and the msgpack packing the store does in C++. Inline:
// submits, claims, reports, expiry and queries use them on their hot paths.

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "../store_common.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/redis.hpp"
#include "qg/proto/messages.hpp"
#include "qg/scheduler/job_store.hpp"

namespace qg::sched::redis {

using proto::Job;
using proto::JobStatus;

inline std::int64_t to_i64(const std::string& s) {
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && ptr == s.data() + s.size()) return v;
  return static_cast<std::int64_t>(std::strtod(s.c_str(), nullptr));  // "1.7e+12" and the like
}

// A job as stored and as the scripts return it (scheduler/lua): its spec, a msgpack array
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
  kSpecIdempotency,  // the submission's idempotency key ('' for none), for retention to delete
  kSpecFields
};
// Specs written before the idempotency key joined them end at the id.
inline constexpr std::size_t kSpecFieldsWithoutIdempotency = kSpecIdempotency;
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
inline Job decode_job(std::string_view spec_bytes, std::optional<std::string_view> state_bytes) {
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
    const bool older_spec =
        fields == kSpecFields && o.type == msgpack::type::ARRAY && o.via.array.size == kSpecFieldsWithoutIdempotency;
    if (o.type != msgpack::type::ARRAY || (o.via.array.size != fields && !older_spec) || offset != bytes.size()) {
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
  {
    const auto placement = spec_str(kSpecTarget);  // target[?requirements] (detail::placement)
    j.target = detail::placement_target(placement);
    j.requirements = detail::requirements_field(placement);
  }
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
inline Job job_from_row(const RedisValue& spec, const RedisValue& state) {
  if (state.is_nil()) return decode_job(spec.str(), std::nullopt);
  return decode_job(spec.str(), state.str());
}

// msgpack-c's packer appends to a std::string through this.
struct PackTo {
  std::string* s;
  void write(const char* data, std::size_t n) { s->append(data, n); }
};
inline void pack_str(msgpack::packer<PackTo>& p, std::string_view v) {
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
    PackTo tail{&tail_};
    msgpack::packer<PackTo> t(tail);
    pack_str(t, s.idempotency_key);
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
    out.reserve(parts.size() + tail_.size() + path.size() + id.size() + 10);
    out.append(parts.substr(0, split_));
    PackTo o{&out};
    msgpack::packer<PackTo> p(o);
    pack_str(p, path);
    out.append(parts.substr(split_));
    pack_str(p, id);
    out.append(tail_);
  }
  // The rank its specs carry (the submission's jobs share it).
  std::int64_t rank() const { return rank_; }

 private:
  std::string parts_;
  std::string tail_;  // the packed idempotency key, after the id
  std::size_t split_ = 0;
  std::int64_t rank_ = 0;
};

}  // namespace qg::sched::redis

#pragma once
// Shared by the proto-msgs unit tests: one sample of every message type with a non-default
// value in every field (valid, so requests pass validation), the list of all types for typed
// tests, and helpers that edit an encoded body key by key.

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include "qg/proto/codec.hpp"
#include "qg/proto/messages.hpp"

namespace qg::proto::test {

// A sample of T with no field left at its default.
template <class T>
T sample();

inline Job sample_job(std::string id) {
  Job j;
  j.id = std::move(id);
  j.org_id = "acme";
  j.app_version_id = "v1.2.3";
  j.test_path = "tests/login.spec.ts";
  j.priority = Priority::high;
  j.target = Target::device;
  j.status = JobStatus::running;
  j.attempt = 2;
  j.max_attempts = 5;
  j.retries = 1;
  j.created_at_ms = 1718000000000;
  j.updated_at_ms = 1718000005000;
  j.submission_id = "01J0SUB0000000000000000000";
  j.worker_id = "w-pixel-7:1";
  j.lease_id = "01J0LEASE00000000000000000";
  j.exit_code = -9;
  j.duration_ms = 4321;
  j.last_error = "device rebooted";
  j.log_tail = "line 1\nline 2\n";
  j.flaky = true;
  j.requirements = std::map<std::string, std::string>{{"os", "android14"}};
  return j;
}

template <>
inline SubmitRequest sample<SubmitRequest>() {
  SubmitRequest m;
  m.rid = "r-submit-1";
  m.org_id = "acme";
  m.app_version_id = "v1.2.3";
  m.tests = {"tests/login.spec.ts", "tests/cart.spec.ts"};
  m.priority = Priority::high;
  m.target = Target::browserstack;
  m.idempotency_key = "ci-run-42";
  m.retries = 2;
  m.max_attempts = 4;
  m.requirements = std::map<std::string, std::string>{{"model", "Pixel 7"}, {"os", "android14"}};
  return m;
}
template <>
inline SubmitReply sample<SubmitReply>() {
  return SubmitReply{"r-submit-1",
                     "01J0SUB0000000000000000000",
                     {"01J0JOB0000000000000000001"},
                     true,
                     "no live worker serves target device"};
}
template <>
inline StatusRequest sample<StatusRequest>() {
  return StatusRequest{"r-status-1", {"01J0JOB0000000000000000001", "01J0JOB0000000000000000002"}};
}
template <>
inline StatusReply sample<StatusReply>() {
  return StatusReply{"r-status-1",
                     {sample_job("01J0JOB0000000000000000001")},
                     {"01J0JOB0000000000000000002"},
                     {"01J0JOB0000000000000000002"},
                     {JobEta{"01J0JOB0000000000000000001", 12, 240'000}, JobEta{"01J0JOB0000000000000000003", 0, {}}},
                     0,
                     240'000};
}
template <>
inline ListRequest sample<ListRequest>() {
  return ListRequest{"r-list-1", "acme", "v1.2.3", JobStatus::failed, Target::device, "cursor-7", 20};
}
template <>
inline ListReply sample<ListReply>() {
  return ListReply{"r-list-1", {sample_job("J1"), sample_job("J2")}, "cursor-8"};
}
template <>
inline CancelRequest sample<CancelRequest>() {
  // job_id and org_id + app_version_id exclude each other; this one cancels a build.
  return CancelRequest{"r-cancel-1", "", "acme", "v1.2.3"};
}
template <>
inline CancelReply sample<CancelReply>() {
  return CancelReply{"r-cancel-1", {{"J1", "cancel_requested", JobStatus::running}, {"J2", "cancelled"}}};
}
template <>
inline RetryRequest sample<RetryRequest>() {
  return RetryRequest{"r-retry-1", "01J0JOB0000000000000000001"};
}
template <>
inline RetryReply sample<RetryReply>() {
  return RetryReply{"r-retry-1", "01J0JOB0000000000000000001", JobStatus::assigned};
}
template <>
inline QueueRequest sample<QueueRequest>() {
  return QueueRequest{"r-queue-1", "cursor-3", 100};
}
template <>
inline QueueReply sample<QueueReply>() {
  QueueReply m;
  m.rid = "r-queue-1";
  m.groups = {GroupInfo{"acme/v1.2.3/device?os=android14", "acme", "v1.2.3", Target::device, 12, Priority::high, 5000,
                        false, true, std::map<std::string, std::string>{{"os", "android14"}}}};
  m.by_status = {{"queued", 12}, {"running", 3}};
  m.by_priority = {{"high", 2}, {"low", 10}};
  m.next_cursor = "cursor-4";
  return m;
}
template <>
inline WorkersRequest sample<WorkersRequest>() {
  return WorkersRequest{"r-workers-1", true, "w-pixel-7:1"};
}
template <>
inline WorkersReply sample<WorkersReply>() {
  WorkerInfo w;
  w.worker_id = "w-pixel-7:1";
  w.device_id = "pixel-7-serial";
  w.targets = {Target::device, Target::emulator};
  w.labels = {{"os", "android"}, {"os_version", "14"}};
  w.installed = {"acme/v1.2.3"};
  w.state = "busy";
  w.lease_id = "01J0LEASE00000000000000000";
  w.group_key = "acme/v1.2.3/device";
  w.last_seen_ms = 1718000009000;
  return WorkersReply{"r-workers-1", {w}, true};
}
template <>
inline HealthRequest sample<HealthRequest>() {
  return HealthRequest{"r-health-1", true};
}
template <>
inline HealthReply sample<HealthReply>() {
  HealthReply m{"r-health-1", true, "redis", true, "0.1.0", 2, 86400000, 1234567, "broker-a",
                "all good",   2,    {},      {},   {},      0, 0,        0,       {}};
  m.schedulers = {ProcessInfo{"sched-1", "host-a", 4242, 1718000000000, 1718000005000}};
  m.brokers = {ProcessInfo{"broker-a", "host-b", 4343, 1718000000001, 1718000005001}};
  m.live_workers = {{"device", 3}, {"emulator", 12}};
  m.oldest_queued_age_ms = 65000;
  m.store_used_bytes = 1 << 20;
  m.store_max_bytes = 1 << 30;
  m.warnings = {"jobs are queued for target browserstack, which no live worker serves"};
  return m;
}
template <>
inline DrainWorkerRequest sample<DrainWorkerRequest>() {
  return DrainWorkerRequest{"r-drain-1", "w-pixel-7:1"};
}
template <>
inline DrainWorkerReply sample<DrainWorkerReply>() {
  return DrainWorkerReply{"r-drain-1", "w-pixel-7:1"};
}
template <>
inline ForgetWorkerRequest sample<ForgetWorkerRequest>() {
  return ForgetWorkerRequest{"r-forget-1", "w-pixel-7:1"};
}
template <>
inline ForgetWorkerReply sample<ForgetWorkerReply>() {
  return ForgetWorkerReply{"r-forget-1", "w-pixel-7:1"};
}
template <>
inline DrainRequested sample<DrainRequested>() {
  return DrainRequested{"an operator asked for it"};
}
template <>
inline StatsRequest sample<StatsRequest>() {
  return StatsRequest{"r-stats-1"};
}
template <>
inline StatsReply sample<StatsReply>() {
  return StatsReply{"r-stats-1",
                    {{"passed", 900}, {"failed", 12}},
                    {{"acme", 912}},
                    15.5,
                    3,
                    7,
                    2,
                    {FarmStat{"acme",
                              Target::device,
                              "hour",
                              {{"passed", 9}, {"failed", 1}},
                              10,
                              0.9,
                              1200,
                              8000,
                              12,
                              2,
                              30000,
                              6.0,
                              4500}}};
}
template <>
inline EventsTopicRequest sample<EventsTopicRequest>() {
  return EventsTopicRequest{"r-topic-1"};
}
template <>
inline EventsTopicReply sample<EventsTopicReply>() {
  return EventsTopicReply{"r-topic-1", "5f0c2a9e41d38b7760ae19c4d2f08b31"};
}
template <>
inline Hello sample<Hello>() {
  return Hello{"r-hello-1", "w-pixel-7:1", "pixel-7-serial", {Target::device}, {{"os", "android"}}, {"acme/v1.2.3"}};
}
template <>
inline HelloReply sample<HelloReply>() {
  return HelloReply{"r-hello-1", 500, 5000};
}
template <>
inline Pull sample<Pull>() {
  return Pull{"r-pull-1", "w-pixel-7:1", {Target::device, Target::emulator}, {"acme/v1.2.3"}, 2000};
}
template <>
inline Assign sample<Assign>() {
  Assign m;
  m.rid = "r-pull-1";
  m.lease_id = "01J0LEASE00000000000000000";
  m.group_key = "acme/v1.2.3/device";
  m.org_id = "acme";
  m.app_version_id = "v1.2.3";
  m.target = Target::device;
  m.reinstall = true;
  m.jobs = {AssignedJob{"J1", "tests/login.spec.ts", 2, Priority::high},
            AssignedJob{"J2", "tests/cart.spec.ts", 3, Priority::low}};
  return m;
}
template <>
inline NoWork sample<NoWork>() {
  return NoWork{"r-pull-2"};
}
template <>
inline Report sample<Report>() {
  return Report{"r-report-1", "w-pixel-7:1",     "01J0LEASE00000000000000000", "J1",        2, JobStatus::failed, 1,
                4321,         "expected true\n", "adb: device offline",        std::nullopt};
}
template <>
inline Confirm sample<Confirm>() {
  return Confirm{"r-report-1", "J1", 2, true, "already_final"};
}
template <>
inline Progress sample<Progress>() {
  return Progress{"w-pixel-7:1", "01J0LEASE00000000000000000", "J1", 2, JobStatus::installing};
}
template <>
inline Heartbeat sample<Heartbeat>() {
  Heartbeat m;
  m.worker_id = "w-pixel-7:1";
  m.device_id = "pixel-7-serial";
  m.state = "busy";
  m.lease_id = "01J0LEASE00000000000000000";
  m.group_key = "acme/v1.2.3/device";
  m.jobs = {HeartbeatJob{"J1", 2, JobStatus::running}, HeartbeatJob{"J2", 1, JobStatus::queued}};
  m.seq = 77;
  m.sent_at_ms = 1718000009000;
  return m;
}
template <>
inline Release sample<Release>() {
  return Release{"r-release-1", "w-pixel-7:1", "01J0LEASE00000000000000000", {"J2", "J3"}};
}
template <>
inline ReleaseReply sample<ReleaseReply>() {
  return ReleaseReply{"r-release-1", 2};
}
template <>
inline Bye sample<Bye>() {
  return Bye{"r-bye-1", "w-pixel-7:1"};
}
template <>
inline ByeReply sample<ByeReply>() {
  return ByeReply{"r-bye-1"};
}
template <>
inline CancelJob sample<CancelJob>() {
  return CancelJob{"J1", 2};
}
template <>
inline ErrorReply sample<ErrorReply>() {
  return ErrorReply{"r-submit-1", Error{"INVALID_FIELD", "must not contain a \"..\" segment", "tests[1]"}};
}
template <>
inline JobEvent sample<JobEvent>() {
  return JobEvent{"broker-a",
                  41,
                  "J1",
                  "acme",
                  "v1.2.3",
                  2,
                  JobStatus::passed,
                  "w-pixel-7:1",
                  "ok",
                  1718000010000,
                  9,
                  "t/cart.spec.ts",
                  Target::browserstack,
                  Priority::low};
}
template <>
inline WorkerEvent sample<WorkerEvent>() {
  return WorkerEvent{"broker-a", 42, "w-pixel-7:1", "lost", "01J0LEASE00000000000000000", 1718000011000};
}

using AllMessageTypes =
    ::testing::Types<SubmitRequest, SubmitReply, StatusRequest, StatusReply, ListRequest, ListReply, CancelRequest,
                     CancelReply, RetryRequest, RetryReply, QueueRequest, QueueReply, WorkersRequest, WorkersReply,
                     HealthRequest, HealthReply, DrainWorkerRequest, DrainWorkerReply, ForgetWorkerRequest,
                     ForgetWorkerReply, StatsRequest, StatsReply, EventsTopicRequest, EventsTopicReply, Hello,
                     HelloReply, Pull, Assign, NoWork, Report, Confirm, Progress, Heartbeat, Release, ReleaseReply, Bye,
                     ByeReply, CancelJob, DrainRequested, ErrorReply, JobEvent, WorkerEvent>;

// Typed-test names: the message type's name.
struct TypeName {
  template <class T>
  static std::string GetName(int /*index*/) {
    std::string name = ::testing::internal::GetTypeName<T>();
    const auto colon = name.rfind(':');
    return colon == std::string::npos ? name : name.substr(colon + 1);
  }
};

// Calls f(T{}) for every message type (used where a typed test is too heavy).
template <class F>
void for_each_type(F&& f) {
  [&]<class... Ts>(::testing::Types<Ts...>*) { (f(Ts{}), ...); }(static_cast<AllMessageTypes*>(nullptr));
}

// ---- editing encoded bodies ------------------------------------------------------------

// A msgpack value written with the packer; `pack` gets a msgpack::packer<msgpack::sbuffer>.
template <class Pack>
std::string packed(Pack&& pack) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pack(pk);
  return std::string(buffer.data(), buffer.size());
}

inline std::string packed_str(std::string_view s) {
  return packed([&](auto& pk) {
    pk.pack_str(static_cast<std::uint32_t>(s.size()));
    pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
  });
}
inline std::string packed_uint(std::uint64_t n) {
  return packed([&](auto& pk) { pk.pack_uint64(n); });
}
inline std::string packed_int(std::int64_t n) {
  return packed([&](auto& pk) { pk.pack_int64(n); });
}

// The body's entries as (key, raw msgpack value) pairs, in order.
using Entries = std::vector<std::pair<std::string, std::string>>;

inline Entries entries_of(std::string_view body) {
  const msgpack::object_handle handle = msgpack::unpack(body.data(), body.size());
  const msgpack::object& root = handle.get();
  Entries out;
  for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
    const auto& kv = root.via.map.ptr[i];
    out.emplace_back(std::string(kv.key.via.str.ptr, kv.key.via.str.size), packed([&](auto& pk) { pk.pack(kv.val); }));
  }
  return out;
}

inline std::string body_of(const Entries& entries) {
  std::string out = packed([&](auto& pk) { pk.pack_map(static_cast<std::uint32_t>(entries.size())); });
  for (const auto& [key, value] : entries) out += packed_str(key) + value;
  return out;
}

// `body` with `key` set to the raw msgpack `value` (replaced in place, or appended).
inline std::string with_key(std::string_view body, const std::string& key, const std::string& value) {
  Entries entries = entries_of(body);
  bool found = false;
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = value;
      found = true;
    }
  }
  if (!found) entries.emplace_back(key, value);
  return body_of(entries);
}

inline std::string without_key(std::string_view body, const std::string& key) {
  Entries entries = entries_of(body);
  std::erase_if(entries, [&](const auto& e) { return e.first == key; });
  return body_of(entries);
}

// ---- files in the source tree -----------------------------------------------------------

inline std::string source_dir() {
  if (const char* dir = std::getenv("QG_SOURCE_DIR"); dir != nullptr && *dir != '\0') return dir;
  return QG_SOURCE_DIR_DEFAULT;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace qg::proto::test

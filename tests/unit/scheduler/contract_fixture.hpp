#pragma once
// The JobStore contract's fixture: JobStoreContract<Backend>, its settings and the helpers the
// cases share (submit, send, claim, report, job, ...), and the typed suite itself. The cases
// live in contract_<behaviour>.hpp; job_store_contract.hpp includes them all and registers
// them, and each implementation's runner includes that header and instantiates the suite
// (memory_store_test.cpp, tests/integration/redis_store_redistest.cpp).
//
// A Backend type provides:
//   static void start(); static void stop();                 // per test suite
//   static std::shared_ptr<JobStore> make(const StoreSettings&);
//   static std::shared_ptr<JobStore> make_peer(const StoreSettings&, std::shared_ptr<JobStore> first);
// make_peer gives a second handle on the same data (a second RedisJobStore on the same
// server and prefix; for memory, the same instance) for the racing tests.
//
// Time is passed in; nothing here sleeps.

#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "qg/common/ids.hpp"
#include "qg/scheduler/job_store.hpp"

// Tests name only the SubmitSpec fields they care about (designated initializers).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace qg::sched::contract {

using proto::JobStatus;
using proto::Priority;
using proto::Target;

inline constexpr std::int64_t kT0 = 1'700'000'000'000;

inline std::string unique_prefix() {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ":";
}

struct SubmitSpec {
  std::string org = "org";
  std::string app = "app";
  std::size_t count = 1;
  Priority priority = Priority::medium;
  Target target = Target::emulator;
  std::uint32_t retries = 0;
  std::uint32_t max_attempts = 0;
  std::string idempotency_key;
  std::map<std::string, std::string> needs;  // NewSubmission::requirements
};

template <class Backend>
class JobStoreContract : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Backend::start(); }
  static void TearDownTestSuite() { Backend::stop(); }

  void SetUp() override {
    settings_.group_window = std::chrono::milliseconds(0);
    settings_.group_max = 50;
    settings_.lease = std::chrono::milliseconds(10000);
    settings_.backoff.base = std::chrono::milliseconds(1000);
    settings_.backoff.jitter = 0;
    reset();
  }

  // A fresh store (and fresh key prefix) with the current settings_.
  void reset() {
    settings_.key_prefix = unique_prefix();
    store_ = Backend::make(settings_);
  }

  JobStore& store() { return *store_; }

  SubmitOutcome submit(const SubmitSpec& spec, std::int64_t now) {
    return store().submit(submission_of(spec, now), now);
  }

  // The same submission in a batch of its own sent ahead of its reply (send_submits), as the
  // broker sends most of them.
  SubmitOutcome send(const SubmitSpec& spec, std::int64_t now) {
    store().send_submits({submission_of(spec, now)}, now);
    auto done = store().take_submits(true);
    if (!done) {
      ADD_FAILURE() << "the sent batch did not come back";
      return {};
    }
    if (done->failure != JobStore::SentSubmits::Failure::none) {
      ADD_FAILURE() << "the sent batch failed: " << done->error;
      return {};
    }
    if (done->results.size() != 1 || !done->results[0].outcome) {
      ADD_FAILURE() << "the sent submission was refused: " << (done->results.empty() ? "" : done->results[0].error);
      return {};
    }
    return *done->results[0].outcome;
  }

  // submit() or send(): the two ways a submission reaches the store.
  SubmitOutcome submit_or_send(bool sent, const SubmitSpec& spec, std::int64_t now) {
    return sent ? send(spec, now) : submit(spec, now);
  }

  NewSubmission submission_of(const SubmitSpec& spec, std::int64_t now) {
    NewSubmission s;
    s.submission_id = ids_.next(now);
    s.org_id = spec.org;
    s.app_version_id = spec.app;
    s.priority = spec.priority;
    s.target = spec.target;
    s.retries = spec.retries;
    s.max_attempts = spec.max_attempts;
    s.idempotency_key = spec.idempotency_key;
    s.requirements = spec.needs;
    for (std::size_t i = 0; i < spec.count; ++i) {
      s.job_ids.push_back(ids_.next(now));
      s.test_paths.push_back("tests/t" + std::to_string(i) + ".spec.js");
    }
    return s;
  }

  // A submission of n tests of org/app, made at kT0, not yet given to the store.
  NewSubmission new_submission(const std::string& app, std::size_t n, const std::string& idem = "") {
    NewSubmission s;
    s.submission_id = ids_.next(kT0);
    s.org_id = "org";
    s.app_version_id = app;
    s.idempotency_key = idem;
    for (std::size_t i = 0; i < n; ++i) {
      s.job_ids.push_back(ids_.next(kT0));
      s.test_paths.push_back("t" + std::to_string(i));
    }
    return s;
  }

  std::optional<Claim> claim(const std::string& worker, std::int64_t now, std::vector<std::string> installed = {},
                             std::vector<Target> targets = {Target::emulator, Target::device, Target::browserstack}) {
    ClaimRequest r;
    r.worker_id = worker;
    r.targets = std::move(targets);
    r.installed = std::move(installed);
    return store().claim_group(r, now);
  }

  // A report by worker "w" of the claim's job at index, not yet given to the store.
  static proto::Report report_of(const Claim& c, std::size_t index, JobStatus status, std::uint32_t attempt) {
    proto::Report r;
    r.worker_id = "w";
    r.lease_id = c.lease_id;
    r.job_id = c.jobs.at(index).id;
    r.attempt = attempt;
    r.status = status;
    return r;
  }

  // A report of the claim's job at index by `worker` (the claim's holder: a lease is fenced by
  // its worker too).
  ReportOutcome report(const Claim& c, std::size_t index, JobStatus status, std::int64_t now,
                       std::optional<std::uint32_t> attempt = std::nullopt, const std::string& worker = "w") {
    proto::Report r;
    r.worker_id = worker;
    r.lease_id = c.lease_id;
    r.job_id = c.jobs.at(index).id;
    r.attempt = attempt.value_or(c.jobs.at(index).attempt);
    r.status = status;
    r.exit_code = status == JobStatus::passed ? 0 : 1;
    r.duration_ms = 5;
    r.log_tail = "log";
    if (status == JobStatus::error) r.error = "install failed";
    return store().report(r, now);
  }

  proto::Job job(const std::string& id) {
    std::vector<std::string> ids{id};
    auto found = store().get(ids);
    EXPECT_TRUE(found.at(0).has_value()) << id;
    return found.at(0).value_or(proto::Job{});
  }

  static std::vector<std::string> ids_of(const Claim& c) {
    std::vector<std::string> out;
    for (const auto& j : c.jobs) out.push_back(j.id);
    return out;
  }

  StoreSettings settings_;
  std::shared_ptr<JobStore> store_;
  IdGenerator ids_;
};

TYPED_TEST_SUITE_P(JobStoreContract);

}  // namespace qg::sched::contract

#pragma once
// The JobStore contract. Reading: list (paged, newest first, filtered), queue and stats, and the
// worker registry with ping. None of these writes a job.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

TYPED_TEST_P(JobStoreContract, ListPagesNewestFirstWithFiltersCoveringAllJobsOnce) {
  std::vector<proto::Job> all;
  for (int i = 0; i < 12; ++i) {
    auto org = i % 3 == 0 ? "o1" : "o2";
    auto app = i % 2 == 0 ? "a" : "b";
    auto out =
        this->submit({.org = org, .app = app, .count = static_cast<std::size_t>(1 + i % 4)}, kT0 + (i / 2) * 1000);
    for (const auto& j : this->store().get(out.job_ids)) all.push_back(*j);
  }
  // One claimed group, so the status filter has something to find.
  auto c = this->claim("w", kT0 + 100000);
  ASSERT_TRUE(c.has_value());
  std::set<std::string> claimed;
  for (const auto& j : c->jobs) claimed.insert(j.id);

  auto collect = [&](ListQuery q) {
    std::vector<std::string> ids;
    int pages = 0;
    do {
      auto page = this->store().list(q);
      for (const auto& j : page.jobs) ids.push_back(j.id);
      q.cursor = page.next_cursor;
      EXPECT_LE(page.jobs.size(), q.limit);
      ++pages;
    } while (!q.cursor.empty() && pages < 1000);
    return ids;
  };
  auto expect = [&](auto pred) {
    std::vector<proto::Job> want;
    for (const auto& j : all) {
      if (pred(j)) want.push_back(j);
    }
    std::sort(want.begin(), want.end(), [](const proto::Job& x, const proto::Job& y) {
      return std::tie(x.created_at_ms, x.id) > std::tie(y.created_at_ms, y.id);
    });
    std::vector<std::string> ids;
    for (const auto& j : want) ids.push_back(j.id);
    return ids;
  };
  ListQuery q;
  q.limit = 4;
  EXPECT_EQ(collect(q), expect([](const proto::Job&) { return true; }));
  q.org_id = "o2";
  EXPECT_EQ(collect(q), expect([](const proto::Job& j) { return j.org_id == "o2"; }));
  q.app_version_id = "b";
  EXPECT_EQ(collect(q), expect([](const proto::Job& j) { return j.org_id == "o2" && j.app_version_id == "b"; }));
  ListQuery by_status;
  by_status.limit = 1;
  by_status.status = JobStatus::assigned;
  EXPECT_EQ(collect(by_status), expect([&](const proto::Job& j) { return claimed.contains(j.id); }));
  by_status.status = std::nullopt;
  by_status.target = Target::device;
  EXPECT_TRUE(collect(by_status).empty());
}

TYPED_TEST_P(JobStoreContract, QueueAndStatsCount) {
  this->submit({.org = "o1", .app = "a", .count = 3, .priority = Priority::low}, kT0);
  this->submit({.org = "o1", .app = "b", .count = 2, .priority = Priority::high}, kT0 + 1);
  this->submit({.org = "o2", .app = "c", .count = 4, .target = Target::device}, kT0 + 2);
  auto page = this->store().queue("", 2, kT0 + 1000);
  ASSERT_EQ(page.groups.size(), 2u);
  EXPECT_EQ(page.groups[0].key, "o1/b/emulator");
  EXPECT_EQ(page.groups[0].depth, 2u);
  EXPECT_EQ(page.groups[0].highest_priority, Priority::high);
  EXPECT_EQ(page.groups[0].oldest_age_ms, 999);
  EXPECT_TRUE(page.groups[0].claimable);
  EXPECT_EQ(page.groups[1].key, "o1/a/emulator");
  EXPECT_EQ(page.by_status["queued"], 9u);
  EXPECT_EQ(page.by_priority["low"], 3u);
  EXPECT_EQ(page.by_priority["high"], 2u);
  EXPECT_EQ(page.by_priority["medium"], 4u);
  ASSERT_FALSE(page.next_cursor.empty());
  auto rest = this->store().queue(page.next_cursor, 2, kT0 + 1000);
  ASSERT_EQ(rest.groups.size(), 1u);
  EXPECT_EQ(rest.groups[0].key, "o2/c/device");

  auto c = this->claim("w", kT0 + 1000, {}, {Target::device});
  ASSERT_TRUE(c.has_value());
  for (std::size_t i = 0; i < 3; ++i) ASSERT_TRUE(this->report(*c, i, JobStatus::passed, kT0 + 2000).accepted);
  auto stats = this->store().stats(kT0 + 2000);
  EXPECT_EQ(stats.by_status["queued"], 5u);
  EXPECT_EQ(stats.by_status["assigned"], 1u);
  EXPECT_EQ(stats.by_status["passed"], 3u);
  EXPECT_EQ(stats.by_org["o1"], 5u);
  EXPECT_EQ(stats.by_org["o2"], 4u);
  EXPECT_DOUBLE_EQ(stats.jobs_per_sec, 3.0 / 60.0);
  EXPECT_EQ(this->store().stats(kT0 + 2000 + 61'000).jobs_per_sec, 0.0);
  EXPECT_EQ(this->store().queue_depth(), 5u);
}

TYPED_TEST_P(JobStoreContract, WorkerRegistryRoundTripsAndPingAnswers) {
  EXPECT_TRUE(this->store().ping());
  proto::WorkerInfo w;
  w.worker_id = "w1";
  w.device_id = "pixel:7";
  w.targets = {Target::emulator, Target::device};
  w.labels = {{"os", "android 14"}, {"odd", "a:b\nc"}};
  w.installed = {"org/app"};
  w.state = "busy";
  w.lease_id = "L1";
  w.group_key = "org/app/emulator";
  w.last_seen_ms = kT0;
  this->store().upsert_worker(w);
  auto ws = this->store().workers();
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].worker_id, "w1");
  EXPECT_EQ(ws[0].device_id, "pixel:7");
  EXPECT_EQ(ws[0].targets, w.targets);
  EXPECT_EQ(ws[0].labels, w.labels);
  EXPECT_EQ(ws[0].installed, w.installed);
  EXPECT_EQ(ws[0].state, "busy");
  EXPECT_EQ(ws[0].lease_id, "L1");
  EXPECT_EQ(ws[0].group_key, w.group_key);
  EXPECT_EQ(ws[0].last_seen_ms, kT0);
  this->store().remove_worker("w1");
  EXPECT_TRUE(this->store().workers().empty());
}

}  // namespace qg::sched::contract

#pragma once
// The JobStore contract. The registry: workers that leave or are forgotten move to the
// departed records (and back when they speak again), a sweep forgets the silent and drops the
// long departed, and announcements of processes lapse at their expiry.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <string>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

namespace registry_detail {
inline proto::WorkerInfo worker(std::string id, std::int64_t seen_ms) {
  proto::WorkerInfo w;
  w.worker_id = std::move(id);
  w.targets = {Target::emulator};
  w.state = "idle";
  w.last_seen_ms = seen_ms;
  return w;
}
inline std::vector<std::string> ids_states(const std::vector<proto::WorkerInfo>& workers) {
  std::vector<std::string> out;
  for (const auto& w : workers) out.push_back(w.worker_id + "=" + w.state);
  return out;
}
}  // namespace registry_detail

TYPED_TEST_P(JobStoreContract, WorkersLeaveAreForgottenSweptAndComeBack) {
  using registry_detail::ids_states;
  using registry_detail::worker;
  auto& store = this->store();
  store.upsert_worker(worker("w1", kT0 + 8000));
  store.upsert_worker(worker("w2", kT0 + 5000));
  store.upsert_worker(worker("w3", kT0 + 2000));
  store.remove_worker("w3");  // BYE
  EXPECT_TRUE(store.retire_worker("w2", "forgotten"));
  EXPECT_FALSE(store.retire_worker("w2", "forgotten"));  // not live any more
  EXPECT_FALSE(store.retire_worker("nobody", "forgotten"));
  EXPECT_EQ(ids_states(store.workers()), (std::vector<std::string>{"w1=idle"}));
  EXPECT_EQ(ids_states(store.departed_workers()), (std::vector<std::string>{"w2=forgotten", "w3=left"}));

  // w2 speaks again: live, and no longer departed.
  store.upsert_worker(worker("w2", kT0 + 20000));
  EXPECT_EQ(ids_states(store.workers()), (std::vector<std::string>{"w1=idle", "w2=idle"}));
  EXPECT_EQ(ids_states(store.departed_workers()), (std::vector<std::string>{"w3=left"}));

  // Silent since before kT0 + 10 s: w1 is forgotten; departed and silent since before
  // kT0 + 5 s: w3 is dropped.
  auto forgotten = store.sweep_workers(kT0 + 10000, kT0 + 5000);
  EXPECT_EQ(forgotten, (std::vector<std::string>{"w1"}));
  EXPECT_EQ(ids_states(store.workers()), (std::vector<std::string>{"w2=idle"}));
  EXPECT_EQ(ids_states(store.departed_workers()), (std::vector<std::string>{"w1=forgotten"}));
  EXPECT_TRUE(store.sweep_workers(kT0 + 10000, kT0 + 8001).empty());
  EXPECT_TRUE(store.departed_workers().empty());
}

TYPED_TEST_P(JobStoreContract, AnnouncementsLastUntilTheirExpiryAndRenew) {
  auto& store = this->store();
  proto::ProcessInfo s1{"sched-1", "host-a", 11, kT0, kT0 + 5000};
  proto::ProcessInfo s2{"sched-2", "host-b", 22, kT0, kT0 + 3000};
  store.announce("scheduler", s1, kT0);
  store.announce("scheduler", s2, kT0);
  EXPECT_TRUE(store.announced("broker", kT0).empty());
  auto alive = store.announced("scheduler", kT0 + 1000);
  ASSERT_EQ(alive.size(), 2u);
  std::sort(alive.begin(), alive.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  EXPECT_EQ(alive[0].id, "sched-1");
  EXPECT_EQ(alive[0].host, "host-a");
  EXPECT_EQ(alive[0].pid, 11);
  EXPECT_EQ(alive[0].started_at_ms, kT0);
  EXPECT_EQ(alive[0].expires_at_ms, kT0 + 5000);
  // At its expiry an announcement no longer counts.
  alive = store.announced("scheduler", kT0 + 3000);
  ASSERT_EQ(alive.size(), 1u);
  EXPECT_EQ(alive[0].id, "sched-1");
  // Announcing again renews the same entry rather than adding one.
  s1.expires_at_ms = kT0 + 9000;
  store.announce("scheduler", s1, kT0 + 4000);
  alive = store.announced("scheduler", kT0 + 6000);
  ASSERT_EQ(alive.size(), 1u);
  EXPECT_EQ(alive[0].expires_at_ms, kT0 + 9000);
  EXPECT_TRUE(store.announced("scheduler", kT0 + 9000).empty());
}

}  // namespace qg::sched::contract

// Device health with real processes: a worker whose installs always fail is quarantined after
// --quarantine-after failed groups in a row (a WORKER `quarantined` event, `quarantined` in
// `qgjob workers`), gets no more work while a sound worker runs the rest, and an operator's
// `qgjob workers unquarantine` gives it work again.
#include <gtest/gtest.h>

#include <fstream>

#include "../e2e/cluster.hpp"
#include "robust.hpp"

namespace {

using namespace std::chrono_literals;
namespace proto = qg::proto;
using qg::testing::Api;
using qg::testing::Cluster;
using qg::testing::ClusterOptions;
using qg::testing::describe;
using qg::testing::EventCollector;
using qg::testing::wait_until;
using qg::testing::WorkerOptions;

std::size_t lines_of(const std::string& path) {
  std::ifstream in(path);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

TEST(DeviceHealth, AWorkerWhoseInstallsKeepFailingIsQuarantinedAndAnOperatorEndsIt) {
  ClusterOptions options;
  std::vector<std::string> args = {"--backoff-base-ms",  "100", "--backoff-jitter",      "0",  "--max-attempts", "10",
                                   "--quarantine-after", "2",   "--quarantine-cooldown", "10m"};
  options.broker_args = args;
  options.scheduler_args = args;
  Cluster cluster(options);
  Api api(cluster.client_endpoint());
  EventCollector events(cluster.events_out_endpoint(), {"worker."});
  const auto dir = cluster.dir();

  WorkerOptions broken;
  broken.worker_id = "broken";
  broken.extra_args = qg::testing::fast_worker_args();
  broken.install_cmd = "echo x >> " + dir + "/broken-installs; exit 1";
  cluster.add_worker(broken);
  // Two builds fail on it, two groups in a row: quarantined.
  auto first = api.submit("acme", "b1", {"t/a.spec.ts", "t/b.spec.ts"}, "k1");
  ASSERT_EQ(first.size(), 2u);
  ASSERT_TRUE(wait_until(
      [&] {
        events.pump();
        return std::any_of(events.workers.begin(), events.workers.end(), [](const proto::WorkerEvent& e) {
          return e.worker_id == "broken" && e.state == "quarantined";
        });
      },
      30s, 20ms))
      << cluster.log("broker-0");
  const auto installs_at_quarantine = lines_of(dir + "/broken-installs");
  EXPECT_EQ(installs_at_quarantine, 2u);
  auto shown = cluster.qgjob({"workers"});
  ASSERT_EQ(shown.exit_code, 0) << shown.error;
  EXPECT_NE(shown.output.find("quarantined"), std::string::npos) << shown.output;

  // A sound worker runs the jobs; the quarantined one gets none of them.
  WorkerOptions sound;
  sound.worker_id = "sound";
  sound.extra_args = qg::testing::fast_worker_args();
  cluster.add_worker(sound);
  auto second = api.submit("acme", "b2", {"t/c.spec.ts"}, "k2");
  ASSERT_EQ(second.size(), 1u);
  std::vector<std::string> all = first;
  all.insert(all.end(), second.begin(), second.end());
  ASSERT_TRUE(wait_until([&] { return api.all_final(all); }, 60s, 50ms)) << describe(api.status(all));
  for (const auto& j : api.status(all)) {
    EXPECT_EQ(j.status, proto::JobStatus::passed) << describe({j});
    EXPECT_EQ(j.worker_id, "sound") << describe({j});
  }
  EXPECT_EQ(lines_of(dir + "/broken-installs"), installs_at_quarantine);

  // The operator ends it: it claims again (and fails again, counted from zero).
  auto ended = cluster.qgjob({"workers", "unquarantine", "broken"});
  EXPECT_EQ(ended.exit_code, 0) << ended.output << ended.error;
  EXPECT_NE(ended.output.find("quarantine ended"), std::string::npos) << ended.output;
  auto again = cluster.qgjob({"workers", "unquarantine", "broken"});
  EXPECT_EQ(again.exit_code, 1) << again.output;
  auto bad = cluster.qgjob({"workers", "forgive", "broken"});
  EXPECT_EQ(bad.exit_code, 3) << bad.output;
  shown = cluster.qgjob({"workers"});
  EXPECT_EQ(shown.output.find("quarantined"), std::string::npos) << shown.output;
  ASSERT_TRUE(wait_until(
      [&] {
        events.pump();
        return std::any_of(events.workers.begin(), events.workers.end(),
                           [](const proto::WorkerEvent& e) { return e.worker_id == "broken" && e.state == "healthy"; });
      },
      10s, 20ms));
}

}  // namespace

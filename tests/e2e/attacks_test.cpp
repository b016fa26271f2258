// Attacks on a broker with CURVE keys, made by separate processes and raw protocol peers from
// another address of the loopback range (127.0.0.2 stands for another host on the farm
// network): each is refused or harmless, and the legitimate client, worker and subscriber keep
// working. The broker runs on the memory store (its scheduler embedded) unless a test needs
// more; the attacks on quotas and rates are in quota_test.cpp, those on Redis credentials in
// redis_auth_test.cpp, on unknown keys and revoked keys in curve_test.cpp.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "keys.hpp"
#include "qg/common/curve_client.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/testing/process.hpp"
#include "raw_peers.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::bin_dir;
using qg::testing::ChildProcess;
using qg::testing::Cluster;
using qg::testing::error_code;
using qg::testing::exchange;
using qg::testing::file_text;
using qg::testing::job_id_of;
using qg::testing::Keys;
using qg::testing::kOtherHost;
using qg::testing::next_message;
using qg::testing::qgjob_as;
using qg::testing::qgjob_background;
using qg::testing::raw_peer;
using qg::testing::wait_until;
namespace proto = qg::proto;

// A plain TCP connection from `source` to `port` on 127.0.0.1; -1 when it could not be made.
int tcp_from(const char* source, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True when the peer ends the TCP connection `fd` (reads past its greeting reach the end)
// within `within`.
bool closed_by_peer(int fd, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  char buffer[256];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 1))) <= 0) continue;
    const auto got = ::read(fd, buffer, sizeof buffer);
    if (got <= 0) return true;  // end of stream, or reset
  }
  return false;
}

int port_of(const std::string& endpoint) { return std::stoi(endpoint.substr(endpoint.rfind(':') + 1)); }

// Org isolation of the event stream: org acme, from another host, subscribes to every topic of
// beta's it can name and to "" while beta and an administrator watch with qgjob; a worker runs
// beta's job. Beta's watch and the admin's see it; acme's subscriptions get nothing of beta's
// (the "" one is closed at once and its key barred from events-out). Heartbeats and worker
// events reach the admin without lease ids.
TEST(Attacks, AnOrgSubscribedToAnotherOrgsTopicsOrToEverythingReceivesNoneOfItsEvents) {
  Keys keys;
  Cluster cluster(keys.cluster(false));
  zmq::context_t context(1);
  auto acme = raw_peer(context, zmq::socket_type::dealer, keys, "acme", cluster.client_endpoint());
  const auto topic_reply = exchange(acme, proto::kClientProtocol, proto::EventsTopicRequest{"t-acme"});
  ASSERT_EQ(topic_reply.size(), 3u);
  const auto acme_prefix = proto::decode<proto::EventsTopicReply>(topic_reply[2])->prefix;
  ASSERT_EQ(acme_prefix.size(), 32u);
  auto snoop = raw_peer(context, zmq::socket_type::sub, keys, "acme", cluster.events_out_endpoint());
  for (const auto& topic : {std::string("job."), std::string("job.beta."), std::string("hb."), std::string("worker."),
                            acme_prefix + "job.beta.", acme_prefix + "hb."}) {
    snoop.set(zmq::sockopt::subscribe, topic);
  }
  auto everything = raw_peer(context, zmq::socket_type::sub, keys, "acme", cluster.events_out_endpoint());
  everything.set(zmq::sockopt::subscribe, "");
  ASSERT_TRUE(wait_until(
      [&] { return cluster.log("broker-0").find("a prefix of every org's event topics") != std::string::npos; }, 10s,
      20ms))
      << cluster.log("broker-0");
  EXPECT_NE(cluster.log("broker-0").find("key org:acme"), std::string::npos);

  auto ops = raw_peer(context, zmq::socket_type::dealer, keys, "ops", cluster.client_endpoint(), "127.0.0.1");
  const auto admin_reply = exchange(ops, proto::kClientProtocol, proto::EventsTopicRequest{"t-ops"});
  ASSERT_EQ(admin_reply.size(), 3u);
  const auto admin_prefix = proto::decode<proto::EventsTopicReply>(admin_reply[2])->prefix;
  auto admin_sub = raw_peer(context, zmq::socket_type::sub, keys, "ops", cluster.events_out_endpoint(), "127.0.0.1");
  admin_sub.set(zmq::sockopt::subscribe, admin_prefix + "hb.");
  admin_sub.set(zmq::sockopt::subscribe, admin_prefix + "worker.");

  auto beta_watch = qgjob_background(cluster, keys.as("beta"), {"--json", "watch"}, cluster.dir() + "/beta-watch.log");
  auto admin_watch = qgjob_background(cluster, keys.as("ops"), {"--json", "watch"}, cluster.dir() + "/ops-watch.log");
  auto worker = keys.worker();
  worker.env["FAKE_APPWRIGHT_SLEEP"] = "2";  // busy across heartbeats
  cluster.add_worker(worker);
  const auto done = qgjob_as(cluster, keys.as("beta"),
                             {"submit", "--org-id", "beta", "--app-version-id", "b1", "--test", "beta-secret.spec.ts",
                              "--wait", "--timeout", "30"});
  ASSERT_EQ(done.exit_code, 0) << done.output << done.error << cluster.log("broker-0");
  // qgjob's watch subscribes asynchronously: the job runs for 2 s, so the end is seen.
  for (const char* watch : {"/beta-watch.log", "/ops-watch.log"}) {
    EXPECT_TRUE(wait_until(
        [&] {
          const auto text = file_text(cluster.dir() + watch);
          return text.find("beta-secret.spec.ts") != std::string::npos && text.find("\"passed\"") != std::string::npos;
        },
        10s, 20ms))
        << watch << ": " << file_text(cluster.dir() + watch);
  }
  for (auto* sub : {&snoop, &everything}) {
    for (auto got = next_message(*sub, 300ms); !got.empty(); got = next_message(*sub, 300ms)) {
      for (const auto& frame : got) EXPECT_EQ(frame.find("beta"), std::string::npos) << "acme received " << got[0];
    }
  }
  int busy = 0;
  for (auto got = next_message(admin_sub, 100ms); !got.empty(); got = next_message(admin_sub, 100ms)) {
    ASSERT_EQ(got.size(), 4u);
    if (got[2] == proto::Heartbeat::command) {
      auto hb = proto::decode<proto::Heartbeat>(got[3]);
      ASSERT_TRUE(hb.ok());
      busy += hb->state == "busy";
      EXPECT_EQ(hb->lease_id, "");
    } else {
      auto event = proto::decode<proto::WorkerEvent>(got[3]);
      ASSERT_TRUE(event.ok());
      EXPECT_EQ(event->lease_id, "");
    }
  }
  EXPECT_GE(busy, 1) << "no heartbeat of the busy worker reached the admin";
}

// Connection floods: 300 idle connections from another host against a limit of 40 per
// address. Those over the limit are closed at once, the rest at the handshake timeout, and a
// client on 127.0.0.1 is served throughout; STATS counts the refusals.
TEST(Attacks, IdleConnectionsFromAnotherHostDoNotShutOutAClientAndNeverHandshakingOnesAreDropped) {
  Keys keys;
  auto options = keys.cluster(false);
  options.broker_args.insert(options.broker_args.end(),
                             {"--max-connections-per-peer", "40", "--handshake-timeout-ms", "1500"});
  Cluster cluster(options);
  const int port = port_of(cluster.client_endpoint());
  std::vector<int> idle;
  for (int i = 0; i < 300; ++i) {
    const int fd = tcp_from(kOtherHost, port);
    if (fd >= 0) idle.push_back(fd);
  }
  ASSERT_GE(idle.size(), 250u);
  const auto health = cluster.qgjob({"health"}, 20s);
  EXPECT_EQ(health.exit_code, 0) << health.output << health.error << cluster.log("broker-0");
  const auto submit = cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "x.spec.ts"});
  EXPECT_EQ(submit.exit_code, 0) << submit.error;
  // One over the limit was closed at accept; one within it, that never sends a byte of its own,
  // at the handshake timeout.
  EXPECT_TRUE(closed_by_peer(idle.back(), 3s));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_by_peer(idle.front(), 6s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  for (const int fd : idle) ::close(fd);
  zmq::context_t context(1);
  auto ops = raw_peer(context, zmq::socket_type::dealer, keys, "ops", cluster.client_endpoint(), "127.0.0.1");
  const auto stats = exchange(ops, proto::kClientProtocol, proto::StatsRequest{"s1"});
  ASSERT_EQ(stats.size(), 3u);
  auto decoded = proto::decode<proto::StatsReply>(stats[2]);
  ASSERT_TRUE(decoded.ok());
  EXPECT_GE(decoded->connections_refused, 200u);
  EXPECT_NE(cluster.log("broker-0").find("connection limit"), std::string::npos);
}

// Worker impersonation from another host: a process without an admitted key gets no work; a
// worker key (w2) naming the running worker w1 in HELLO, REPORT, RELEASE and BYE is refused,
// its REPORT under w1's lease as itself is not applied, and its heartbeats naming w1 on
// events-in are dropped. The job ends passed, run by w1.
TEST(Attacks, NoOtherKeyCanPoseAsARunningWorkerOrEndItsJob) {
  Keys keys;
  Cluster cluster(keys.cluster(false));
  auto worker = keys.worker();
  worker.env["FAKE_APPWRIGHT_SLEEP"] = "3";
  cluster.add_worker(worker);
  const auto submitted =
      cluster.qgjob({"--json", "submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "a.spec.ts"});
  const auto job_id = job_id_of(submitted.output);
  ASSERT_FALSE(job_id.empty()) << submitted.output << submitted.error;
  std::smatch lease_match;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto log = cluster.log("w1");
        return std::regex_search(log, lease_match, std::regex("\\(lease ([A-Za-z0-9._:-]+)\\)"));
      },
      15s, 20ms))
      << cluster.log("w1");
  const std::string lease = lease_match[1];
  zmq::context_t context(1);
  for (const char* name : {"stranger", ""}) {  // no admitted key: the handshake never completes
    auto intruder = raw_peer(context, zmq::socket_type::dealer, keys, name, cluster.worker_endpoint());
    proto::Pull pull;
    pull.rid = "p1";
    pull.worker_id = "w1";
    pull.targets = {proto::Target::emulator};
    EXPECT_TRUE(exchange(intruder, proto::kWorkerProtocol, pull, 1s).empty()) << name;
  }
  auto w2 = raw_peer(context, zmq::socket_type::dealer, keys, "w2", cluster.worker_endpoint());
  proto::Hello hello;
  hello.rid = "h1";
  hello.worker_id = "w1";
  hello.targets = {proto::Target::emulator};
  EXPECT_EQ(error_code(exchange(w2, proto::kWorkerProtocol, hello)), proto::errc::forbidden);
  proto::Report report;
  report.rid = "r1";
  report.worker_id = "w1";
  report.lease_id = lease;
  report.job_id = job_id;
  report.attempt = 1;
  report.status = proto::JobStatus::failed;
  report.log_tail = "forged";
  EXPECT_EQ(error_code(exchange(w2, proto::kWorkerProtocol, report)), proto::errc::forbidden);
  report.rid = "r2";
  report.worker_id = "w2";
  const auto as_itself = exchange(w2, proto::kWorkerProtocol, report);
  ASSERT_EQ(as_itself.size(), 3u);
  if (as_itself[1] == proto::Confirm::command) {
    EXPECT_FALSE(proto::decode<proto::Confirm>(as_itself[2])->accepted);
  }
  proto::Release release;
  release.rid = "rl1";
  release.worker_id = "w1";
  release.lease_id = lease;
  EXPECT_EQ(error_code(exchange(w2, proto::kWorkerProtocol, release)), proto::errc::forbidden);
  EXPECT_EQ(error_code(exchange(w2, proto::kWorkerProtocol, proto::Bye{"b1", "w1"})), proto::errc::forbidden);
  auto pub = raw_peer(context, zmq::socket_type::pub, keys, "w2", cluster.events_in_endpoint());
  proto::Heartbeat hb;
  hb.worker_id = "w1";
  hb.state = "idle";
  for (int i = 0; i < 10; ++i) {
    hb.seq = static_cast<std::uint64_t>(i + 1);
    qg::send_multipart(pub, {"hb.w1", std::string(proto::kEventProtocol), "HEARTBEAT", proto::encode(hb)});
  }
  const auto waited = cluster.qgjob({"wait", "--job-id", job_id, "--timeout", "30"});
  EXPECT_EQ(waited.exit_code, 0) << waited.output << waited.error << cluster.log("broker-0");
  EXPECT_NE(waited.output.find("on w1"), std::string::npos) << waited.output;
}

// A worker killed with its job running stays dead to the broker although another worker key
// publishes heartbeats naming it and its lease: the lease expires and the job is run again.
TEST(Attacks, ForgedHeartbeatsDoNotKeepADeadWorkersLeaseAlive) {
  Keys keys;
  auto options = keys.cluster(false);
  options.broker_args.insert(options.broker_args.end(), {"--lease-ms", "1500"});
  Cluster cluster(options);
  auto worker = keys.worker();
  worker.env["FAKE_APPWRIGHT_SLEEP"] = "30";
  cluster.add_worker(worker);
  const auto submitted =
      cluster.qgjob({"--json", "submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "a.spec.ts"});
  const auto job_id = job_id_of(submitted.output);
  ASSERT_FALSE(job_id.empty()) << submitted.output << submitted.error;
  std::smatch lease_match;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto log = cluster.log("w1");
        return std::regex_search(log, lease_match, std::regex("\\(lease ([A-Za-z0-9._:-]+)\\)"));
      },
      15s, 20ms));
  const std::string lease = lease_match[1];
  cluster.worker(0).signal(SIGKILL);
  zmq::context_t context(1);
  auto pub = raw_peer(context, zmq::socket_type::pub, keys, "w2", cluster.events_in_endpoint());
  proto::Heartbeat hb;
  hb.worker_id = "w1";
  hb.state = "busy";
  hb.lease_id = lease;
  hb.jobs = {{job_id, 1, proto::JobStatus::running}};
  std::uint64_t seq = 0;
  EXPECT_TRUE(wait_until(
      [&] {
        hb.seq = ++seq;
        qg::send_multipart(pub, {"hb.w1", std::string(proto::kEventProtocol), "HEARTBEAT", proto::encode(hb)});
        const auto status = cluster.qgjob({"--json", "status", "--job-id", job_id});
        return status.output.find("\"attempt\":2") != std::string::npos ||
               status.output.find("\"status\":\"queued\"") != std::string::npos;
      },
      20s, 100ms))
      << cluster.qgjob({"--json", "status", "--job-id", job_id}).output << cluster.log("broker-0");
}

// An org key reads, cancels and retries nothing of another org's: beta's key against acme's job.
TEST(Attacks, AnOrgKeyCanNeitherSeeNorCancelNorRetryAnotherOrgsJob) {
  Keys keys;
  Cluster cluster(keys.cluster(false));
  const auto submitted =
      cluster.qgjob({"--json", "submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "acme-only.spec.ts"});
  const auto job_id = job_id_of(submitted.output);
  ASSERT_FALSE(job_id.empty()) << submitted.output;
  const auto beta = keys.as("beta");
  EXPECT_NE(qgjob_as(cluster, beta, {"status", "--job-id", job_id}).exit_code, 0);
  EXPECT_EQ(qgjob_as(cluster, beta, {"--json", "list"}).output.find("acme-only"), std::string::npos);
  EXPECT_EQ(qgjob_as(cluster, beta, {"--json", "list", "--org-id", "acme"}).output.find("acme-only"),
            std::string::npos);
  qgjob_as(cluster, beta, {"cancel", "--job-id", job_id});
  qgjob_as(cluster, beta, {"cancel", "--org-id", "acme", "--app-version-id", "b1"});
  qgjob_as(cluster, beta, {"retry", "--job-id", job_id});
  const auto status = cluster.qgjob({"--json", "status", "--job-id", job_id});
  EXPECT_NE(status.output.find("\"status\":\"queued\""), std::string::npos) << status.output;
  const auto submit_as_acme = qgjob_as(
      cluster, beta, {"submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "x.spec.ts", "--timeout", "3"});
  EXPECT_NE(submit_as_acme.exit_code, 0);
  EXPECT_NE(submit_as_acme.error.find("FORBIDDEN"), std::string::npos) << submit_as_acme.error;
}

// Oversize traffic on the event plane from another host: subscriptions of 8 KiB (libzmq's own
// SUB recurses once per byte of a subscription, so a test peer cannot send megabytes) and
// 2 MiB events close their connections; the broker stays small and serves.
TEST(Attacks, OversizeSubscriptionsAndEventsCloseTheirConnectionsAndTheBrokerServesOn) {
  Keys keys;
  Cluster cluster(keys.cluster(false));
  zmq::context_t context(1);
  const std::string huge(8 << 10, 'j');
  std::vector<zmq::socket_t> subs;
  for (int i = 0; i < 3; ++i) {
    subs.push_back(raw_peer(context, zmq::socket_type::sub, keys, "acme", cluster.events_out_endpoint()));
    subs.back().set(zmq::sockopt::subscribe, huge + std::to_string(i));
  }
  auto pub = raw_peer(context, zmq::socket_type::pub, keys, "w2", cluster.events_in_endpoint());
  const std::string body(2 << 20, 'x');
  for (int i = 0; i < 20; ++i)
    qg::send_multipart(pub, {"hb.w2", std::string(proto::kEventProtocol), "HEARTBEAT", body});
  EXPECT_EQ(cluster.qgjob({"health"}).exit_code, 0);
  cluster.add_worker(keys.worker());
  const auto done = cluster.qgjob(
      {"submit", "--org-id", "acme", "--app-version-id", "b1", "--test", "a.spec.ts", "--wait", "--timeout", "30"});
  EXPECT_EQ(done.exit_code, 0) << done.output << done.error;
  // Had the broker kept what it was sent, it would hold more than 60 MiB.
  std::ifstream status("/proc/" + std::to_string(cluster.broker().pid()) + "/status");
  std::string line;
  long rss_kib = 0;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss_kib = std::stol(line.substr(6));
  }
  EXPECT_GT(rss_kib, 0);
  EXPECT_LT(rss_kib, 200 * 1024) << "broker RSS " << rss_kib << " KiB";
}

// What a tenant submits never reaches a shell unquoted: a worker whose run template quotes a
// placeholder refuses to start, saying why; an id that reads as an option is refused.
TEST(Attacks, AQuotedPlaceholderStopsTheWorkerAtStartAndOptionLikeIdsAreRefused) {
  Keys keys;
  Cluster cluster(keys.cluster(false));
  const auto worker = qg::testing::run_command(
      {bin_dir() + "/qg-worker", "--broker", cluster.worker_endpoint(), "--events", cluster.events_in_endpoint(),
       "--worker-id", "w1", "--targets", "emulator", "--run-cmd", "sh -c \"appwright test {test_path}\"",
       "--curve-cert", keys.path("w1") + ".key_secret", "--broker-key", keys.path("broker") + ".key"},
      20s);
  EXPECT_NE(worker.exit_code, 0);
  EXPECT_NE((worker.output + worker.error).find("{test_path}"), std::string::npos) << worker.output << worker.error;
  for (const char* app : {"--help", "-rf", ".."}) {
    const auto submit =
        cluster.qgjob({"submit", "--org-id", "acme", "--app-version-id", app, "--test", "a.spec.ts", "--timeout", "3"});
    EXPECT_NE(submit.exit_code, 0) << app;
  }
  EXPECT_EQ(cluster.qgjob({"--json", "list"}).output.find("a.spec.ts"), std::string::npos);
}

}  // namespace

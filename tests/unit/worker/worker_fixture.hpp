#pragma once
// A hand-driven fake broker (ROUTER + event SUB) and a fixture that runs a Worker against it
// on its own thread, for the worker's protocol tests. Test-only.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "qg/common/clock.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/testing/process.hpp"
#include "qg/worker/worker.hpp"

namespace qg::worker::test {

using namespace std::chrono_literals;
using proto::JobStatus;

struct Received {
  std::string command;
  std::string body;
};

class FakeBroker {
 public:
  explicit FakeBroker(zmq::context_t& context)
      : router_(context, zmq::socket_type::router), events_(context, zmq::socket_type::sub) {
    set_common_options(router_);
    set_common_options(events_);
    router_.bind("tcp://127.0.0.1:*");
    events_.bind("tcp://127.0.0.1:*");
    events_.set(zmq::sockopt::subscribe, "");
  }
  std::string endpoint() { return "tcp://127.0.0.1:" + std::to_string(bound_port(router_)); }
  std::string events_endpoint() { return "tcp://127.0.0.1:" + std::to_string(bound_port(events_)); }

  // The next message with `command` within `timeout`; others are recorded and skipped.
  std::optional<Received> expect(const std::string& command, std::chrono::milliseconds timeout = 5s) {
    auto deadline = steady_ms() + timeout.count();
    while (steady_ms() < deadline) {
      zmq::pollitem_t items[] = {{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 1, 20ms);
      while (auto m = recv_multipart(router_, 8, 8 << 20)) {
        if (m->frames.size() != 4) continue;
        peer_ = m->frames[0];
        seen_[m->frames[2]]++;
        if (m->frames[2] == command) return Received{m->frames[2], m->frames[3]};
      }
    }
    return std::nullopt;
  }
  template <class T>
  std::optional<T> expect_decoded(std::chrono::milliseconds timeout = 5s) {
    auto r = expect(std::string(T::command), timeout);
    if (!r) return std::nullopt;
    auto d = proto::decode<T>(r->body);
    EXPECT_TRUE(d.ok()) << d.error().message;
    if (!d) return std::nullopt;
    return d.value();
  }
  template <class T>
  void reply(const T& message) {
    auto frames = proto::frames_of(proto::kWorkerProtocol, message);
    frames.insert(frames.begin(), peer_);
    ASSERT_TRUE(send_multipart(router_, frames));
  }
  // HELLO -> reply, then the first PULL.
  proto::Pull handshake() {
    auto hello = expect_decoded<proto::Hello>();
    EXPECT_TRUE(hello.has_value());
    proto::HelloReply r;
    r.rid = hello->rid;
    r.heartbeat_ms = 100;
    reply(r);
    auto pull = expect_decoded<proto::Pull>();
    EXPECT_TRUE(pull.has_value());
    return *pull;
  }
  // Reports until `n` distinct jobs reported; each confirmed.
  std::map<std::string, proto::Report> collect_reports(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::map<std::string, proto::Report> reports;
    auto deadline = steady_ms() + timeout.count();
    while (reports.size() < n && steady_ms() < deadline) {
      auto r = expect_decoded<proto::Report>(std::chrono::milliseconds(deadline - steady_ms()));
      if (!r) break;
      reports[r->job_id] = *r;
      proto::Confirm c;
      c.rid = r->rid;
      c.job_id = r->job_id;
      c.attempt = r->attempt;
      c.accepted = true;
      reply(c);
    }
    return reports;
  }
  std::vector<std::pair<std::string, std::string>> drain_events() {
    std::vector<std::pair<std::string, std::string>> out;
    while (auto m = recv_multipart(events_, 8, 8 << 20)) {
      if (m->frames.size() == 4) out.emplace_back(m->frames[0], m->frames[2]);
    }
    return out;
  }
  int seen(const std::string& command) const {
    auto it = seen_.find(command);
    return it == seen_.end() ? 0 : it->second;
  }

 private:
  zmq::socket_t router_;
  zmq::socket_t events_;
  std::string peer_;
  std::map<std::string, int> seen_;
};

inline proto::Assign assign(const proto::Pull& pull, const std::string& app, const std::vector<std::string>& tests) {
  proto::Assign a;
  a.rid = pull.rid;
  a.lease_id = "L-" + app;
  a.org_id = "acme";
  a.app_version_id = app;
  a.group_key = "acme/" + app + "/emulator";
  for (std::size_t i = 0; i < tests.size(); ++i) {
    a.jobs.push_back({"J" + app + std::to_string(i), tests[i], 1, proto::Priority::medium});
  }
  return a;
}

struct WorkerTest : ::testing::Test {
  zmq::context_t context{1};
  FakeBroker broker{context};
  qg::testing::TempDir dir;
  Settings settings;
  std::unique_ptr<Worker> worker;
  std::thread thread;
  int exit_code = -1;

  WorkerTest() {
    settings.broker = broker.endpoint();
    settings.events = broker.events_endpoint();
    settings.worker_id = "w1";
    settings.device_id = "dev1";
    settings.workdir = dir.path();
    settings.install_cmd = "echo installing {app_version_id} >> " + dir.path() + "/installs.log";
    settings.run_cmd =
        "echo running {test_path}; case {test_path} in *fail*) exit 3;; *slow*) sleep 1;; *hang*) sleep 100;; esac";
    settings.heartbeat = 100ms;
    settings.pull_wait = 300ms;
    settings.reply_timeout = 500ms;
    settings.report_resend = 200ms;
    settings.kill_grace = 200ms;
    settings.drain_timeout = 3s;
  }
  void start() {
    worker = std::make_unique<Worker>(settings, context, null_logger());
    thread = std::thread([this] { exit_code = worker->run(); });
  }
  int stop_and_join() {
    if (thread.joinable()) {
      worker->request_stop();
      if (auto bye = broker.expect_decoded<proto::Bye>(5s)) {
        proto::ByeReply r;
        r.rid = bye->rid;
        broker.reply(r);
      }
      thread.join();
    }
    return exit_code;
  }
  ~WorkerTest() override {
    if (thread.joinable()) {
      worker->request_stop();
      worker->request_stop();
      thread.join();
    }
  }
};

}  // namespace qg::worker::test

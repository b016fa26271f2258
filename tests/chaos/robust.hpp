#pragma once
// Helpers for the robustness tests: a typed protocol client (status, submit) on top of
// qg_cli's Client, an event-stream collector, and a hand-built worker DEALER for sending
// reports a real worker would not (late ones from a dead attempt), and whether a process is
// gone.

#include <signal.h>

#include <zmq.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "../e2e/cluster.hpp"
#include "qg/cli/client.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/proto/messages.hpp"

namespace qg::testing {

// Short timings shared by broker and scheduler (both apply lease and back-off settings).
inline std::vector<std::string> fast_store_args(int lease_ms, int backoff_base_ms = 100) {
  return {"--lease-ms",        std::to_string(lease_ms),
          "--backoff-base-ms", std::to_string(backoff_base_ms),
          "--backoff-jitter",  "0"};
}

// A cluster whose brokers and schedulers use a short lease and fast back-off.
inline ClusterOptions with_lease(int lease_ms, bool aof = false) {
  ClusterOptions options;
  options.aof = aof;
  options.broker_args = fast_store_args(lease_ms);
  options.scheduler_args = fast_store_args(lease_ms);
  return options;
}

inline std::vector<std::string> fast_worker_args(int heartbeat_ms = 200) {
  return {"--heartbeat-ms",     std::to_string(heartbeat_ms),
          "--pull-wait-ms",     "500",
          "--reply-timeout-ms", "1000",
          "--report-resend-ms", "500"};
}

// Typed requests to one broker's client endpoint. Not thread-safe.
class Api {
 public:
  explicit Api(const std::string& endpoint) : context_(1), client_(context_, endpoint) {}

  // Empty on any failure (no answer, ERROR reply).
  std::optional<std::vector<proto::Job>> try_status(const std::vector<std::string>& ids,
                                                    std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    std::vector<proto::Job> jobs;
    try {
      for (std::size_t i = 0; i < ids.size(); i += 1000) {
        proto::StatusRequest req;
        req.rid = client_.new_rid();
        req.job_ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(i),
                           ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + 1000)));
        auto reply = client_.call<proto::StatusReply>(req, timeout);
        if (!reply.missing.empty()) return std::nullopt;
        jobs.insert(jobs.end(), reply.jobs.begin(), reply.jobs.end());
      }
    } catch (const qg::Error&) {
      return std::nullopt;
    }
    return jobs;
  }

  std::vector<proto::Job> status(const std::vector<std::string>& ids) {
    for (int i = 0; i < 5; ++i) {
      if (auto jobs = try_status(ids)) return *jobs;
    }
    throw std::runtime_error("status failed");
  }

  // True when every job is in a final state.
  bool all_final(const std::vector<std::string>& ids) {
    auto jobs = try_status(ids);
    return jobs &&
           std::all_of(jobs->begin(), jobs->end(), [](const proto::Job& j) { return proto::is_final(j.status); });
  }

  // Submits; empty on failure. The idempotency key makes a resend safe.
  std::vector<std::string> submit(const std::string& org, const std::string& app, const std::vector<std::string>& tests,
                                  const std::string& key, std::uint32_t retries = 0,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(3),
                                  proto::Priority priority = proto::Priority::medium) {
    proto::SubmitRequest req;
    req.priority = priority;
    req.rid = client_.new_rid();
    req.org_id = org;
    req.app_version_id = app;
    req.tests = tests;
    req.idempotency_key = key;
    req.retries = retries;
    try {
      return client_.call<proto::SubmitReply>(req, timeout).job_ids;
    } catch (const qg::Error&) {
      return {};
    }
  }

  std::optional<proto::HealthReply> health(std::chrono::milliseconds timeout = std::chrono::seconds(1)) {
    proto::HealthRequest req;
    req.rid = client_.new_rid();
    try {
      return client_.call<proto::HealthReply>(req, timeout);
    } catch (const qg::Error&) {
      return std::nullopt;
    }
  }

 private:
  zmq::context_t context_;
  qg::cli::Client client_;
};

inline std::size_t count_status(const std::vector<proto::Job>& jobs, proto::JobStatus status) {
  return static_cast<std::size_t>(
      std::count_if(jobs.begin(), jobs.end(), [&](const proto::Job& j) { return j.status == status; }));
}

// Collects events from a broker's events-out. Call pump() (non-blocking) from wait_until.
class EventCollector {
 public:
  EventCollector(const std::string& endpoint, const std::vector<std::string>& prefixes) : context_(1) {
    socket_.emplace(context_, zmq::socket_type::sub);
    set_common_options(*socket_);
    socket_->set(zmq::sockopt::rcvhwm, 1000000);
    for (const auto& p : prefixes) socket_->set(zmq::sockopt::subscribe, p);
    socket_->connect(endpoint);
  }

  void pump() {
    while (auto message = recv_multipart(*socket_, 8, 8u << 20)) {
      const auto& f = message->frames;
      if (message->oversize || f.size() != 4) continue;
      ++received;
      if (f[2] == proto::WorkerEvent::command) {
        if (auto e = proto::decode<proto::WorkerEvent>(f[3])) workers.push_back(*e);
      } else if (f[2] == proto::JobEvent::command) {
        if (auto e = proto::decode<proto::JobEvent>(f[3])) jobs.push_back(*e);
      }
    }
  }

  bool saw_worker_state(const std::string& worker_id, const std::string& state) const {
    return std::any_of(workers.begin(), workers.end(),
                       [&](const proto::WorkerEvent& e) { return e.worker_id == worker_id && e.state == state; });
  }
  std::size_t count_worker_state(const std::string& state) const {
    return static_cast<std::size_t>(
        std::count_if(workers.begin(), workers.end(), [&](const proto::WorkerEvent& e) { return e.state == state; }));
  }

  std::vector<proto::WorkerEvent> workers;
  std::vector<proto::JobEvent> jobs;
  std::size_t received = 0;

 private:
  zmq::context_t context_;
  std::optional<zmq::socket_t> socket_;
};

// A hand-built worker connection: sends one REPORT and returns the CONFIRM (empty when none
// came within the timeout).
inline std::optional<proto::Confirm> send_report(const std::string& worker_endpoint, const proto::Report& report,
                                                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  zmq::context_t context(1);
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  set_common_options(dealer);
  dealer.set(zmq::sockopt::routing_id, "ghost-" + report.worker_id);
  dealer.connect(worker_endpoint);
  send_multipart(dealer, proto::frames_of(proto::kWorkerProtocol, report));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    while (auto message = recv_multipart(dealer, 8, 8u << 20)) {
      auto envelope = proto::parse_envelope(message->frames, proto::kWorkerProtocol);
      if (!envelope || envelope->command != proto::Confirm::command) continue;
      if (auto confirm = proto::decode<proto::Confirm>(envelope->body)) return *confirm;
    }
  }
  return std::nullopt;
}

// Gone or a zombie (killed, waiting to be reaped by whoever adopted it).
inline bool process_gone(int pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close == std::string::npos || (close + 2 < text.size() && text[close + 2] == 'Z');
}

inline std::string describe(const std::vector<proto::Job>& jobs) {
  std::string out;
  for (const auto& j : jobs) {
    out += j.id + " " + std::string(proto::to_string(j.status)) + " attempt " + std::to_string(j.attempt) + " on " +
           j.worker_id + (j.flaky ? " flaky" : "") + (j.last_error.empty() ? "" : " (" + j.last_error + ")") + "\n";
  }
  return out;
}

}  // namespace qg::testing

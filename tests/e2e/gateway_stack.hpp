#pragma once
// A running stack for the gateway's end-to-end tests: a Cluster (real qg-broker, workers) and a
// real qg-gateway process in front of it on a free port, with a tokens file holding an admin
// token and org tokens for `acme` and `globex`. Requests go over real HTTP (cpp-httplib's
// client). Everything is stopped by the destructor.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "cluster.hpp"

namespace qg::testing {

using Json = nlohmann::json;

inline const std::string kAdminToken = "admin-7f3a9c2e51d84b60";
inline const std::string kAcmeToken = "acme-0b8e44c1d9a27f35";
inline const std::string kGlobexToken = "globex-5c19d7e2a8f04b63";

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string text;
  Json body;  // parsed text; discarded when it is not JSON
  httplib::Headers headers;
  // error.code of an error body ("" otherwise).
  std::string code() const;
  std::string field() const;
};

struct GatewayOptions {
  ClusterOptions cluster;
  std::vector<std::string> gateway_args;  // extra qg-gateway flags
  bool tokens = true;                     // write and pass a tokens file
};

class GatewayStack {
 public:
  explicit GatewayStack(GatewayOptions options = {});
  ~GatewayStack();

  Cluster& cluster() { return cluster_; }
  ChildProcess& gateway() { return *gateway_; }
  int port() const { return port_; }
  std::string tokens_path() const { return cluster_.dir() + "/tokens"; }
  std::string gateway_log() const { return cluster_.log("gateway"); }

  // A request with `token` as bearer ("" = no Authorization header).
  HttpReply request(const std::string& method, const std::string& path, const std::string& body = "",
                    const std::string& token = kAdminToken, httplib::Headers headers = {});
  HttpReply get(const std::string& path, const std::string& token = kAdminToken) {
    return request("GET", path, "", token);
  }
  HttpReply post(const std::string& path, const Json& body, const std::string& token = kAdminToken,
                 httplib::Headers headers = {}) {
    return request("POST", path, body.dump(), token, std::move(headers));
  }
  // POST /api/v1/jobs for `tests` of org/app on `target`; the reply.
  HttpReply submit(const std::string& org, const std::string& app, const std::vector<std::string>& tests,
                   const std::string& target = "emulator", const std::string& token = kAdminToken);
  // GET /api/v1/jobs/{id} until its status is `status` (or `timeout`); true when it got there.
  bool wait_for_status(const std::string& job_id, const std::string& status,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  Cluster cluster_;
  std::unique_ptr<ChildProcess> gateway_;
  int port_ = 0;
};

// Starts qg-gateway with `args` (logging to `log_path`) and returns its port once it printed
// its URL, or 0 when it did not within 10 s.
int start_gateway(std::unique_ptr<ChildProcess>& process, const std::vector<std::string>& args,
                  const std::string& log_path);

// An event stream read in a thread: everything received so far, until stop() or destruction.
class EventStream {
 public:
  EventStream(int port, const std::string& query, const std::string& token, const std::string& last_event_id = "");
  ~EventStream();
  std::string text() const;
  int status() const { return status_.load(); }
  // Waits until the text contains `needle`.
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  void stop();

  struct Event {
    std::string id, type, data;
  };
  // The events received (comment and id-only lines left out).
  std::vector<Event> events() const;

 private:
  mutable std::mutex mutex_;
  std::string text_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> status_{0};
  std::thread thread_;
};

}  // namespace qg::testing

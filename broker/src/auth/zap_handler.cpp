// The ZAP handler's thread: requests in, 200 with a user id or 400 out (contract in
// zap_handler.hpp).
#include "zap_handler.hpp"

#include <zmq.h>

#include <array>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "qg/common/zmq_util.hpp"

namespace qg::broker {
namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr std::int64_t kRefusalLogIntervalMs = 1000;

std::int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The plane whose keys a domain admits; false for a domain that is not one of ours.
bool plane_of(const std::string& domain, KeyPlane& plane) {
  if (domain == kClientsDomain || domain == kEventsOutDomain) {
    plane = KeyPlane::clients;
    return true;
  }
  if (domain == kWorkersDomain || domain == kEventsInDomain) {
    plane = KeyPlane::workers;
    return true;
  }
  return false;
}

std::string z85_of(const std::string& key) {
  if (key.size() != 32) return "(not a key)";
  std::array<char, 41> text{};
  if (zmq_z85_encode(text.data(), reinterpret_cast<const std::uint8_t*>(key.data()), key.size()) == nullptr) {
    return "(not a key)";
  }
  return std::string(text.data());
}

}  // namespace

ZapHandler::ZapHandler(zmq::context_t& context, KeyDirs dirs, std::shared_ptr<spdlog::logger> log,
                       BrokerCounters& counters, const ConnectionTable& connections)
    : dirs_(std::move(dirs)),
      log_(std::move(log)),
      keys_(KeyTable::load(dirs_, *log_, true)),
      socket_(context, zmq::socket_type::rep),
      counters_(counters),
      connections_(connections) {
  start();
  log_->info("CURVE: {} client keys from {}, {} worker and scheduler keys from {}", keys_.size(KeyPlane::clients),
             dirs_.clients.string(), keys_.size(KeyPlane::workers), dirs_.workers.string());
}

ZapHandler::ZapHandler(zmq::context_t& context, std::shared_ptr<spdlog::logger> log, BrokerCounters& counters,
                       const ConnectionTable& connections)
    : null_mode_(true),
      log_(std::move(log)),
      socket_(context, zmq::socket_type::rep),
      counters_(counters),
      connections_(connections) {
  start();
}

void ZapHandler::start() {
  set_common_options(socket_);
  socket_.bind("inproc://zeromq.zap.01");
  thread_ = std::thread([this] { serve(); });
}

void ZapHandler::bar_from_events(const std::string& user_id, std::chrono::steady_clock::time_point until) {
  std::lock_guard lock(barred_mutex_);
  barred_[user_id] = until;
}

bool ZapHandler::barred(const std::string& user_id) {
  std::lock_guard lock(barred_mutex_);
  const auto it = barred_.find(user_id);
  if (it == barred_.end()) return false;
  if (std::chrono::steady_clock::now() < it->second) return true;
  barred_.erase(it);
  return false;
}

ZapHandler::~ZapHandler() {
  stop_ = true;
  thread_.join();
}

void ZapHandler::serve() {
  while (!stop_) {
    if (reload_.exchange(false)) reload();
    std::array<zmq::pollitem_t, 1> items = {{{socket_.handle(), 0, ZMQ_POLLIN, 0}}};
    try {
      zmq::poll(items.data(), items.size(), kPollInterval);
      if ((items[0].revents & ZMQ_POLLIN) != 0) answer_one();
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      log_->error("ZAP handler: {}", e.what());
    }
  }
}

void ZapHandler::answer_one() {
  // A request: version, request id, domain, address, routing id, mechanism, credentials.
  auto request = recv_multipart(socket_, 16, 4096);
  if (!request) return;
  auto& f = request->frames;
  const std::string request_id = f.size() > 1 ? f[1] : std::string();
  std::string status = "400";
  std::string text = "key not admitted";
  std::string user_id;
  KeyPlane plane{};
  const char* over_limit = nullptr;
  if (request->oversize || f.size() < 6 || f[0] != "1.0") {
    status = "500";
    text = "malformed ZAP request";
  } else if (const auto port = port_of_domain(f[2]); port && (over_limit = connections_.over_limit(*port, f[3]))) {
    text = "connection limit";
  } else if (null_mode_) {
    if (f[5] == "NULL" && port) {
      status = "200";
      text = "OK";
    }
  } else if (f.size() < 7 || f[5] != "CURVE" || !plane_of(f[2], plane)) {
    text = "CURVE required";
  } else if (const auto* identity = keys_.find(plane, f[6])) {
    if (f[2] == kEventsOutDomain && barred(identity->user_id())) {
      text = "barred from events-out for a while: subscribed to other orgs' events";
    } else {
      status = "200";
      text = "OK";
      user_id = identity->user_id();
    }
  }
  if (over_limit != nullptr) {
    counters_.connections_refused.fetch_add(1, std::memory_order_relaxed);
    note_limit(f[2], f[3], over_limit);
  } else if (status == "200") {
    counters_.handshakes_admitted.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.handshakes_refused.fetch_add(1, std::memory_order_relaxed);
    note_refusal(f.size() > 2 ? f[2].c_str() : "", f.size() > 3 ? f[3] : std::string(), f.size() > 6 ? f[6] : "");
  }
  const std::array<std::string_view, 6> reply = {"1.0", request_id, status, text, user_id, ""};
  (void)send_frames(socket_, reply);
}

void ZapHandler::note_refusal(const char* domain, const std::string& address, const std::string& key) {
  const auto now = steady_now_ms();
  if (now - last_refusal_log_ms_ < kRefusalLogIntervalMs) {
    ++unlogged_refusals_;
    return;
  }
  last_refusal_log_ms_ = now;
  std::string domain_text(domain);
  if (domain_text.size() > 32) domain_text.resize(32);
  for (auto& c : domain_text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  log_->warn("refused a connection on {} from {}: public key {} is not admitted there{}", domain_text, address,
             z85_of(key),
             unlogged_refusals_ > 0 ? " (and " + std::to_string(unlogged_refusals_) + " more since the last line)"
                                    : std::string());
  unlogged_refusals_ = 0;
}

void ZapHandler::note_limit(const std::string& domain, const std::string& address, const char* why) {
  const auto now = steady_now_ms();
  if (last_limit_log_ms_ != 0 && now - last_limit_log_ms_ < 10 * kRefusalLogIntervalMs) {
    ++unlogged_limits_;
    return;
  }
  last_limit_log_ms_ = now;
  const auto& limits = connections_.limits();
  log_->warn(
      "connection limit: refused a handshake on {} from {}: {}{}. Limits: {} per address, {} per port "
      "(--max-connections-per-peer, --max-connections)",
      domain, address, why,
      unlogged_limits_ > 0 ? " (and " + std::to_string(unlogged_limits_) + " more since the last line)" : std::string(),
      limits.per_peer, limits.total);
  unlogged_limits_ = 0;
}

void ZapHandler::reload() {
  if (null_mode_) return;
  keys_ = KeyTable::load(dirs_, *log_, false);
  counters_.key_reloads.fetch_add(1, std::memory_order_relaxed);
  log_->info("CURVE keys read again: {} client keys, {} worker and scheduler keys (connections already made stay up)",
             keys_.size(KeyPlane::clients), keys_.size(KeyPlane::workers));
}

}  // namespace qg::broker

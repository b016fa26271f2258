// The brokers' event streams into the buffer; the contract is in event_feed.hpp.
#include "event_feed.hpp"

#include <nlohmann/json.hpp>

#include "qg/common/clock.hpp"

namespace qg::gateway {

namespace {

using Json = nlohmann::ordered_json;

constexpr std::size_t kMaxSources = 65536;  // sequence state kept; past it, all is forgotten at once

std::string dump(const Json& doc) { return doc.dump(-1, ' ', false, Json::error_handler_t::replace); }

StoredEvent job_event(const proto::JobEvent& e) {
  Json d = Json::object();
  d["source"] = e.source;
  d["seq"] = e.seq;
  d["job_id"] = e.job_id;
  d["org_id"] = e.org_id;
  d["app_version_id"] = e.app_version_id;
  d["attempt"] = e.attempt;
  d["status"] = proto::to_string(e.status);
  d["worker_id"] = e.worker_id;
  d["message"] = e.message;
  d["at_ms"] = e.at_ms;
  d["org_seq"] = e.org_seq;
  d["test_path"] = e.test_path;
  if (e.target) d["target"] = proto::to_string(*e.target);
  if (e.priority) d["priority"] = proto::to_string(*e.priority);
  return {0, "job", e.org_id, e.app_version_id, e.job_id, dump(d)};
}

StoredEvent worker_event(const proto::WorkerEvent& e) {
  Json d = Json::object();
  d["source"] = e.source;
  d["seq"] = e.seq;
  d["worker_id"] = e.worker_id;
  d["state"] = e.state;
  d["at_ms"] = e.at_ms;  // lease_id left out: no client is ever sent a lease id
  return {0, "worker", "", "", "", dump(d)};
}

}  // namespace

EventFeed::EventFeed(zmq::context_t& context, std::vector<std::string> endpoints, CurveClientKeys keys,
                     EventBuffer& buffer, GatewayMetrics& metrics, std::shared_ptr<spdlog::logger> logger,
                     PrefixLookup prefix_of)
    : context_(context),
      endpoints_(std::move(endpoints)),
      keys_(std::move(keys)),
      buffer_(buffer),
      metrics_(metrics),
      logger_(std::move(logger)),
      prefix_of_(std::move(prefix_of)),
      prefix_known_(endpoints_.size(), !keys_.enabled() || !prefix_of_) {}

std::vector<std::string> EventFeed::look_up_prefixes(client::Subscriber* subscriber) {
  std::vector<std::string> found;
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    if (prefix_known_[i]) continue;
    try {
      auto prefix = prefix_of_(i);
      prefix_known_[i] = true;
      if (subscriber) subscriber->add_prefix(prefix);
      found.push_back(std::move(prefix));
    } catch (const std::exception& e) {
      logger_->warn("event stream {}: no event prefix from its broker yet ({}); asking again shortly", endpoints_[i],
                    e.what());
    }
  }
  return found;
}

EventFeed::~EventFeed() { stop(); }

void EventFeed::start() {
  if (thread_.joinable()) return;
  // The socket is made here, not in the thread, so that a bad endpoint fails start().
  auto prefixes = look_up_prefixes(nullptr);
  auto subscriber = std::make_shared<client::Subscriber>(context_, endpoints_.at(0), keys_,
                                                         prefixes.empty() ? std::string() : prefixes.front());
  for (std::size_t i = 1; i < prefixes.size(); ++i) subscriber->add_prefix(prefixes[i]);
  for (std::size_t i = 1; i < endpoints_.size(); ++i) subscriber->connect(endpoints_[i]);
  subscriber->subscribe("job.");
  subscriber->subscribe("worker.");
  thread_ = std::thread([this, subscriber] {
    std::uint64_t unreadable_seen = 0;
    auto next_lookup_ms = steady_ms() + 5000;
    while (!stopping_.load()) {
      if (steady_ms() >= next_lookup_ms) {
        (void)look_up_prefixes(subscriber.get());
        next_lookup_ms = steady_ms() + 5000;
      }
      auto event = subscriber->next(std::chrono::milliseconds(200));
      if (subscriber->unreadable() != unreadable_seen) {
        metrics_.events_unreadable += subscriber->unreadable() - unreadable_seen;
        unreadable_seen = subscriber->unreadable();
      }
      if (!event) continue;
      ++metrics_.events_received;
      last_event_ms_.store(SystemClock::instance().now_ms());
      auto stored = translate(*event);
      if (!stored.empty()) {  // not a repeat: count it once
        if (event->job) metrics_.job_flow.observe(*event->job);
        if (event->worker) metrics_.job_flow.observe(*event->worker);
      }
      for (auto& s : stored) buffer_.push(std::move(s));
    }
  });
}

void EventFeed::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

std::vector<StoredEvent> EventFeed::translate(const client::Event& event) {
  std::vector<StoredEvent> out;
  std::string source;
  std::uint64_t seq = 0;
  if (event.job) {
    source = event.job->source;
    seq = event.job->seq;
  } else if (event.worker) {
    source = event.worker->source;
    seq = event.worker->seq;
  } else {
    return out;
  }
  if (seq != 0 && !source.empty()) {
    if (last_seq_.size() >= kMaxSources && !last_seq_.contains(source)) last_seq_.clear();
    auto [it, fresh] = last_seq_.try_emplace(source, seq);
    if (!fresh) {
      const std::uint64_t last = it->second;
      if (seq == last) {
        ++metrics_.events_duplicate;
        return out;
      }
      if (seq > last + 1) {
        ++metrics_.event_gaps;
        Json d = Json::object();
        d["reason"] = "events lost upstream";
        d["source"] = source;
        d["expected_seq"] = last + 1;
        d["seq"] = seq;
        out.push_back({0, "resync", "", "", "", dump(d)});
        logger_->warn("events from {} lost upstream: seq {} after {}", source, seq, last);
      }
      it->second = seq;  // a lower seq: the source restarted, count from it
    }
  }
  out.push_back(event.job ? job_event(*event.job) : worker_event(*event.worker));
  return out;
}

}  // namespace qg::gateway

#pragma once
// Reads the brokers' event streams (JOB and WORKER events; heartbeats are left out: each one
// repeats its worker's full state once a second and would crowd the buffer, and WORKERS reads
// the same state) into the EventBuffer, as JSON with the protocol's field names.
//
// Loss is never silent: when a source's `seq` jumps (PUB/SUB dropped events upstream,
// docs/protocol.md 8.3) a `resync` event is stored before the next one, so every stream tells
// its client to read the state again. The same (source, seq) arriving twice (a publisher
// connected to two brokers) is stored once; a lower seq is a restarted source.
//
// With CURVE keys the brokers publish under capability prefixes (docs/protocol.md 8.1): the
// feed asks each broker for its prefix (EVENTS_TOPIC, through `prefix_of`, broker i for event
// stream i) before it subscribes, and asks again every few seconds for a broker that did not
// answer, so a broker that was down at start is read once it is up.
//
// One thread of its own, started by start() and joined by stop() (or the destructor).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <spdlog/logger.h>
#include <zmq.hpp>

#include "event_buffer.hpp"
#include "metrics.hpp"
#include "qg/client/client.hpp"

namespace qg::gateway {

class EventFeed {
 public:
  // The capability prefix of broker `index`; throws when it cannot be had now.
  using PrefixLookup = std::function<std::string(std::size_t index)>;

  EventFeed(zmq::context_t& context, std::vector<std::string> endpoints, CurveClientKeys keys, EventBuffer& buffer,
            GatewayMetrics& metrics, std::shared_ptr<spdlog::logger> logger, PrefixLookup prefix_of = {});
  ~EventFeed();
  void start();
  void stop();
  std::int64_t last_event_ms() const { return last_event_ms_.load(); }  // 0 = none yet

  // Turns one received event into what the buffer stores, updating the per-source sequence
  // state. Returns the events to store in order (a resync first when a gap was seen), or none
  // for a duplicate or an event the feed does not keep. Public for tests.
  std::vector<StoredEvent> translate(const client::Event& event);

 private:
  void run();
  // Asks for the prefixes still unknown; adds those found to `subscriber` when it is given.
  std::vector<std::string> look_up_prefixes(client::Subscriber* subscriber);

  zmq::context_t& context_;
  std::vector<std::string> endpoints_;
  CurveClientKeys keys_;
  EventBuffer& buffer_;
  GatewayMetrics& metrics_;
  std::shared_ptr<spdlog::logger> logger_;
  PrefixLookup prefix_of_;
  std::vector<bool> prefix_known_;                           // per event stream; feed thread only once started
  std::unordered_map<std::string, std::uint64_t> last_seq_;  // per source; feed thread only
  std::atomic<bool> stopping_{false};
  std::atomic<std::int64_t> last_event_ms_{0};
  std::thread thread_;
};

}  // namespace qg::gateway

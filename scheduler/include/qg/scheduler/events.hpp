#pragma once
// Publishing events on the status stream. An EventPublisher stamps each event with its
// source id and the next sequence number of that source (a JOB event also with the next
// number of its org, org_seq), encodes it and hands the frames
// [topic][QGE1][command][body] to an EventSink. Not thread-safe: one owner thread.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "qg/proto/event_seq.hpp"
#include "qg/proto/messages.hpp"

namespace qg::sched {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Sends one event message. Must not block; a dropped event is acceptable (PUB semantics).
  virtual void send(std::vector<std::string> frames) = 0;
};

// Sends on a ZeroMQ PUB or XPUB socket the caller owns.
class ZmqEventSink final : public EventSink {
 public:
  explicit ZmqEventSink(zmq::socket_t& socket) : socket_(socket) {}
  void send(std::vector<std::string> frames) override;

 private:
  zmq::socket_t& socket_;
};

// Discards events (tests, or a scheduler run without --events).
class NullEventSink final : public EventSink {
 public:
  void send(std::vector<std::string> /*frames*/) override {}
};

class EventPublisher {
 public:
  EventPublisher(EventSink& sink, std::string source) : sink_(sink), source_(std::move(source)) {}

  // Fills source, seq, org_seq and publishes on "job.<org_id>.<job_id>".
  void job(proto::JobEvent event);
  // Fills source, seq and publishes on "worker.<worker_id>".
  void worker(proto::WorkerEvent event);
  // Convenience: a job event from a job record.
  void job_status(const proto::Job& job, std::int64_t at_ms, std::string message = {});

  std::uint64_t last_seq() const { return seq_; }
  const std::string& source() const { return source_; }

 private:
  EventSink& sink_;
  std::string source_;
  std::uint64_t seq_ = 0;
  proto::OrgSeqCounter org_seqs_;
};

}  // namespace qg::sched

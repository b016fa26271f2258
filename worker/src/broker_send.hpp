#pragma once
// How a message leaves the worker, shared by the files that define Worker's members:
// Worker::send puts one protocol message on the DEALER to the broker and returns false when it
// could not be queued (the DEALER is `immediate`, so that means no live connection; the caller
// tries again after kSendRetryMs); Worker::publish puts one event on the PUB and only logs a
// failure (PUB delivery is best effort anyway). Both are templates over the message type and
// stay inline here: they run for every heartbeat, progress, report and event.

#include <cstdint>
#include <string>

#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/worker/worker.hpp"

namespace qg::worker {

inline constexpr std::int64_t kSendRetryMs = 100;  // a send that could not be queued (not connected yet)

template <class T>
bool Worker::send(const T& message) {
  try {
    return send_multipart(*dealer_, proto::frames_of(proto::kWorkerProtocol, message));
  } catch (const zmq::error_t& e) {
    log_->warn("send {} failed: {}", T::command, e.what());
    return false;
  }
}

template <class T>
void Worker::publish(const std::string& topic, const T& message) {
  try {
    send_multipart(*pub_, {topic, std::string(proto::kEventProtocol), std::string(T::command), proto::encode(message)});
  } catch (const zmq::error_t& e) {
    log_->warn("publish {} failed: {}", topic, e.what());
  }
}

}  // namespace qg::worker

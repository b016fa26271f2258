#include "qg/scheduler/events.hpp"

#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"

namespace qg::sched {

void ZmqEventSink::send(std::vector<std::string> frames) { (void)send_multipart(socket_, frames); }

void EventPublisher::job(proto::JobEvent event) {
  event.source = source_;
  event.seq = ++seq_;
  event.org_seq = org_seqs_.next(event.org_id);
  std::string topic = "job." + event.org_id + "." + event.job_id;
  sink_.send({std::move(topic), std::string(proto::kEventProtocol), std::string(proto::JobEvent::command),
              proto::encode(event)});
}

void EventPublisher::worker(proto::WorkerEvent event) {
  event.source = source_;
  event.seq = ++seq_;
  std::string topic = "worker." + event.worker_id;
  sink_.send({std::move(topic), std::string(proto::kEventProtocol), std::string(proto::WorkerEvent::command),
              proto::encode(event)});
}

void EventPublisher::job_status(const proto::Job& job, std::int64_t at_ms, std::string message) {
  proto::JobEvent event;
  event.job_id = job.id;
  event.org_id = job.org_id;
  event.app_version_id = job.app_version_id;
  event.attempt = job.attempt;
  event.status = job.status;
  event.worker_id = job.worker_id;
  event.message = message.empty() ? job.last_error : std::move(message);
  event.at_ms = at_ms;
  event.test_path = job.test_path;
  event.target = job.target;
  event.priority = job.priority;
  this->job(std::move(event));
}

}  // namespace qg::sched

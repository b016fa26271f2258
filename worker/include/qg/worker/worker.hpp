#pragma once
// qg-worker: one device slot speaking protocol QGW1 to the broker.
//
// Life: HELLO -> (PULL -> ASSIGN | NOWORK)* ; for each assigned group: install once (unless
// the build is already on this device and no reinstall was asked, or there is no install
// command), then run each test in order, each as its own process group with a timeout; every
// final result is REPORTed and resent until the broker CONFIRMs it. HEARTBEAT goes out every
// heartbeat interval on the DEALER and on the event PUB, with job events beside it.
//
// Thread contract: single-threaded. run() owns both sockets and every child process and must
// be called once, from one thread. Commands run as child processes watched by the same
// zmq::poll loop (each command's pidfd is polled beside the DEALER), so heartbeats and CANCEL
// are handled while a test runs and the next test starts as soon as one ends. request_stop()
// is the one member that may be called from anywhere, including a signal handler (it only
// bumps a lock-free atomic).
//
// Stopping: the first request_stop() drains (the running test finishes and is reported, the
// unstarted jobs are RELEASEd at once, BYE, run() returns 0); the second kills the running
// test, releases everything unfinished and returns 130 at once.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/logger.h>
#include <zmq.hpp>

#include "qg/common/clock.hpp"
#include "qg/common/ids.hpp"
#include "qg/proto/event_seq.hpp"
#include "qg/proto/messages.hpp"
#include "qg/worker/command_template.hpp"
#include "qg/worker/process.hpp"
#include "qg/worker/secret_mask.hpp"
#include "qg/worker/settings.hpp"

namespace qg::worker {

// What the worker did, for tests and the exit log line. Read after run() returned (or from
// the run() thread).
struct WorkerCounters {
  std::uint64_t hellos_sent = 0;
  std::uint64_t pulls_sent = 0;
  std::uint64_t groups_assigned = 0;
  std::uint64_t installs_run = 0;
  std::uint64_t installs_skipped = 0;
  std::uint64_t installs_failed = 0;
  std::uint64_t jobs_finished = 0;
  std::uint64_t reports_confirmed = 0;
  std::uint64_t reports_rejected = 0;
  std::uint64_t jobs_released = 0;
  std::uint64_t cancels = 0;
  std::uint64_t protocol_errors = 0;  // unreadable messages from the broker
};

class Worker {
 public:
  // `context` must outlive the worker. Throws UnsafeTemplate (command_template.hpp) for a
  // command template it will not run, qg::ConfigError for other unusable settings (no worker
  // id, a device id that breaks the protocol's rules, workdir that cannot be created). Reads the
  // environment once, here, for the secrets to mask (settings.mask_env).
  Worker(Settings settings, zmq::context_t& context, std::shared_ptr<spdlog::logger> logger,
         const Clock& clock = SystemClock::instance());
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs until stopped. Returns 0 after a drain, 130 after an abort (second stop request),
  // 3 when the broker rejected the HELLO as invalid (a configuration error).
  int run();

  // Async-signal-safe; see the header comment.
  void request_stop() noexcept { stop_requests_.fetch_add(1, std::memory_order_relaxed); }

  const WorkerCounters& counters() const { return counters_; }
  const std::set<std::string>& installed() const { return installed_; }

 private:
  enum class SlotState { pending, running, done, released };
  struct Slot {
    proto::AssignedJob job;
    SlotState state = SlotState::pending;
    bool cancel_requested = false;
    std::string log_path;
  };
  struct Group {
    proto::Assign assign;
    std::vector<Slot> slots;
    bool installing = false;
    std::optional<std::size_t> running;  // index of the running test
    std::optional<RunningCommand> command;
    std::string install_log;
    // The install this group ran, until a report carries it (REPORT install_ms).
    std::optional<std::int64_t> install_ms;
  };
  struct PendingReport {
    proto::Report report;
    std::int64_t next_send_ms = 0;
  };
  struct PendingRelease {
    proto::Release release;
    std::int64_t next_send_ms = 0;
  };

  // Sockets and sending (src/broker_link.cpp; send and publish in src/broker_send.hpp).
  void open_sockets();
  template <class T>
  bool send(const T& message);
  template <class T>
  void publish(const std::string& topic, const T& message);
  void send_hello();
  void send_pull();
  void send_heartbeat();
  void send_release(const std::string& lease_id, std::vector<std::string> job_ids);
  void send_progress(const Slot& slot, proto::JobStatus status);
  void publish_job_event(const Slot& slot, proto::JobStatus status, const std::string& message);

  // Receiving (src/broker_link.cpp; on_cancel in src/group_run.cpp).
  void drain_socket();
  void dispatch(const std::vector<std::string>& frames);
  void on_assign(proto::Assign assign);
  void on_cancel(const proto::CancelJob& cancel);
  void on_error(const proto::ErrorReply& error);

  // The group (src/group_run.cpp).
  void start_group(proto::Assign assign);
  void drive_group();
  void start_next_job();
  void finish_install(const CommandOutcome& outcome);
  void finish_job(std::size_t index, proto::JobStatus status, std::int32_t exit_code, std::int64_t duration_ms,
                  std::string log_tail, std::string error);
  std::map<std::string, std::string> template_values(const Slot* slot) const;
  std::map<std::string, std::string> child_env(const Slot* slot) const;
  // Why the group (org, build, lease) or one job of it must not run: the first field that breaks
  // the protocol's rules and how; empty when it may.
  std::string refusal(const proto::Assign& assign) const;
  std::string refusal(const proto::AssignedJob& job) const;

  // Stopping and the loop (src/worker_loop.cpp).
  void begin_drain();
  void abort_now();

  void timers();
  // How long the loop may wait for traffic before a timer or the running command needs it.
  std::int64_t loop_wait_ms() const;
  // The builds on this device and the group's build (src/group_run.cpp).
  void load_installed();
  void save_installed() const;
  std::string build_key() const;
  std::string next_rid();
  // <workdir>/running-group: the process group of the command running now (CommandSpec::group_record).
  std::string group_record_path() const;

  Settings settings_;
  CommandTemplate install_cmd_;  // empty = no install step
  CommandTemplate run_cmd_;
  SecretMask mask_;
  zmq::context_t& context_;
  std::shared_ptr<spdlog::logger> log_;
  const Clock& clock_;
  IdGenerator ids_;
  std::optional<zmq::socket_t> dealer_;
  std::optional<zmq::socket_t> pub_;

  std::atomic<int> stop_requests_{0};
  int stops_seen_ = 0;
  bool draining_ = false;
  bool aborting_ = false;
  int exit_code_ = -1;  // >= 0: leave the loop with it

  bool registered_ = false;
  std::string hello_rid_;
  std::int64_t hello_sent_ms_ = 0;
  std::int64_t next_hello_ms_ = 0;
  std::int64_t next_log_prune_ms_ = 0;  // steady ms; the first check is at start
  std::string pull_rid_;
  std::int64_t pull_sent_ms_ = 0;
  bool pull_outstanding_ = false;
  std::int64_t next_pull_ms_ = 0;
  std::int64_t heartbeat_ms_ = 1000;
  std::int64_t next_heartbeat_ms_ = 0;
  std::uint64_t heartbeat_seq_ = 0;
  std::uint64_t event_seq_ = 0;
  proto::OrgSeqCounter org_seqs_;  // org_seq of the JOB events it publishes
  std::string bye_rid_;
  std::int64_t bye_sent_ms_ = 0;
  std::int64_t drain_started_ms_ = 0;

  std::optional<Group> group_;
  std::map<std::pair<std::string, std::uint32_t>, PendingReport> reports_;
  std::map<std::string, PendingRelease> releases_;
  std::set<std::string> installed_;
  WorkerCounters counters_;
};

}  // namespace qg::worker

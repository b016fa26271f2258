#pragma once
// Running one shell command without blocking the caller.
//
// A RunningCommand is `/bin/sh -c <command>` started with fork/exec in a process group of
// its own (setpgid), stdin from /dev/null, stdout and stderr appended to a log file. The
// caller drives it by calling poll() from its event loop (the worker calls it every few
// tens of milliseconds from its zmq::poll loop); nothing here starts a thread or blocks.
//
// Killing (timeout or cancel) sends SIGTERM to the whole process group, then SIGKILL to the
// group when it has not gone after `kill_grace`. When the leader exits (for any reason) the
// rest of its group is sent SIGKILL before the leader is reaped, so no test leaves stray
// processes behind and the group id cannot be reused while it is signalled.
//
// Thread contract: one thread owns a RunningCommand; it is not thread-safe. It is movable,
// not copyable. The destructor kills the group (SIGKILL) and reaps the leader.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace qg::worker {

struct CommandSpec {
  std::string command;                         // shell text for /bin/sh -c
  std::string log_path;                        // stdout+stderr appended here; empty = /dev/null
  std::string working_dir;                     // empty = the worker's own
  std::map<std::string, std::string> env;      // added to (or overriding) the worker's environment
  std::chrono::milliseconds timeout{0};        // 0 = no timeout
  std::chrono::milliseconds kill_grace{1000};  // SIGTERM -> SIGKILL delay
};

struct CommandOutcome {
  enum class Kind { exited, signalled, timed_out, cancelled };
  Kind kind = Kind::exited;
  int exit_code = 0;  // exit status, or 128 + signal number when killed by a signal
  std::int64_t duration_ms = 0;
};

class RunningCommand {
 public:
  // Starts the command. Throws std::system_error when the log file cannot be opened or fork
  // fails; an exec failure shows up as exit code 127 with the reason in the log.
  explicit RunningCommand(const CommandSpec& spec);
  ~RunningCommand();
  RunningCommand(const RunningCommand&) = delete;
  RunningCommand& operator=(const RunningCommand&) = delete;
  RunningCommand(RunningCommand&& other) noexcept;
  RunningCommand& operator=(RunningCommand&& other) noexcept;

  // Non-blocking. Enforces the timeout and the kill grace, and returns the outcome once the
  // leader has exited and been reaped; empty while it is still running. After an outcome was
  // returned, later calls return the same outcome.
  std::optional<CommandOutcome> poll();

  // Starts killing the group (SIGTERM now, SIGKILL after the grace); the outcome will be
  // `cancelled` unless it had already finished. Idempotent.
  void cancel();

  // SIGKILL to the group at once (the worker's second Ctrl-C). Outcome as for cancel().
  void kill_now();

  int pid() const { return pid_; }
  bool finished() const { return outcome_.has_value(); }

 private:
  void start_kill(CommandOutcome::Kind reason);

  int pid_ = -1;
  std::int64_t started_ms_ = 0;
  std::int64_t deadline_ms_ = 0;  // 0 = none
  std::int64_t kill_grace_ms_ = 1000;
  std::int64_t term_sent_ms_ = 0;  // 0 = not killing
  bool sigkill_sent_ = false;
  std::optional<CommandOutcome::Kind> kill_reason_;
  std::optional<CommandOutcome> outcome_;
};

// Runs a command to completion, polling every `step` (tests and simple tools).
CommandOutcome run_to_completion(const CommandSpec& spec,
                                 std::chrono::milliseconds step = std::chrono::milliseconds(5));

}  // namespace qg::worker

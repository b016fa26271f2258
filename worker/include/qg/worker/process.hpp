#pragma once
// Running one command without blocking the caller.
//
// A RunningCommand is a program started with fork/exec from an argv (or `/bin/sh -c <command>`
// when no argv is given) in a process group of its own (setpgid), stdin from /dev/null, stdout
// and stderr appended to a log file. The
// caller drives it by calling poll() from its event loop; nothing here starts a thread or
// blocks. Completion is an event, not a poll step: exit_fd() is a pidfd that becomes
// readable the moment the leader exits, and next_deadline_ms() says when poll() next has
// timed work (timeout, SIGKILL after the grace). A caller that waits on both calls poll()
// exactly when there is something to do. On a kernel without pidfd_open (before Linux 5.3)
// exit_fd() is -1 and the caller falls back to calling poll() on a short period.
//
// Killing (timeout or cancel) sends SIGTERM to the whole process group, then SIGKILL to the
// group when it has not gone after `kill_grace`. When the leader exits (for any reason) the
// rest of its group is sent SIGKILL before the leader is reaped, so no test leaves stray
// processes behind and the group id cannot be reused while it is signalled.
//
// The group's leader is a guard (a fork of the worker named qg-test-guard) that runs the
// program in the group and ends exactly as the program ends (its exit code, or the same
// signal), so pid() and the outcome are the guard's and say what the program did. The guard
// is what makes the group die with its worker: when the worker dies, even by SIGKILL, the
// guard kills the whole group at once, grandchildren included (src/process_child.hpp).
//
// Thread contract: one thread owns a RunningCommand; it is not thread-safe. It is movable,
// not copyable. The destructor kills the group (SIGKILL) and reaps the leader.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qg::worker {

struct CommandSpec {
  std::vector<std::string> argv;               // the program and its arguments, run without a shell
  std::string command;                         // when argv is empty: shell text for /bin/sh -c
  std::string log_path;                        // stdout+stderr appended here; empty = /dev/null
  std::string working_dir;                     // empty = the worker's own
  std::map<std::string, std::string> env;      // added to (or overriding) the worker's environment
  std::chrono::milliseconds timeout{0};        // 0 = no timeout
  std::chrono::milliseconds kill_grace{1000};  // SIGTERM -> SIGKILL delay
  // When set: a file naming the command's process group while it runs (removed once it has
  // been reaped), for kill_recorded_group() in a worker started after this one died.
  std::string group_record;
};

struct CommandOutcome {
  enum class Kind { exited, signalled, timed_out, cancelled };
  Kind kind = Kind::exited;
  int exit_code = 0;  // exit status, or 128 + signal number when killed by a signal
  std::int64_t duration_ms = 0;
};

class RunningCommand {
 public:
  // Starts the command. argv[0] without a '/' is looked up in the PATH of the child's
  // environment (spec.env, else the worker's). Throws std::system_error when the log file cannot
  // be opened or fork fails; an exec failure shows up as exit code 127 (program not found) or
  // 126 (found but not executable) with the reason in the log, as a shell would report it.
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

  // A descriptor that polls readable (POLLIN) once the leader has exited; -1 when the kernel
  // offers none. Owned by this object: valid until it is destroyed or moved from; do not
  // read or close it. It stays readable after the exit, so poll() must be called to make
  // progress.
  int exit_fd() const { return pidfd_; }

  // Steady-clock milliseconds at which poll() next has timed work to do (the timeout, or the
  // SIGKILL that follows SIGTERM after the grace); empty when nothing is scheduled or the
  // outcome is known.
  std::optional<std::int64_t> next_deadline_ms() const;

  // Blocks until the leader has exited or `timeout` has passed (for shutdown paths and
  // simple tools; an event loop should poll exit_fd() instead). Returns poll()'s result.
  std::optional<CommandOutcome> wait_for(std::chrono::milliseconds timeout);

 private:
  void start_kill(CommandOutcome::Kind reason);

  void close_pidfd();

  int pid_ = -1;
  int pidfd_ = -1;
  std::int64_t started_ms_ = 0;
  std::int64_t deadline_ms_ = 0;  // 0 = none
  std::int64_t kill_grace_ms_ = 1000;
  std::int64_t term_sent_ms_ = 0;  // 0 = not killing
  bool sigkill_sent_ = false;
  std::optional<CommandOutcome::Kind> kill_reason_;
  std::optional<CommandOutcome> outcome_;
  std::string group_record_;  // CommandSpec::group_record; removed once the leader is reaped
};

// Ends what a dead predecessor left: kills (SIGKILL) the process group named in the group
// record at `path` (CommandSpec::group_record) if that group still exists, is the one recorded
// (not a later group that reuses its id) and may be signalled by us; removes the record.
// Returns the group id it killed, empty when there was nothing to kill.
std::optional<int> kill_recorded_group(const std::string& path);

// Runs a command to completion, blocking (tests and simple tools). `step` bounds each wait
// when the kernel has no pidfd; with one, the wait ends when the command exits.
CommandOutcome run_to_completion(const CommandSpec& spec,
                                 std::chrono::milliseconds step = std::chrono::milliseconds(5));

}  // namespace qg::worker

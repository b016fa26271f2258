#pragma once
// The child side of RunningCommand (qg/worker/process.hpp): what runs between fork and exec,
// so only async-signal-safe calls, on data the parent prepared before fork. Private to
// qg_worker.
//
// The forked child becomes the leader of a new process group and stays in it as a guard: it
// forks the test program into the same group and waits. When the program ends, the guard ends
// the same way (its exit code, or the same signal), so the worker sees the program's status.
// When the worker dies, even by SIGKILL, the guard sees the end of the life line (a pipe
// whose write end only the worker holds) and kills the whole group, grandchildren included:
// no test outlives its worker. The guard ignores SIGTERM, SIGINT, SIGHUP and SIGQUIT (the
// worker stops a test by signalling the group; the guard must live to pass the status on) and
// dies with the group's SIGKILL; the program starts with default signal handling and dies
// with its guard (PR_SET_DEATHSIG).

#include <sys/types.h>

namespace qg::worker::detail {

struct ChildPlan {
  const char* program;    // path for execve
  char* const* argv;      // null-terminated
  char* const* envp;      // null-terminated
  int stdin_fd;           // -1 = leave stdin as it is
  int log_fd;             // stdout and stderr
  const char* cwd;        // nullptr = the worker's own
  const char* not_found;  // texts written to stderr when exec fails
  const char* not_executable;
  pid_t worker;  // the parent's pid: a child whose parent is already another one exits
};

// The read and write ends of this process's life line (both close-on-exec), made on first
// use; {-1, -1} when no pipe could be made (then children run without a guard).
struct LifeLine {
  int read_fd = -1;
  int write_fd = -1;
};
LifeLine life_line();

// Runs in the forked child; never returns.
[[noreturn]] void run_child(const ChildPlan& plan, LifeLine life);

}  // namespace qg::worker::detail

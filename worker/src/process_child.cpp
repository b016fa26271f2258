// The child side of RunningCommand: the guard and the program (contract in process_child.hpp).
#include "process_child.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

namespace qg::worker::detail {

namespace {

void write_all(int fd, const char* text) {
  auto len = std::strlen(text);
  while (len > 0) {
    auto n = ::write(fd, text, len);
    if (n <= 0) return;
    text += n;
    len -= static_cast<std::size_t>(n);
  }
}

// The signals a group-wide stop sends, which the guard outlives.
constexpr int kGuardIgnores[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

extern "C" void wake_on_child(int /*sig*/) {}

void set_handler(int sig, void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  ::sigaction(sig, &sa, nullptr);
}

// The program: dies with `parent`, default signal handling, an empty mask (both survive
// exec), then exec.
[[noreturn]] void exec_program(const ChildPlan& plan, pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) _exit(127);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD}) set_handler(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(plan.program, plan.argv, plan.envp);
  const bool missing = errno == ENOENT || errno == ENOTDIR;
  write_all(2, missing ? plan.not_found : plan.not_executable);
  _exit(missing ? 127 : 126);
}

// Ends the guard as the program ended: its exit code, or the same signal (without a core).
[[noreturn]] void end_like(int status) {
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
  struct rlimit no_core {};
  ::setrlimit(RLIMIT_CORE, &no_core);
  set_handler(sig, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  ::sigprocmask(SIG_UNBLOCK, &only, nullptr);
  ::kill(::getpid(), sig);
  _exit(128 + sig);
}

}  // namespace

LifeLine life_line() {
  static LifeLine line;
  static std::once_flag once;
  std::call_once(once, [] {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) line = {fds[0], fds[1]};
  });
  return line;
}

void run_child(const ChildPlan& plan, LifeLine life) {
  ::setpgid(0, 0);
  if (::getppid() != plan.worker) _exit(127);
  if (plan.stdin_fd >= 0) ::dup2(plan.stdin_fd, 0);
  ::dup2(plan.log_fd, 1);
  ::dup2(plan.log_fd, 2);
  if (plan.cwd != nullptr && ::chdir(plan.cwd) != 0) {
    write_all(2, "qg-worker: cannot enter working directory\n");
    _exit(127);
  }
  if (life.read_fd < 0) {
    // No life line: the program leads the group itself and dies with the worker.
    exec_program(plan, plan.worker);
  }
  // The guard keeps stdin, stdout, stderr and the life line's read end (as fd 3, closed on
  // exec) and nothing else of the worker's: not the write end, whose copy here would hide the
  // worker's death, nor its sockets, which would outlive a reconnect while the test runs.
  constexpr int kLifeFd = 3;
  if (life.read_fd != kLifeFd && ::dup2(life.read_fd, kLifeFd) < 0) _exit(127);
  ::fcntl(kLifeFd, F_SETFD, FD_CLOEXEC);
  if (::close_range(kLifeFd + 1, ~0U, 0) != 0) {
    struct rlimit files {};
    ::getrlimit(RLIMIT_NOFILE, &files);
    const int last = files.rlim_cur > 65536 ? 65536 : static_cast<int>(files.rlim_cur);
    for (int fd = kLifeFd + 1; fd < last; ++fd) ::close(fd);
  }
  ::prctl(PR_SET_NAME, "qg-test-guard");
  for (int sig : kGuardIgnores) set_handler(sig, SIG_IGN);
  set_handler(SIGPIPE, SIG_IGN);
  // SIGCHLD stays blocked except inside ppoll, so the program's exit cannot slip between
  // looking and sleeping.
  sigset_t chld, waiting;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &chld, &waiting);
  sigdelset(&waiting, SIGCHLD);
  set_handler(SIGCHLD, wake_on_child);
  const pid_t guard = ::getpid();
  const pid_t program = ::fork();
  if (program == 0) exec_program(plan, guard);
  if (program < 0) {
    write_all(2, "qg-worker: cannot start the test (fork failed)\n");
    _exit(126);
  }
  pollfd life_end{kLifeFd, POLLIN, 0};
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(program, &status, WNOHANG);
    if (done == program) end_like(status);
    if (done < 0 && errno != EINTR) _exit(127);
    if (::ppoll(&life_end, 1, nullptr, &waiting) > 0 && life_end.revents != 0) {
      ::kill(0, SIGKILL);  // the worker is gone: the whole group, this guard included
      _exit(137);
    }
  }
}

}  // namespace qg::worker::detail

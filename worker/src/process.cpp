#include "qg/worker/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "group_record.hpp"
#include "process_child.hpp"
#include "qg/common/clock.hpp"

extern char** environ;

namespace qg::worker {

namespace {

// A pidfd for `pid` (close-on-exec, as pidfd_open always makes it), or -1 when the kernel
// has none; the caller then polls on a period.
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

// Where execve finds `name`: itself when it holds a '/', else the first executable regular
// file of that name in `path` (':'-separated, an empty entry meaning the current directory),
// else `name` unchanged, so that exec fails with ENOENT.
std::string find_program(const std::string& name, const std::string& path) {
  if (name.find('/') != std::string::npos) return name;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return name;
}

}  // namespace

RunningCommand::RunningCommand(const CommandSpec& spec) {
  // Everything the child needs is prepared before fork: after fork only async-signal-safe calls.
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos && spec.env.count(entry.substr(0, eq)) != 0) continue;
    env_storage.push_back(std::move(entry));
  }
  for (const auto& [k, v] : spec.env) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  envp.reserve(env_storage.size() + 1);
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  if (args.empty()) args = {"/bin/sh", "-c", spec.command};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string path;
  if (auto it = spec.env.find("PATH"); it != spec.env.end()) {
    path = it->second;
  } else if (const char* p = std::getenv("PATH"); p != nullptr) {
    path = p;
  } else {
    path = "/usr/local/bin:/usr/bin:/bin";
  }
  const std::string program = find_program(args[0], path);
  const std::string not_found = "qg-worker: command not found: " + args[0] + "\n";
  const std::string not_executable = "qg-worker: cannot execute " + program + "\n";

  int log_fd = -1;
  const char* log = spec.log_path.empty() ? "/dev/null" : spec.log_path.c_str();
  log_fd = ::open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::system_error(errno, std::generic_category(), "open " + std::string(log));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const detail::ChildPlan plan{program.c_str(),
                               argv.data(),
                               envp.data(),
                               null_fd,
                               log_fd,
                               spec.working_dir.empty() ? nullptr : spec.working_dir.c_str(),
                               not_found.c_str(),
                               not_executable.c_str(),
                               ::getpid()};
  const detail::LifeLine life = detail::life_line();

  started_ms_ = steady_ms();
  pid_ = ::fork();
  if (pid_ < 0) {
    int err = errno;
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    throw std::system_error(err, std::generic_category(), "fork");
  }
  if (pid_ == 0) detail::run_child(plan, life);
  ::setpgid(pid_, pid_);  // also here, so the group exists before we might signal it
  // The leader cannot have been reaped yet (only we reap it), so the pid is still ours: a
  // pidfd opened now refers to this child even when it has already exited.
  pidfd_ = open_pidfd(pid_);
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  if (spec.timeout.count() > 0) deadline_ms_ = started_ms_ + spec.timeout.count();
  kill_grace_ms_ = spec.kill_grace.count();
  group_record_ = spec.group_record;
  detail::write_group_record(group_record_, pid_);
}

RunningCommand::~RunningCommand() {
  if (pid_ > 0 && !outcome_) {
    ::kill(-pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    detail::remove_group_record(group_record_);
  }
  close_pidfd();
}

void RunningCommand::close_pidfd() {
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
}

RunningCommand::RunningCommand(RunningCommand&& other) noexcept { *this = std::move(other); }

RunningCommand& RunningCommand::operator=(RunningCommand&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !outcome_) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      detail::remove_group_record(group_record_);
    }
    close_pidfd();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    started_ms_ = other.started_ms_;
    deadline_ms_ = other.deadline_ms_;
    kill_grace_ms_ = other.kill_grace_ms_;
    term_sent_ms_ = other.term_sent_ms_;
    sigkill_sent_ = other.sigkill_sent_;
    kill_reason_ = other.kill_reason_;
    outcome_ = std::move(other.outcome_);
    group_record_ = std::exchange(other.group_record_, {});
  }
  return *this;
}

void RunningCommand::start_kill(CommandOutcome::Kind reason) {
  if (outcome_ || kill_reason_) return;
  kill_reason_ = reason;
  term_sent_ms_ = steady_ms();
  ::kill(-pid_, SIGTERM);
  if (kill_grace_ms_ <= 0) {
    ::kill(-pid_, SIGKILL);
    sigkill_sent_ = true;
  }
}

void RunningCommand::cancel() { start_kill(CommandOutcome::Kind::cancelled); }

void RunningCommand::kill_now() {
  if (outcome_) return;
  if (!kill_reason_) {
    kill_reason_ = CommandOutcome::Kind::cancelled;
    term_sent_ms_ = steady_ms();
  }
  ::kill(-pid_, SIGKILL);
  sigkill_sent_ = true;
}

std::optional<CommandOutcome> RunningCommand::poll() {
  if (outcome_ || pid_ <= 0) return outcome_;
  auto now = steady_ms();
  if (deadline_ms_ > 0 && now >= deadline_ms_) start_kill(CommandOutcome::Kind::timed_out);
  if (kill_reason_ && !sigkill_sent_ && now - term_sent_ms_ >= kill_grace_ms_) {
    ::kill(-pid_, SIGKILL);
    sigkill_sent_ = true;
  }
  // Look without reaping: while the leader is a zombie its pid (= the group id) stays ours.
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno != ECHILD) return std::nullopt;
    // Reaped behind our back (SIGCHLD ignored by someone): gone, status unknown. Ending here
    // keeps a caller that waits on exit_fd() from waking for ever.
    ::kill(-pid_, SIGKILL);
    CommandOutcome lost;
    lost.kind = kill_reason_.value_or(CommandOutcome::Kind::signalled);
    lost.exit_code = -1;
    lost.duration_ms = steady_ms() - started_ms_;
    outcome_ = lost;
    detail::remove_group_record(group_record_);
    close_pidfd();
    return outcome_;
  }
  if (info.si_pid == 0) return std::nullopt;
  ::kill(-pid_, SIGKILL);  // leftovers of the group (background processes of the test)
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  CommandOutcome out;
  out.duration_ms = steady_ms() - started_ms_;
  if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
    out.kind = CommandOutcome::Kind::exited;
  } else {
    out.exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
    out.kind = CommandOutcome::Kind::signalled;
  }
  if (kill_reason_) out.kind = *kill_reason_;
  outcome_ = out;
  detail::remove_group_record(group_record_);
  close_pidfd();  // readable for ever now; a caller must not keep waking on it
  return outcome_;
}

std::optional<std::int64_t> RunningCommand::next_deadline_ms() const {
  if (outcome_ || pid_ <= 0) return std::nullopt;
  if (kill_reason_) {
    if (sigkill_sent_) return std::nullopt;
    return term_sent_ms_ + kill_grace_ms_;
  }
  if (deadline_ms_ > 0) return deadline_ms_;
  return std::nullopt;
}

std::optional<CommandOutcome> RunningCommand::wait_for(std::chrono::milliseconds timeout) {
  const std::int64_t until = steady_ms() + timeout.count();
  constexpr std::int64_t kFallbackStepMs = 5;  // no pidfd: look this often
  while (true) {
    if (auto out = poll()) return out;
    const std::int64_t now = steady_ms();
    if (now >= until) return std::nullopt;
    std::int64_t wait = until - now;
    if (auto next = next_deadline_ms()) wait = std::min(wait, std::max<std::int64_t>(*next - now, 0));
    if (pidfd_ < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(wait, kFallbackStepMs)));
      continue;
    }
    pollfd item{pidfd_, POLLIN, 0};
    ::poll(&item, 1, static_cast<int>(std::min<std::int64_t>(wait, 60'000)));  // EINTR: just look again
  }
}

CommandOutcome run_to_completion(const CommandSpec& spec, std::chrono::milliseconds step) {
  RunningCommand command(spec);
  while (true) {
    if (command.exit_fd() >= 0) {
      if (auto out = command.wait_for(std::chrono::hours(24))) return *out;
      continue;
    }
    if (auto out = command.poll()) return *out;
    std::this_thread::sleep_for(step);
  }
}

}  // namespace qg::worker

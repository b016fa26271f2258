// The group record (contract in group_record.hpp) and kill_recorded_group()
// (qg/worker/process.hpp).
#include "group_record.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>

#include "qg/worker/process.hpp"

namespace qg::worker {

namespace {

// Field 22 of /proc/<pid>/stat (start time, in clock ticks after boot), or empty when the
// process does not exist. The fields are counted after the command name's closing ')', which
// may itself hold spaces.
std::string start_time_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && (fields >> field); ++i) {
    if (i == 22) return field;
  }
  return {};
}

}  // namespace

namespace detail {

void write_group_record(const std::string& path, pid_t pgid) {
  if (path.empty()) return;
  std::ofstream(path, std::ios::trunc) << pgid << " " << start_time_of(pgid) << "\n";
}

void remove_group_record(const std::string& path) {
  if (!path.empty()) ::unlink(path.c_str());
}

}  // namespace detail

std::optional<int> kill_recorded_group(const std::string& path) {
  std::ifstream in(path);
  pid_t pgid = 0;
  std::string started;
  if (!(in >> pgid >> started) || pgid <= 1) {
    detail::remove_group_record(path);
    return std::nullopt;
  }
  detail::remove_group_record(path);
  // While any member of a group lives, its id is not given to a new process. So a group
  // whose leader is gone can only be the recorded one; a live process with the leader's pid
  // is the recorded leader only if it started at the recorded time (else the number was
  // reused after the group ended, and the group is someone else's).
  const std::string leader_started = start_time_of(pgid);
  if (!leader_started.empty() && leader_started != started) return std::nullopt;
  if (::kill(-pgid, SIGKILL) != 0) return std::nullopt;  // gone (ESRCH), or not ours (EPERM)
  return pgid;
}

}  // namespace qg::worker

// raise_open_file_limit(): soft RLIMIT_NOFILE up to the hard limit.
#include "qg/common/process_limits.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <fstream>

namespace qg {
namespace {

// /proc/sys/fs/nr_open, the most descriptors a process may have; 0 when unreadable.
rlim_t kernel_file_maximum() noexcept {
  try {
    std::ifstream in("/proc/sys/fs/nr_open");
    unsigned long long value = 0;
    if (in >> value) return static_cast<rlim_t>(value);
  } catch (...) {
  }
  return 0;
}

}  // namespace

FileLimit raise_open_file_limit() noexcept {
  FileLimit out;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.error = errno;
    return out;
  }
  out.soft = limit.rlim_cur;
  out.hard = limit.rlim_max;
  rlim_t target = limit.rlim_max;
  if (target == RLIM_INFINITY) {
    // An unlimited soft limit is refused (EPERM): the kernel caps descriptors at nr_open.
    target = kernel_file_maximum();
    if (target == 0) return out;
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur >= target) return out;
  limit.rlim_cur = target;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    out.error = errno;
    return out;
  }
  out.soft = target;
  return out;
}

}  // namespace qg

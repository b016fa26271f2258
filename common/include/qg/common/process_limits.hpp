#pragma once
// The process's open-file limit. Every connection a server accepts costs a descriptor, and
// the usual soft limit (1024) is far below what thousands of workers need, while the hard
// limit that the administrator set is usually much higher.

#include <cstdint>

namespace qg {

struct FileLimit {
  std::uint64_t soft = 0;  // the soft RLIMIT_NOFILE after the call
  std::uint64_t hard = 0;  // the hard limit (RLIM_INFINITY as the largest value)
  int error = 0;           // errno of a failed getrlimit/setrlimit; 0 on success
};

// Raises the soft RLIMIT_NOFILE to the hard limit; when the hard limit is unlimited, to the
// kernel's per-process maximum (/proc/sys/fs/nr_open). Never lowers it. Never throws: on a
// failure `error` says why and the limit is left as it was.
FileLimit raise_open_file_limit() noexcept;

}  // namespace qg

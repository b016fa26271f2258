#pragma once
// The group record: a small file naming the process group of the command a worker is running
// ("<group id> <its leader's start time>"), written when the command starts and removed when
// it has been reaped. A worker that dies with its guard (qg/worker/process.hpp) leaves it
// behind, and the next worker started on the same workdir ends that group with
// kill_recorded_group() (declared in qg/worker/process.hpp). Private to qg_worker.

#include <sys/types.h>

#include <string>

namespace qg::worker::detail {

// Records `pgid` (a live leader's pid) in `path`; does nothing for an empty path. Failures
// are ignored: the record is a second line of defence, never a reason not to run a test.
void write_group_record(const std::string& path, pid_t pgid);

// Removes the record; does nothing for an empty path.
void remove_group_record(const std::string& path);

}  // namespace qg::worker::detail

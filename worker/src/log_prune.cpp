#include "qg/worker/log_prune.hpp"

#include <filesystem>
#include <system_error>

namespace qg::worker {

namespace fs = std::filesystem;

LogPrune prune_logs(const std::string& dir, std::chrono::milliseconds keep, std::int64_t now_ms, std::size_t max) {
  LogPrune out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return out;
  const auto cutoff =
      std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(now_ms - keep.count()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const auto& entry = *it;
    if (entry.path().extension() != ".log" || !entry.is_regular_file(ec) || ec) continue;
    const auto written = entry.last_write_time(ec);
    if (ec) continue;
    const auto written_sys = std::chrono::file_clock::to_sys(written);
    if (written_sys > cutoff) continue;
    if (out.deleted >= max) {
      out.more = true;
      break;
    }
    if (fs::remove(entry.path(), ec) && !ec) ++out.deleted;
  }
  return out;
}

}  // namespace qg::worker

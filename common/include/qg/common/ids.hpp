#pragma once
// Time-sortable unique ids: 26 characters of Crockford base32, the first 10 encoding the
// creation time in milliseconds and the remaining 16 a per-process random prefix plus a
// counter (ULID layout). Ids made later sort after ids made earlier by the same process, and
// ids from different processes never collide in practice. Thread-safe.

#include <cstdint>
#include <mutex>
#include <string>

namespace qg {

class IdGenerator {
 public:
  IdGenerator();
  std::string next(std::int64_t now_ms);

 private:
  std::mutex mutex_;
  std::uint64_t random_hi_;
  std::uint64_t counter_;
  std::int64_t last_ms_ = 0;
};

// The millisecond timestamp encoded in an id; -1 when `id` is not one of ours.
std::int64_t id_time_ms(const std::string& id);

}  // namespace qg

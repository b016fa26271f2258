#include "qg/common/string_arena.hpp"

#include <cstring>

namespace qg {

char* StringArena::room(std::size_t n) {
  if (n > left_) {
    if (n > chunk_bytes_ / 4) {
      // A long string gets a chunk of its own; the current chunk stays in use for short ones.
      chunks_.push_back(std::make_unique_for_overwrite<char[]>(n));
      return chunks_.back().get();
    }
    chunks_.push_back(std::make_unique_for_overwrite<char[]>(chunk_bytes_));
    next_ = chunks_.back().get();
    left_ = chunk_bytes_;
  }
  char* at = next_;
  next_ += n;
  left_ -= n;
  return at;
}

std::string_view StringArena::join(std::initializer_list<std::string_view> parts) {
  std::size_t n = 0;
  for (auto p : parts) n += p.size();
  if (n == 0) return {};
  char* at = room(n);
  char* out = at;
  for (auto p : parts) {
    if (p.empty()) continue;
    std::memcpy(out, p.data(), p.size());
    out += p.size();
  }
  used_ += n;
  return {at, n};
}

}  // namespace qg

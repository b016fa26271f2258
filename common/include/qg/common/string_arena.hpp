#pragma once
// StringArena: copies of strings that never move. Each view it hands out stays valid, with
// the same bytes, until the arena is destroyed: later strings go into the same chunk or a new
// one, and moving the arena moves only the chunks' owners. It replaces a container of
// std::string where a batch of commands is built out of many small keys and values that are
// only viewed: one allocation per chunk instead of one per string.

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace qg {

class StringArena {
 public:
  // Chunks hold `chunk_bytes` (a longer string gets a chunk of its own size).
  explicit StringArena(std::size_t chunk_bytes = 4096) : chunk_bytes_(chunk_bytes == 0 ? 1 : chunk_bytes) {}
  StringArena(const StringArena&) = delete;
  StringArena& operator=(const StringArena&) = delete;
  // The chunks move; the arena moved from is left empty (its next string starts a new chunk).
  StringArena(StringArena&& other) noexcept { *this = std::move(other); }
  StringArena& operator=(StringArena&& other) noexcept {
    if (this == &other) return *this;
    chunk_bytes_ = other.chunk_bytes_;
    chunks_ = std::move(other.chunks_);
    next_ = std::exchange(other.next_, nullptr);
    left_ = std::exchange(other.left_, 0);
    used_ = std::exchange(other.used_, 0);
    other.chunks_.clear();
    return *this;
  }
  ~StringArena() = default;

  // A copy of `s`.
  std::string_view keep(std::string_view s) { return join({s}); }
  // A copy of the concatenation of `parts`, made without a temporary string.
  std::string_view join(std::initializer_list<std::string_view> parts);

  // Bytes handed out so far (for tests and accounting).
  std::size_t size() const noexcept { return used_; }

 private:
  char* room(std::size_t n);

  std::size_t chunk_bytes_ = 4096;
  std::vector<std::unique_ptr<char[]>> chunks_;
  char* next_ = nullptr;
  std::size_t left_ = 0;
  std::size_t used_ = 0;
};

}  // namespace qg

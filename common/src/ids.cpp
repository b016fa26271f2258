#include "qg/common/ids.hpp"

#include <random>

namespace qg {

namespace {
constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int decode_char(char c) {
  for (int i = 0; i < 32; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}
}  // namespace

IdGenerator::IdGenerator() {
  std::random_device device;
  std::mt19937_64 engine((static_cast<std::uint64_t>(device()) << 32) ^ device());
  random_hi_ = engine();
  counter_ = engine() & 0xFFFFFFFFull;
}

std::string IdGenerator::next(std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  // 48 bits of time, then 80 bits: 40 random bits fixed per process, 40 bits of counter.
  if (now_ms < last_ms_) now_ms = last_ms_;  // never go backwards within a process
  last_ms_ = now_ms;
  ++counter_;
  std::string id(26, '0');
  auto t = static_cast<std::uint64_t>(now_ms);
  for (int i = 9; i >= 0; --i) {
    id[static_cast<std::size_t>(i)] = kAlphabet[t & 31];
    t >>= 5;
  }
  std::uint64_t hi = random_hi_ & 0xFFFFFFFFFFull;  // 40 bits
  std::uint64_t lo = counter_ & 0xFFFFFFFFFFull;    // 40 bits
  for (int i = 17; i >= 10; --i) {
    id[static_cast<std::size_t>(i)] = kAlphabet[hi & 31];
    hi >>= 5;
  }
  for (int i = 25; i >= 18; --i) {
    id[static_cast<std::size_t>(i)] = kAlphabet[lo & 31];
    lo >>= 5;
  }
  return id;
}

std::int64_t id_time_ms(const std::string& id) {
  if (id.size() != 26) return -1;
  std::int64_t t = 0;
  for (int i = 0; i < 10; ++i) {
    int v = decode_char(id[static_cast<std::size_t>(i)]);
    if (v < 0) return -1;
    t = (t << 5) | v;
  }
  for (std::size_t i = 10; i < 26; ++i) {
    if (decode_char(id[i]) < 0) return -1;
  }
  return t;
}

}  // namespace qg

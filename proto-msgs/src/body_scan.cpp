#include "body_scan.hpp"

#include <cstdint>
#include <optional>

#include "validate.hpp"

namespace qg::proto::detail {

namespace {

// One pass over msgpack bytes. Each read checks the bytes left; a malformed or truncated
// body ends the scan (ok_ false) with what was found so far.
class Scanner {
 public:
  Scanner(std::string_view body, const Limits& limits) : in_(body), limits_(limits) {}

  BodyScan run() {
    auto count = map_header();
    if (!count) return std::move(out_);
    if (*count > limits_.max_map_items) breach("");
    for (std::uint64_t i = 0; i < *count && ok_; ++i) {
      auto key = string_value();
      if (!key) return std::move(out_);
      if (*key == "rid" && next_is_str()) {
        auto rid = string_value();
        if (rid && rid->size() <= kMaxRidBytes) out_.rid = std::string(*rid);
        continue;
      }
      skip(std::string(*key), 1);
    }
    return std::move(out_);
  }

 private:
  bool need(std::size_t n) {
    if (!ok_ || in_.size() - at_ < n) ok_ = false;
    return ok_;
  }
  std::uint8_t byte() { return static_cast<std::uint8_t>(in_[at_++]); }
  std::uint64_t big_endian(std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | byte();
    return v;
  }
  // A size of `n` bytes after the type byte.
  std::optional<std::uint64_t> size(std::size_t n) {
    if (!need(n)) return std::nullopt;
    return big_endian(n);
  }
  void breach(const std::string& path) {
    if (!found_) out_.field = path;
    found_ = true;
  }

  std::optional<std::uint64_t> map_header() {
    if (!need(1)) return std::nullopt;
    const auto t = byte();
    if (t >= 0x80 && t <= 0x8f) return t & 0x0f;
    if (t == 0xde) return size(2);
    if (t == 0xdf) return size(4);
    ok_ = false;
    return std::nullopt;
  }

  bool next_is_str() const {
    if (at_ >= in_.size()) return false;
    const auto t = static_cast<std::uint8_t>(in_[at_]);
    return (t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb);
  }

  // A str value; anything else ends the scan.
  std::optional<std::string_view> string_value() {
    if (!need(1)) return std::nullopt;
    const auto t = byte();
    std::optional<std::uint64_t> n;
    if (t >= 0xa0 && t <= 0xbf) {
      n = t & 0x1f;
    } else if (t == 0xd9) {
      n = size(1);
    } else if (t == 0xda) {
      n = size(2);
    } else if (t == 0xdb) {
      n = size(4);
    } else {
      ok_ = false;
      return std::nullopt;
    }
    if (!n || !need(*n)) return std::nullopt;
    auto s = in_.substr(at_, *n);
    at_ += *n;
    return s;
  }

  // Steps over `n` bytes of a str, bin or ext value at `path`.
  void skip_bytes(std::uint64_t n, const std::string& path) {
    if (n > limits_.max_string_bytes) breach(path);
    if (need(n)) at_ += n;
  }

  void skip(const std::string& path, std::size_t depth) {
    if (!need(1)) return;
    if (depth > limits_.max_depth + 1) {
      ok_ = false;
      return;
    }
    const auto t = byte();
    auto items = [&](std::optional<std::uint64_t> n, bool map) {
      if (!n) return;
      if (*n > (map ? limits_.max_map_items : limits_.max_array_items)) breach(path);
      for (std::uint64_t i = 0; i < *n && ok_; ++i) {
        if (map) {
          auto key = string_value();
          if (!key) return;
          skip(path + "." + std::string(*key), depth + 1);
        } else {
          skip(path + "[" + std::to_string(i) + "]", depth + 1);
        }
      }
    };
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) return;
    if (t >= 0x80 && t <= 0x8f) return items(t & 0x0f, true);
    if (t >= 0x90 && t <= 0x9f) return items(t & 0x0f, false);
    if (t >= 0xa0 && t <= 0xbf) return skip_bytes(t & 0x1f, path);
    switch (t) {
      case 0xc4:
      case 0xd9:
        if (auto n = size(1)) skip_bytes(*n, path);
        return;
      case 0xc5:
      case 0xda:
        if (auto n = size(2)) skip_bytes(*n, path);
        return;
      case 0xc6:
      case 0xdb:
        if (auto n = size(4)) skip_bytes(*n, path);
        return;
      case 0xc7:
        if (auto n = size(1)) skip_bytes(*n + 1, path);
        return;  // ext: type byte + data
      case 0xc8:
        if (auto n = size(2)) skip_bytes(*n + 1, path);
        return;
      case 0xc9:
        if (auto n = size(4)) skip_bytes(*n + 1, path);
        return;
      case 0xca:
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf:
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3:
      case 0xcb: {
        static constexpr std::size_t kWidth[] = {4, 8, 1, 2, 4, 8, 1, 2, 4, 8};  // ca..d3
        const std::size_t n = kWidth[t - 0xca];
        if (need(n)) at_ += n;
        return;
      }
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8: {  // fixext 1..16: type byte + data
        const std::size_t n = 1 + (std::size_t{1} << (t - 0xd4));
        if (need(n)) at_ += n;
        return;
      }
      case 0xdc:
        return items(size(2), false);
      case 0xdd:
        return items(size(4), false);
      case 0xde:
        return items(size(2), true);
      case 0xdf:
        return items(size(4), true);
      default:
        ok_ = false;  // 0xc1: never used
    }
  }

  std::string_view in_;
  const Limits& limits_;
  std::size_t at_ = 0;
  bool ok_ = true;
  bool found_ = false;
  BodyScan out_;
};

}  // namespace

BodyScan scan_body(std::string_view body, const Limits& limits) noexcept {
  try {
    return Scanner(body, limits).run();
  } catch (...) {  // a path string that cannot be allocated
    return {};
  }
}

}  // namespace qg::proto::detail

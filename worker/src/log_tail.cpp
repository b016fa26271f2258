#include "qg/worker/log_tail.hpp"

#include <algorithm>
#include <fstream>

namespace qg::worker {

std::string tail_of(std::string_view text, std::size_t max_lines, std::size_t max_bytes) {
  if (max_lines == 0 || max_bytes == 0) return {};
  std::size_t end = text.size();
  // Count lines back from the end; a trailing newline ends the last line, it does not start one.
  std::size_t scan = end;
  if (scan > 0 && text[scan - 1] == '\n') --scan;
  std::size_t start = 0;
  std::size_t lines = 0;
  while (scan > 0) {
    auto nl = text.rfind('\n', scan - 1);
    if (nl == std::string_view::npos) break;
    if (++lines == max_lines) {
      start = nl + 1;
      break;
    }
    scan = nl;
  }
  if (end - start > max_bytes) {
    std::size_t cut = end - max_bytes;
    auto nl = text.find('\n', cut);
    if (nl != std::string_view::npos && nl + 1 < end) {
      cut = nl + 1;
    } else {
      while (cut < end && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) ++cut;  // UTF-8 continuation
    }
    start = cut;
  }
  return std::string(text.substr(start, end - start));
}

std::string tail_file(const std::string& path, std::size_t max_lines, std::size_t max_bytes, const SecretMask& mask) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::size_t>(in.tellg());
  auto from = size > max_bytes ? size - max_bytes : 0;
  // A secret that ends after `from` starts at most longest() - 1 bytes before it: read those
  // too, so that masking sees it whole.
  auto margin = std::min(from, mask.longest());
  in.seekg(static_cast<std::streamoff>(from - margin));
  std::string raw(size - from + margin, '\0');
  in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  raw.resize(static_cast<std::size_t>(in.gcount()));
  std::string data = mask.empty() ? std::move(raw) : mask.apply(raw, std::min(margin, raw.size()));
  if (from > 0) {
    // Drop the partial first line unless that would leave nothing.
    auto nl = data.find('\n');
    if (nl != std::string::npos && nl + 1 < data.size()) data.erase(0, nl + 1);
  }
  return tail_of(data, max_lines, max_bytes);
}

}  // namespace qg::worker

#pragma once
// The last lines of a job's log, sent with its result.

#include <cstddef>
#include <string>
#include <string_view>

#include "qg/worker/secret_mask.hpp"

namespace qg::worker {

inline constexpr std::size_t kTailLines = 50;
inline constexpr std::size_t kTailBytes = 64u << 10;

// The last `max_lines` lines of `text`, cut further to its last `max_bytes` bytes (at a line
// start when there is one in range, and never inside a UTF-8 sequence). A final newline does
// not count as an extra empty line.
std::string tail_of(std::string_view text, std::size_t max_lines = kTailLines, std::size_t max_bytes = kTailBytes);

// tail_of() of the end of the file at `path`, with the secrets of `mask` replaced before the
// text is cut (so a secret across the cut point is masked whole, not half shown). Reads at most
// `max_bytes` plus the longest secret from the end. Empty string when the file does not exist or
// cannot be read.
std::string tail_file(const std::string& path, std::size_t max_lines = kTailLines, std::size_t max_bytes = kTailBytes,
                      const SecretMask& mask = {});

}  // namespace qg::worker

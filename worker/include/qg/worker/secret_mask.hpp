#pragma once
// Masking secrets in what a worker sends to the broker (log tails and error text), which ends up
// in job records, events and CI output. A secret is the value of an environment variable whose
// name matches one of a set of patterns (by default *TOKEN*, *SECRET*, *PASSWORD*, *KEY*, case
// insensitive); each occurrence of one is replaced by "***". Values shorter than 4 bytes are
// left alone: they would mask ordinary text.
//
// Thread contract: immutable after construction; apply() may be called from any thread.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace qg::worker {

inline constexpr std::size_t kMinSecretBytes = 4;
inline constexpr std::string_view kMaskText = "***";

// *TOKEN*, *SECRET*, *PASSWORD*, *KEY*.
const std::vector<std::string>& default_mask_patterns();

// Whether `name` matches the glob `pattern`, ignoring ASCII case: '*' matches any run of bytes,
// '?' any one byte, every other byte itself.
bool glob_match_nocase(std::string_view pattern, std::string_view name);

class SecretMask {
 public:
  // Masks nothing.
  SecretMask() = default;
  // Masks `values`; those shorter than kMinSecretBytes and repeats are dropped.
  explicit SecretMask(std::vector<std::string> values);

  // The values of the variables in `env` ("NAME=value" strings ending with nullptr, the format
  // of environ; nullptr = none) whose names match one of `patterns`.
  static SecretMask from_environment(const std::vector<std::string>& patterns, const char* const* env);

  bool empty() const { return values_.empty(); }
  // Bytes of the longest value; 0 when empty.
  std::size_t longest() const { return values_.empty() ? 0 : values_.front().size(); }

  // `text` from byte `from` on, with every occurrence of a value replaced by "***".
  // Occurrences are searched in the whole of `text`, leftmost first and the longest value first
  // at one position, so one that begins before `from` and ends after it is still replaced whole
  // (the result then begins with "***"): cut text to size after masking, never before.
  std::string apply(std::string_view text, std::size_t from = 0) const;

 private:
  std::vector<std::string> values_;  // longest first
  bool first_byte_[256] = {};        // bytes some value starts with
};

}  // namespace qg::worker

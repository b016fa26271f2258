// libFuzzer target: arbitrary bytes into parse_envelope(), decode<T>() for every message
// type, peek_rid() and the hex helpers. Built only with -DQG_FUZZ=ON (clang); see README.md.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string failure = qg::proto::fuzz::run_one(data, size);
  if (!failure.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}

#pragma once
// The fuzz entry shared by the libFuzzer target (fuzz_decode.cpp) and the corpus replay test
// (fuzz_corpus_test.cpp): feeds one input to every public decoding function of qg_proto and
// checks the invariants that must hold for any input.
//
// Input layout: the bytes are used whole as a body, and also split into frames at every
// two-byte separator C1 C1 (0xC1 never occurs in valid msgpack), so one input can be an
// envelope [protocol][command][body] or an event [topic][QGE1][command][body].

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qg::proto::fuzz {

inline constexpr std::string_view kFrameSeparator = "\xc1\xc1";

// Runs the input. Returns an empty string when every invariant held, else a description of
// the first one broken. Crashes, leaks and unbounded allocations are for the sanitizers and
// libFuzzer to catch.
std::string run_one(const std::uint8_t* data, std::size_t size);

// Joins frames with kFrameSeparator: the seed format.
std::string join_frames(const std::vector<std::string>& frames);

}  // namespace qg::proto::fuzz

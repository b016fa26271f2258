// Replays tests/unit/proto/bad_inputs.txt: every body in it is rejected by decode<T>() for
// every message type, without throwing.

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proto_test_util.hpp"

namespace qg::proto {
namespace {

struct BadInput {
  int line = 0;
  std::string hex;
  std::string bytes;
};

std::vector<BadInput> load_bad_inputs() {
  const std::string text = test::read_file(test::source_dir() + "/tests/unit/proto/bad_inputs.txt");
  std::vector<BadInput> inputs;
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos || line.front() == '#') continue;
    inputs.push_back(BadInput{number, line, from_hex(line)});
  }
  return inputs;
}

TEST(ProtoBadInputs, CorpusFileIsReadableAndWellFormed) {
  const std::vector<BadInput> inputs = load_bad_inputs();
  EXPECT_GE(inputs.size(), 50u) << "is QG_SOURCE_DIR (" << test::source_dir() << ") right?";
  for (const BadInput& input : inputs) EXPECT_FALSE(input.bytes.empty()) << "line " << input.line << ": " << input.hex;
}

TEST(ProtoBadInputs, EveryMessageTypeRejectsEveryBadInputWithoutThrowing) {
  for (const BadInput& input : load_bad_inputs()) {
    test::for_each_type([&](auto message) {
      using T = decltype(message);
      bool ok = true;
      EXPECT_NO_THROW(ok = decode<T>(input.bytes).ok()) << "line " << input.line;
      EXPECT_FALSE(ok) << "line " << input.line << " (" << input.hex << ") decoded as "
                       << test::TypeName::GetName<T>(0);
    });
    EXPECT_NO_THROW((void)peek_rid(input.bytes));
  }
}

TEST(ProtoBadInputs, BadInputsGiveAStructuralErrorCode) {
  for (const BadInput& input : load_bad_inputs()) {
    const auto out = decode<ByeReply>(input.bytes);
    ASSERT_FALSE(out.ok());
    const std::string& code = out.error().code;
    EXPECT_TRUE(code == errc::bad_body || code == errc::too_large)
        << "line " << input.line << " gave " << code << ": " << out.error().message;
  }
}

}  // namespace
}  // namespace qg::proto

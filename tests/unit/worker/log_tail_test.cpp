#include <gtest/gtest.h>

#include <fstream>

#include "qg/testing/process.hpp"
#include "qg/worker/log_tail.hpp"

namespace qg::worker {
namespace {

std::string numbered_lines(int n) {
  std::string s;
  for (int i = 1; i <= n; ++i) s += "line " + std::to_string(i) + "\n";
  return s;
}

TEST(TailOf, ShortTextComesBackWhole) {
  EXPECT_EQ(tail_of("a\nb\n"), "a\nb\n");
  EXPECT_EQ(tail_of("no newline"), "no newline");
  EXPECT_EQ(tail_of(""), "");
}

TEST(TailOf, KeepsTheLastLines) {
  EXPECT_EQ(tail_of(numbered_lines(100), 2), "line 99\nline 100\n");
  EXPECT_EQ(tail_of("a\nb\nc", 2), "b\nc");
}

TEST(TailOf, CutsToTheByteLimitAtALineStart) {
  std::string text = std::string(100, 'x') + "\n" + "tail line\n";
  EXPECT_EQ(tail_of(text, 50, 20), "tail line\n");
}

TEST(TailOf, NeverExceedsTheByteLimitOrSplitsUtf8) {
  std::string one_line;
  for (int i = 0; i < 1000; ++i) one_line += "\xc3\xa9";  // é
  auto tail = tail_of(one_line, 50, 101);
  EXPECT_LE(tail.size(), 101u);
  EXPECT_NE(static_cast<unsigned char>(tail[0]) & 0xC0, 0x80);
}

TEST(TailFile, ReadsOnlyTheEndOfALargeFile) {
  qg::testing::TempDir dir;
  auto path = dir.path() + "/job.log";
  {
    std::ofstream out(path);
    for (int i = 0; i < 20000; ++i) out << "line " << i << " " << std::string(40, '.') << "\n";
  }
  auto tail = tail_file(path);
  EXPECT_LE(tail.size(), kTailBytes);
  EXPECT_EQ(std::count(tail.begin(), tail.end(), '\n'), 50);
  EXPECT_NE(tail.find("line 19999 "), std::string::npos);
  EXPECT_EQ(tail.find("line 19949 "), std::string::npos);
}

TEST(TailFile, MissingFileGivesEmpty) { EXPECT_EQ(tail_file("/nonexistent/qg/log"), ""); }

}  // namespace
}  // namespace qg::worker

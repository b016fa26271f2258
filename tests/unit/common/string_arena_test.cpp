#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "qg/common/string_arena.hpp"

namespace {

TEST(StringArena, KeptViewsKeepTheirBytesWhileMoreStringsArrive) {
  qg::StringArena arena(64);  // small chunks: many chunk changes below
  std::vector<std::pair<std::string_view, std::string>> kept;
  for (int i = 0; i < 2000; ++i) {
    std::string s = "key:" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 40), 'x');
    kept.emplace_back(arena.keep(s), s);
    s.assign(s.size(), '#');  // the arena holds a copy, not the caller's bytes
  }
  for (const auto& [view, expected] : kept) ASSERT_EQ(view, expected);
}

TEST(StringArena, ViewsSurviveMovingTheArena) {
  qg::StringArena arena(32);
  const auto a = arena.keep("first");
  const auto b = arena.keep(std::string(100, 'y'));  // longer than a chunk: a chunk of its own
  qg::StringArena moved = std::move(arena);
  const auto c = moved.keep("after the move");
  EXPECT_EQ(a, "first");
  EXPECT_EQ(b, std::string(100, 'y'));
  EXPECT_EQ(c, "after the move");
  EXPECT_EQ(moved.size(), 5u + 100u + 14u);
  // The arena moved from starts afresh and does not write into the chunks it gave away.
  EXPECT_EQ(arena.size(), 0u);  // NOLINT(bugprone-use-after-move): its state after a move is specified
  EXPECT_EQ(arena.keep("again"), "again");
  EXPECT_EQ(c, "after the move");
}

TEST(StringArena, JoinConcatenatesItsParts) {
  qg::StringArena arena;
  EXPECT_EQ(arena.join({"qg:", "j:", "", "01ABC"}), "qg:j:01ABC");
  EXPECT_EQ(arena.join({}), "");
  EXPECT_EQ(arena.keep(""), "");
}

TEST(StringArena, LongStringsLeaveTheCurrentChunkForShortOnes) {
  qg::StringArena arena(64);
  const auto small1 = arena.keep("abc");
  (void)arena.keep(std::string(1000, 'z'));
  const auto small2 = arena.keep("def");
  // The short strings share their chunk: the second follows the first.
  EXPECT_EQ(small2.data(), small1.data() + small1.size());
}

}  // namespace

// The store's Lua function library against a real redis-server: FUNCTION LOAD takes it, every
// script is one of its functions, and every file of scheduler/lua is in it as the store
// assembles it (the embedding drops each file's header comment and nothing else).

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "qg/common/logging.hpp"
#include "qg/common/redis.hpp"
#include "qg/testing/process.hpp"
#include "redis_library.hpp"

namespace qg::sched {
namespace {

// A file of scheduler/lua: its name without .lua, and its text from the blank line that ends
// its header comment (its leading "--" lines) on, as the build embeds it.
struct LuaFile {
  std::string stem;
  std::string body;
};

std::vector<LuaFile> lua_files() {
  std::vector<LuaFile> files;
  for (const auto& entry : std::filesystem::directory_iterator(testing::source_dir() + "/scheduler/lua")) {
    if (entry.path().extension() != ".lua") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string content = text.str();
    std::size_t at = 0;
    while (content.compare(at, 2, "--") == 0) at = content.find('\n', at) + 1;
    files.push_back({entry.path().stem().string(), content.substr(at)});
  }
  return files;
}

// The name of every function in FUNCTION LIST's reply for one library.
std::set<std::string> listed_functions(const RedisValue& list) {
  std::set<std::string> names;
  for (const auto& library : list.array()) {
    for (std::size_t i = 0; i + 1 < library.size(); i += 2) {
      if (library[i].str() != "functions") continue;
      for (const auto& function : library[i + 1].array()) {
        for (std::size_t k = 0; k + 1 < function.size(); k += 2) {
          if (function[k].str() == "name") names.insert(function[k + 1].str());
        }
      }
    }
  }
  return names;
}

class RedisLibraryTest : public ::testing::Test {
 protected:
  RedisValue redis(std::initializer_list<std::string_view> args) { return conn_.command(args); }

  testing::RedisServer server_;
  RedisConnection conn_{RedisAddress::parse(server_.url()), RedisOptions{}, null_logger()};
};

TEST_F(RedisLibraryTest, FunctionLoadTakesTheLibraryAndListsEveryScript) {
  const auto& lib = function_library();
  EXPECT_EQ(redis({"FUNCTION", "LOAD", lib.code}).str(), lib.name);
  auto names = listed_functions(redis({"FUNCTION", "LIST", "LIBRARYNAME", lib.name}));
  std::set<std::string> expected(lib.functions.begin(), lib.functions.end());
  EXPECT_EQ(names, expected);
  EXPECT_EQ(names.size(), static_cast<std::size_t>(kScriptCount));
}

TEST_F(RedisLibraryTest, QueueScriptAnswersAnEmptyPageOnAnEmptyRedis) {
  const auto& lib = function_library();
  redis({"FUNCTION", "LOAD", lib.code});
  // Common ARGV (prefix, now, group_max, group_window), then phase, offset, limit, targets.
  auto page = redis({"FCALL", lib.functions[kQueue], "0", "qg:", "1700000000000", "10", "0", "0", "0", "50", "emulator",
                     "device", "browserstack"});
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].integer(), -1);
  EXPECT_EQ(page[1].integer(), 0);
  EXPECT_TRUE(page[2].array().empty());
}

TEST_F(RedisLibraryTest, EveryLuaFileIsInTheLibraryLessItsHeader) {
  const auto& lib = function_library();
  const std::string code_start = "#!lua name=" + lib.name + "\n";
  std::set<std::string> stems;
  for (const auto& file : lua_files()) {
    SCOPED_TRACE(file.stem + ".lua");
    stems.insert(file.stem);
    ASSERT_EQ(file.body.rfind("\n", 0), 0u) << "its header comment must end at a blank line";
    if (file.stem == "prelude") {
      EXPECT_EQ(lib.code.rfind(code_start + file.body, 0), 0u) << "the library begins with the prelude";
    } else {
      EXPECT_NE(lib.code.find("local function body_" + file.stem + "()\n" + file.body + "end\n"), std::string::npos);
      EXPECT_NE(std::find(lib.functions.begin(), lib.functions.end(), lib.name + "_" + file.stem), lib.functions.end());
    }
  }
  EXPECT_EQ(stems.size(), static_cast<std::size_t>(kScriptCount) + 1) << "a file per script, and the prelude";
  EXPECT_EQ(stems.count("prelude"), 1u);
}

}  // namespace
}  // namespace qg::sched

// raise_open_file_limit(): the soft open-file limit goes up to the hard one and never down.
// The first test lowers the limits in a child process; the second restores what it changes.
#include <sys/resource.h>

#include <cstdlib>

#include <gtest/gtest.h>

#include "qg/common/process_limits.hpp"

namespace {

// Restores the open-file limit the test started with.
struct FileLimitGuard {
  rlimit saved{};
  FileLimitGuard() { ::getrlimit(RLIMIT_NOFILE, &saved); }
  ~FileLimitGuard() { ::setrlimit(RLIMIT_NOFILE, &saved); }
};

// In a child process: a finite hard limit of its own, a low soft one, then the raise. Exits 0
// when the soft limit went up to the hard one.
[[noreturn]] void raise_from_64_to_256() {
  rlimit limit{64, 256};
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) std::_Exit(2);
  const auto raised = qg::raise_open_file_limit();
  rlimit now{};
  if (::getrlimit(RLIMIT_NOFILE, &now) != 0) std::_Exit(3);
  const bool ok = raised.error == 0 && raised.soft == 256 && raised.hard == 256 && now.rlim_cur == 256;
  std::_Exit(ok ? 0 : 1);
}

// Runs in a child process (a death test), which sets a finite hard limit of its own: lowering
// the hard limit cannot be undone without privileges, and the host's may be unlimited.
TEST(ProcessLimits, TheSoftOpenFileLimitIsRaisedToTheHardLimit) {
  EXPECT_EXIT(raise_from_64_to_256(), ::testing::ExitedWithCode(0), "");
}

TEST(ProcessLimits, ALimitAlreadyAtTheHardLimitIsLeftAsItIs) {
  FileLimitGuard guard;
  qg::raise_open_file_limit();
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  const auto again = qg::raise_open_file_limit();
  EXPECT_EQ(again.error, 0);
  EXPECT_EQ(again.soft, before.rlim_cur);
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_cur);
}

}  // namespace

// raise_open_file_limit(): the soft open-file limit goes up to the hard one and never down.
// The test lowers its own soft limit first and restores it at the end.
#include <sys/resource.h>

#include <gtest/gtest.h>

#include "qg/common/process_limits.hpp"

namespace {

// Restores the open-file limit the test started with.
struct FileLimitGuard {
  rlimit saved{};
  FileLimitGuard() { ::getrlimit(RLIMIT_NOFILE, &saved); }
  ~FileLimitGuard() { ::setrlimit(RLIMIT_NOFILE, &saved); }
};

TEST(ProcessLimits, TheSoftOpenFileLimitIsRaisedToTheHardLimit) {
  FileLimitGuard guard;
  if (guard.saved.rlim_max == RLIM_INFINITY || guard.saved.rlim_max <= 64) {
    GTEST_SKIP() << "needs a finite hard limit above 64";
  }
  rlimit low = guard.saved;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);

  const auto raised = qg::raise_open_file_limit();
  EXPECT_EQ(raised.error, 0);
  EXPECT_EQ(raised.soft, guard.saved.rlim_max);
  EXPECT_EQ(raised.hard, guard.saved.rlim_max);
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, guard.saved.rlim_max);
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

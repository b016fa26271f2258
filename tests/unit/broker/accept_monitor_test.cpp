// Broker behaviour when the process runs out of file descriptors: a connection the broker
// cannot accept is counted (and warned about) through libzmq's socket monitor, and the broker
// serves again once descriptors are free. The test lowers its own open-file limit, fills it,
// and restores both before it asserts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <vector>

#include "broker_fixture.hpp"
#include "qg/testing/process.hpp"

namespace {

using namespace std::chrono_literals;
using qg::broker::testing::BrokerTest;

TEST_F(BrokerTest, AcceptsThatFailForLackOfDescriptorsAreCountedAndServiceResumes) {
  std::size_t open_now = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++open_now;
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  // Made while descriptors remain, connected once none are left: its accept then fails.
  const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(probe, 0);
  rlimit low = saved;
  low.rlim_cur = std::min<rlim_t>(saved.rlim_cur, open_now + 256);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> filler;
  for (int fd = ::dup(probe); fd >= 0; fd = ::dup(probe)) filler.push_back(fd);
  const int fill_errno = errno;

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(broker_->client_port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int connected = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const bool counted =
      connected == 0 && qg::testing::wait_until([&] { return broker_->counters().accept_failures.load() > 0; }, 5s);

  for (int fd : filler) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ::close(probe);
  EXPECT_EQ(fill_errno, EMFILE);
  EXPECT_EQ(connected, 0);
  EXPECT_TRUE(counted) << "no failed accept was counted";

  auto client = dealer(client_endpoint_);
  EXPECT_EQ(submit(client, {"after.spec.ts"}).job_ids.size(), 1u);
}

}  // namespace

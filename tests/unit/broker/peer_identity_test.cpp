// PeerIdentity: the strict parse of the ZAP user id a connection carries, and the identity
// of a message without one (local).
#include "qg/broker/peer_identity.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using qg::broker::PeerIdentity;
using qg::broker::PeerRole;

TEST(PeerIdentity, ParsesTheFourFormsOfUserId) {
  auto admin = PeerIdentity::parse("admin");
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->role(), PeerRole::admin);
  EXPECT_EQ(admin->id(), "");
  auto org = PeerIdentity::parse("org:acme");
  ASSERT_TRUE(org);
  EXPECT_EQ(org->role(), PeerRole::org);
  EXPECT_EQ(org->id(), "acme");
  EXPECT_EQ(org->user_id(), "org:acme");
  auto worker = PeerIdentity::parse("worker:pixel-7.lab:2");
  ASSERT_TRUE(worker);
  EXPECT_EQ(worker->role(), PeerRole::worker);
  EXPECT_EQ(worker->id(), "pixel-7.lab:2");
  auto scheduler = PeerIdentity::parse("scheduler");
  ASSERT_TRUE(scheduler);
  EXPECT_EQ(scheduler->role(), PeerRole::scheduler);
}

TEST(PeerIdentity, RefusesEveryOtherUserId) {
  for (const char* bad :
       {"", "local", "Admin", "admin ", " admin", "admin:x", "org", "org:", "org:acme.eu", "org:-x", "org:a b",
        "worker:", "worker:..", "worker:-rf", "worker:a\nb", "scheduler:1", "root", "org:acme\x01"}) {
    EXPECT_FALSE(PeerIdentity::parse(bad)) << bad;
  }
  EXPECT_FALSE(PeerIdentity::parse("org:" + std::string(65, 'a')));
  EXPECT_FALSE(PeerIdentity::parse("worker:" + std::string(129, 'w')));
  EXPECT_FALSE(PeerIdentity::parse(std::string("admin\0", 6)));
}

TEST(PeerIdentity, ALongIdKeepsItsViewWhenTheIdentityIsMovedOrCopied) {
  auto parsed = PeerIdentity::parse("worker:" + std::string(100, 'w'));
  ASSERT_TRUE(parsed);
  PeerIdentity moved = std::move(*parsed);
  PeerIdentity copy = moved;
  EXPECT_EQ(moved.id(), std::string(100, 'w'));
  EXPECT_EQ(copy.id(), std::string(100, 'w'));
  auto shortid = PeerIdentity::parse("org:a");
  PeerIdentity moved_short = std::move(*shortid);
  EXPECT_EQ(moved_short.id(), "a");
}

TEST(PeerIdentity, MakeBuildsTheSameIdentityAsParse) {
  EXPECT_EQ(PeerIdentity::make(PeerRole::org, "acme"), PeerIdentity::parse("org:acme"));
  EXPECT_EQ(PeerIdentity::make(PeerRole::worker, "w1"), PeerIdentity::parse("worker:w1"));
  EXPECT_EQ(PeerIdentity::make(PeerRole::admin), PeerIdentity::parse("admin"));
  EXPECT_FALSE(PeerIdentity::make(PeerRole::admin, "x"));
  EXPECT_FALSE(PeerIdentity::make(PeerRole::org, ""));
  EXPECT_TRUE(PeerIdentity::make(PeerRole::local)->is_local());
}

TEST(PeerIdentity, ScopeQuestionsFollowTheRole) {
  const PeerIdentity local;
  EXPECT_TRUE(local.acts_for_org("acme"));
  EXPECT_TRUE(local.is_worker("w1"));
  auto org = *PeerIdentity::parse("org:acme");
  EXPECT_TRUE(org.acts_for_org("acme"));
  EXPECT_FALSE(org.acts_for_org("globex"));
  EXPECT_FALSE(org.is_worker("acme"));
  auto admin = *PeerIdentity::parse("admin");
  EXPECT_TRUE(admin.acts_for_org("globex"));
  EXPECT_FALSE(admin.is_worker("w1"));
  auto worker = *PeerIdentity::parse("worker:w1");
  EXPECT_TRUE(worker.is_worker("w1"));
  EXPECT_FALSE(worker.is_worker("w2"));
  EXPECT_FALSE(worker.acts_for_org("w1"));
}

TEST(PeerIdentity, AMessageWithoutAUserIdIsLocal) {
  zmq::message_t message(std::string("x"));
  auto peer = qg::broker::peer_of(message);
  ASSERT_TRUE(peer);
  EXPECT_TRUE(peer->is_local());
}

}  // namespace

// OrgSeqCounter: JOB events' org_seq rises by one per org of one source, in bounded memory.
#include <string>

#include <gtest/gtest.h>

#include "qg/proto/event_seq.hpp"

namespace qg::proto {
namespace {

TEST(OrgSeqCounter, CountsEachOrgFromOne) {
  OrgSeqCounter seqs;
  EXPECT_EQ(seqs.next("acme"), 1u);
  EXPECT_EQ(seqs.next("beta"), 1u);
  EXPECT_EQ(seqs.next("acme"), 2u);
  EXPECT_EQ(seqs.next("acme"), 3u);
  EXPECT_EQ(seqs.next("beta"), 2u);
}

TEST(OrgSeqCounter, PastItsLimitEveryCountStartsAgain) {
  OrgSeqCounter seqs;
  seqs.next("acme");
  seqs.next("acme");
  for (std::size_t i = 1; i < OrgSeqCounter::kMaxOrgs; ++i) EXPECT_EQ(seqs.next("org" + std::to_string(i)), 1u);
  EXPECT_EQ(seqs.next("acme"), 3u);  // still counted: kMaxOrgs orgs so far
  EXPECT_EQ(seqs.next("one-more"), 1u);
  EXPECT_EQ(seqs.next("acme"), 1u);  // read by subscribers as a restarted source
}

}  // namespace
}  // namespace qg::proto

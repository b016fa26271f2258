#pragma once
// The JobStore contract. Submitting: submit, submit_many and batches sent ahead of their reply
// (send_submits / take_submits): what is written, idempotency keys, refusals that write nothing,
// and the wakeup descriptor a submit makes readable.
//
// Cases of JobStoreContract (contract_fixture.hpp), registered in job_store_contract.hpp:
// include that header, not this one.

#include <poll.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "contract_fixture.hpp"

namespace qg::sched::contract {

TYPED_TEST_P(JobStoreContract, SubmitThenGetReturnsQueuedJobs) {
  auto out = this->submit({.org = "acme", .app = "v1", .count = 3, .priority = Priority::high, .retries = 2}, kT0);
  ASSERT_EQ(out.job_ids.size(), 3u);
  EXPECT_FALSE(out.duplicate);
  std::vector<std::string> ids = out.job_ids;
  ids.push_back("missing");
  auto jobs = this->store().get(ids);
  ASSERT_EQ(jobs.size(), 4u);
  EXPECT_FALSE(jobs[3].has_value());
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(jobs[i].has_value());
    const auto& j = *jobs[i];
    EXPECT_EQ(j.id, out.job_ids[i]);
    EXPECT_EQ(j.org_id, "acme");
    EXPECT_EQ(j.app_version_id, "v1");
    EXPECT_EQ(j.test_path, "tests/t" + std::to_string(i) + ".spec.js");
    EXPECT_EQ(j.priority, Priority::high);
    EXPECT_EQ(j.status, JobStatus::queued);
    EXPECT_EQ(j.attempt, 0u);
    EXPECT_EQ(j.max_attempts, 3u);
    EXPECT_EQ(j.retries, 2u);
    EXPECT_EQ(j.created_at_ms, kT0);
    EXPECT_EQ(j.submission_id, out.submission_id);
    EXPECT_TRUE(j.lease_id.empty());
  }
  EXPECT_EQ(this->store().queue_depth(), 3u);
}

TYPED_TEST_P(JobStoreContract, IdempotentSubmitReturnsSameIdsAndWritesNothing) {
  auto first = this->submit({.count = 2, .idempotency_key = "k1"}, kT0);
  auto second = this->submit({.count = 5, .idempotency_key = "k1"}, kT0 + 10);
  EXPECT_TRUE(second.duplicate);
  EXPECT_EQ(second.submission_id, first.submission_id);
  EXPECT_EQ(second.job_ids, first.job_ids);
  EXPECT_EQ(this->store().queue_depth(), 2u);
  // Same key in another org is a different submission.
  auto other = this->submit({.org = "other", .count = 1, .idempotency_key = "k1"}, kT0);
  EXPECT_FALSE(other.duplicate);
  EXPECT_EQ(this->store().queue_depth(), 3u);
}

TYPED_TEST_P(JobStoreContract, WakeupFdBecomesReadableAfterSubmit) {
  this->store().drain_wakeups();
  pollfd p{this->store().wakeup_fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 0);
  this->submit({.count = 1}, kT0);
  p.revents = 0;
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  this->store().drain_wakeups();
  p.revents = 0;
  EXPECT_EQ(::poll(&p, 1, 0), 0);
}

TYPED_TEST_P(JobStoreContract, SubmitManyAppliesEachInOrderAndRefusesOnlyTheBadOne) {
  auto make = [&](std::string app, std::size_t n, std::string idem) { return this->new_submission(app, n, idem); };
  auto first = make("a", 2, "k1");
  auto again = make("a", 3, "k1");  // same key in the same batch: a duplicate of `first`
  auto bad = make("b", 2, "");
  bad.job_ids[1] = first.job_ids[0];  // an id that exists: refused, nothing of it written
  auto other = make("c", 1, "");
  std::vector<NewSubmission> batch = {first, again, bad, other};
  auto results = this->store().submit_many(batch, kT0);
  ASSERT_EQ(results.size(), 4u);
  ASSERT_TRUE(results[0].outcome);
  EXPECT_FALSE(results[0].outcome->duplicate);
  ASSERT_TRUE(results[1].outcome);
  EXPECT_TRUE(results[1].outcome->duplicate);
  EXPECT_EQ(results[1].outcome->job_ids, first.job_ids);
  EXPECT_FALSE(results[2].outcome);
  EXPECT_FALSE(results[2].error.empty());
  ASSERT_TRUE(results[3].outcome);
  std::vector<std::string> bad_first{bad.job_ids[0]};
  EXPECT_FALSE(this->store().get(bad_first).at(0).has_value());
  EXPECT_EQ(this->store().queue_depth(), 3u);
}

TYPED_TEST_P(JobStoreContract, SentSubmitsComeBackInSendOrderAndLaterCallsSeeThemApplied) {
  auto make = [&](std::string app, std::size_t n, std::string idem) { return this->new_submission(app, n, idem); };
  auto first = make("a", 2, "k1");
  auto again = make("a", 4, "k1");  // a later batch sees the first's idempotency key
  auto bad = make("b", 1, "");
  bad.test_paths.clear();  // refused alone, by the checks before the store
  auto other = make("c", 3, "");
  auto& store = this->store();
  EXPECT_EQ(store.submits_in_flight(), 0u);
  store.send_submits({first}, kT0);
  store.send_submits({again, bad}, kT0);
  store.send_submits({}, kT0);  // an empty batch keeps its place too
  store.send_submits({other}, kT0);
  EXPECT_EQ(store.submits_in_flight(), 4u);
  // A later call sees every batch sent before it applied.
  EXPECT_EQ(store.queue_depth(), 5u);
  auto c = this->claim("w", kT0);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(this->ids_of(*c), first.job_ids);

  auto b1 = store.take_submits(true);
  ASSERT_TRUE(b1);
  ASSERT_EQ(b1->failure, JobStore::SentSubmits::Failure::none) << b1->error;
  ASSERT_EQ(b1->results.size(), 1u);
  ASSERT_TRUE(b1->results[0].outcome);
  EXPECT_FALSE(b1->results[0].outcome->duplicate);
  EXPECT_EQ(b1->results[0].outcome->job_ids, first.job_ids);
  EXPECT_EQ(b1->submissions.at(0).submission_id, first.submission_id);  // handed back

  auto b2 = store.take_submits(true);
  ASSERT_TRUE(b2);
  ASSERT_EQ(b2->results.size(), 2u);
  ASSERT_TRUE(b2->results[0].outcome);
  EXPECT_TRUE(b2->results[0].outcome->duplicate);
  EXPECT_EQ(b2->results[0].outcome->submission_id, first.submission_id);
  EXPECT_FALSE(b2->results[1].outcome);
  EXPECT_FALSE(b2->results[1].error.empty());

  auto b3 = store.take_submits(true);
  ASSERT_TRUE(b3);
  EXPECT_TRUE(b3->results.empty());
  auto b4 = store.take_submits(true);
  ASSERT_TRUE(b4);
  ASSERT_EQ(b4->results.size(), 1u);
  ASSERT_TRUE(b4->results[0].outcome);
  EXPECT_EQ(b4->results[0].outcome->job_ids, other.job_ids);
  EXPECT_EQ(b4->submissions.at(0).app_version_id, "c");

  EXPECT_EQ(store.submits_in_flight(), 0u);
  EXPECT_FALSE(store.take_submits(true));
  EXPECT_EQ(store.submits_fd(), -1);
}

TYPED_TEST_P(JobStoreContract, SentSubmitsRefuseTakenAndRepeatedIdsAloneAndDuplicatesWriteNothing) {
  auto make = [&](std::string app, std::size_t n, std::string idem) { return this->new_submission(app, n, idem); };
  auto& store = this->store();
  auto first = make("a", 2, "k1");
  store.send_submits({first}, kT0);
  auto taken = make("b", 2, "");
  taken.job_ids[1] = first.job_ids[0];  // an id that exists already
  auto fine = make("c", 1, "");
  store.send_submits({taken, fine}, kT0);
  auto dup = make("d", 3, "k1");  // a known key: nothing of it is written
  auto fine2 = make("e", 1, "");
  store.send_submits({dup, fine2}, kT0);
  auto repeat = make("f", 2, "");
  repeat.job_ids[1] = repeat.job_ids[0];  // the same id twice in one submission
  auto fine3 = make("g", 1, "");
  store.send_submits({repeat, fine3}, kT0);

  std::vector<JobStore::SentSubmits> done;
  while (auto d = store.take_submits(true)) done.push_back(std::move(*d));
  ASSERT_EQ(done.size(), 4u);
  for (std::size_t i = 0; i < done.size(); ++i) {
    ASSERT_EQ(done[i].failure, JobStore::SentSubmits::Failure::none) << "batch " << i << ": " << done[i].error;
  }
  EXPECT_TRUE(done[0].results[0].outcome);
  EXPECT_FALSE(done[1].results[0].outcome);
  EXPECT_NE(done[1].results[0].error.find("exists"), std::string::npos) << done[1].results[0].error;
  ASSERT_TRUE(done[1].results[1].outcome);
  ASSERT_TRUE(done[2].results[0].outcome);
  EXPECT_TRUE(done[2].results[0].outcome->duplicate);
  EXPECT_EQ(done[2].results[0].outcome->job_ids, first.job_ids);
  ASSERT_TRUE(done[2].results[1].outcome);
  EXPECT_FALSE(done[3].results[0].outcome);
  ASSERT_TRUE(done[3].results[1].outcome);

  // The refused and duplicate submissions left no job behind; the first job is untouched.
  std::vector<std::string> gone = {taken.job_ids[0], dup.job_ids[0], dup.job_ids[2], repeat.job_ids[0]};
  for (const auto& j : store.get(gone)) EXPECT_FALSE(j.has_value());
  EXPECT_EQ(this->job(first.job_ids[0]).app_version_id, "a");
  EXPECT_EQ(store.queue_depth(), 5u);  // first (2), fine, fine2, fine3
  // Nor did they leave an index entry or an org count: every job written is listed once, by
  // org and by build, and counted once. (In which order depends on the store: a batch that
  // Redis refuses is written again when it is taken.)
  std::vector<std::string> written = {first.job_ids[0], first.job_ids[1], fine.job_ids[0], fine2.job_ids[0],
                                      fine3.job_ids[0]};
  std::sort(written.begin(), written.end());
  auto listed = [&](const std::string& app) {
    ListQuery q;
    q.org_id = "org";
    q.app_version_id = app;
    q.limit = 100;
    std::vector<std::string> out;
    for (const auto& j : store.list(q).jobs) out.push_back(j.id);
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(listed(""), written);
  EXPECT_EQ(listed("b"), std::vector<std::string>{});
  EXPECT_EQ(listed("c"), std::vector<std::string>{fine.job_ids[0]});
  EXPECT_EQ(listed("d"), std::vector<std::string>{});
  EXPECT_EQ(store.stats(kT0).by_org.at("org"), 5u);
}

TYPED_TEST_P(JobStoreContract, SentSubmitIsTakenOnceItsDescriptorSaysSo) {
  auto s = this->new_submission("app", 1);
  auto& store = this->store();
  store.send_submits({s}, kT0);
  // The caller's loop: wait on the descriptor (when there is one), then take without waiting.
  std::optional<JobStore::SentSubmits> done;
  for (int round = 0; round < 1000 && !done; ++round) {
    const int fd = store.submits_fd();
    if (fd >= 0) {
      pollfd p{fd, POLLIN, 0};
      ASSERT_EQ(::poll(&p, 1, 5000), 1) << "the reply never made the descriptor readable";
    }
    done = store.take_submits(false);
  }
  ASSERT_TRUE(done);
  ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
  ASSERT_TRUE(done->results.at(0).outcome);
  EXPECT_EQ(this->job(s.job_ids[0]).status, JobStatus::queued);
}

// A sent batch ends in the state submit_many leaves (on Redis the two are different scripts):
// one batch of every kind of submission is given to each, under two orgs, and the two orgs
// are compared through what a user can see: counts, list indexes, duplicates and the order
// in which claims hand the jobs out.
TYPED_TEST_P(JobStoreContract, SentBatchEndsAsSubmitManyDoes) {
  auto& store = this->store();
  struct Shape {
    std::string app;
    std::size_t n;
    std::string idem;
    Priority priority;
    Target target;
  };
  const std::vector<Shape> shapes = {
      {"a", 1, "k1", Priority::low, Target::emulator},    {"a", 3, "k2", Priority::high, Target::emulator},
      {"b", 2, "", Priority::medium, Target::device},     {"a", 1, "", Priority::medium, Target::emulator},
      {"c", 0, "k0", Priority::medium, Target::emulator}, {"a", 2, "", Priority::low, Target::emulator},
      {"b", 1, "k3", Priority::high, Target::device},     {"d", 1, "", Priority::medium, Target::browserstack},
  };
  auto batch_of = [&](const std::string& org) {
    std::vector<NewSubmission> out;
    for (const auto& sh : shapes) {
      auto sub = this->new_submission(sh.app, sh.n, sh.idem);
      sub.org_id = org;
      sub.priority = sh.priority;
      sub.target = sh.target;
      out.push_back(std::move(sub));
    }
    return out;
  };
  // Every job id of a batch as its place in the batch ("s.k"), so the two orgs compare.
  auto place_of = [](const std::vector<NewSubmission>& batch) {
    std::map<std::string, std::string> out;
    for (std::size_t s = 0; s < batch.size(); ++s) {
      for (std::size_t k = 0; k < batch[s].job_ids.size(); ++k)
        out[batch[s].job_ids[k]] = std::to_string(s) + "." + std::to_string(k);
    }
    return out;
  };
  const auto direct = batch_of("x");
  const auto sent = batch_of("y");
  const auto x_place = place_of(direct);
  const auto y_place = place_of(sent);
  for (const auto& r : store.submit_many(direct, kT0)) ASSERT_TRUE(r.outcome) << r.error;
  store.send_submits(sent, kT0);
  auto done = store.take_submits(true);
  ASSERT_TRUE(done);
  ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
  for (std::size_t s = 0; s < sent.size(); ++s) {
    ASSERT_TRUE(done->results.at(s).outcome) << done->results[s].error;
    EXPECT_FALSE(done->results[s].outcome->duplicate);
    EXPECT_EQ(done->results[s].outcome->job_ids, sent[s].job_ids);
  }

  const auto stats = store.stats(kT0);
  EXPECT_EQ(stats.by_org.at("x"), 11u);
  EXPECT_EQ(stats.by_org.at("y"), stats.by_org.at("x"));
  EXPECT_EQ(stats.by_status.at("queued"), 22u);
  auto listed = [&](const std::string& org, const std::string& app, const std::map<std::string, std::string>& place) {
    std::vector<std::string> out;
    ListQuery q;
    q.org_id = org;
    q.app_version_id = app;
    q.limit = 100;
    for (const auto& j : store.list(q).jobs) out.push_back(place.at(j.id));
    return out;
  };
  for (const std::string app : {"", "a", "b", "c", "d"}) {
    EXPECT_EQ(listed("y", app, y_place), listed("x", app, x_place)) << "app '" << app << "'";
  }
  // The same keys again: duplicates of the first submissions, with their ids.
  for (std::size_t s : {0u, 1u, 4u, 6u}) {
    for (const auto* batch : {&direct, &sent}) {
      auto again = this->new_submission((*batch)[s].app_version_id, 1, (*batch)[s].idempotency_key);
      again.org_id = (*batch)[s].org_id;
      auto r = store.submit(again, kT0 + 1);
      EXPECT_TRUE(r.duplicate);
      EXPECT_EQ(r.submission_id, (*batch)[s].submission_id);
      EXPECT_EQ(r.job_ids, (*batch)[s].job_ids);
    }
  }
  // Claims hand both orgs' jobs out in the same order, group by group.
  std::map<std::string, std::vector<std::string>> handed;  // org -> "group: places"
  while (auto c = this->claim("w", kT0 + 2)) {
    const auto org = c->group_key.substr(0, 1);
    std::string line = c->group_key.substr(1) + ":";
    for (const auto& j : c->jobs) line += " " + (org == "x" ? x_place : y_place).at(j.id);
    handed[org].push_back(line);
  }
  EXPECT_EQ(handed["x"].size(), 3u);  // a/emulator, b/device, d/browserstack; c has no jobs
  EXPECT_EQ(handed["y"], handed["x"]);
}

// Two submissions of one batch with the same idempotency key: the first is written, the
// second is its duplicate, as when they come one after the other.
TYPED_TEST_P(JobStoreContract, SentBatchThatRepeatsAnIdempotencyKeyWritesTheFirstOnly) {
  auto& store = this->store();
  auto first = this->new_submission("a", 2, "k");
  auto second = this->new_submission("b", 1, "k");
  store.send_submits({first, second}, kT0);
  auto done = store.take_submits(true);
  ASSERT_TRUE(done);
  ASSERT_EQ(done->failure, JobStore::SentSubmits::Failure::none) << done->error;
  ASSERT_TRUE(done->results.at(0).outcome);
  EXPECT_FALSE(done->results[0].outcome->duplicate);
  ASSERT_TRUE(done->results.at(1).outcome);
  EXPECT_TRUE(done->results[1].outcome->duplicate);
  EXPECT_EQ(done->results[1].outcome->submission_id, first.submission_id);
  EXPECT_EQ(done->results[1].outcome->job_ids, first.job_ids);
  EXPECT_FALSE(store.get(second.job_ids).at(0).has_value());
  EXPECT_EQ(store.queue_depth(), 2u);
}

}  // namespace qg::sched::contract

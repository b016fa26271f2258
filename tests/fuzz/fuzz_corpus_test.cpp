// Replays the seed corpus in tests/fuzz/corpus/ through the fuzz entry (fuzz_entry.cpp) in
// every build, so the invariants the fuzzer checks are also checked by plain `ctest`.
//
// The seeds are made from the protocol test samples; SeedCorpusMatchesTheMessages checks that
// corpus/ holds exactly those bytes, and rewrites it when QG_WRITE_SEED_CORPUS=1:
//   QG_WRITE_SEED_CORPUS=1 build/tests/fuzz_corpus_test --gtest_filter='*SeedCorpus*'

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fuzz_entry.hpp"
#include "proto_test_util.hpp"

namespace qg::proto {
namespace {

namespace fs = std::filesystem;

fs::path corpus_dir() { return fs::path(test::source_dir()) / "tests" / "fuzz" / "corpus"; }

std::vector<fs::path> seed_files() {
  std::vector<fs::path> files;
  if (!fs::is_directory(corpus_dir())) return files;
  for (const auto& entry : fs::directory_iterator(corpus_dir())) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string run(std::string_view bytes) {
  return fuzz::run_one(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

TEST(ProtoFuzzCorpus, EverySeedKeepsEveryInvariant) {
  const std::vector<fs::path> files = seed_files();
  ASSERT_GE(files.size(), 70u) << "seed corpus missing under " << corpus_dir();
  for (const fs::path& file : files) {
    EXPECT_EQ(run(test::read_file(file.string())), "") << file.filename();
  }
}

TEST(ProtoFuzzCorpus, BadInputsKeepEveryInvariant) {
  std::istringstream lines(test::read_file(test::source_dir() + "/tests/unit/proto/bad_inputs.txt"));
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line.front() == '#') continue;
    EXPECT_EQ(run(from_hex(line)), "") << line;
    ++count;
  }
  EXPECT_GT(count, 0);
}

TEST(ProtoFuzzCorpus, EdgeInputsKeepEveryInvariant) {
  EXPECT_EQ(run(""), "");
  EXPECT_EQ(run(std::string(fuzz::kFrameSeparator)), "");
  EXPECT_EQ(run(std::string(1, '\0')), "");
  EXPECT_EQ(run(std::string(4096, '\xc1')), "");
  EXPECT_EQ(run(std::string(4096, '\x91') + '\x80'), "");
  EXPECT_EQ(run(from_hex("dd ff ff ff ff")), "");
}

// Seeds: for every message type its body alone, and its whole framed message. Writes them
// when `write` is set; otherwise checks the files hold exactly these bytes.
bool g_write_seeds = false;

void check_or_write(const fs::path& path, const std::string& bytes) {
  if (g_write_seeds) {
    std::ofstream(path, std::ios::binary) << bytes;
    return;
  }
  EXPECT_EQ(test::read_file(path.string()), bytes) << path.filename() << " is stale: rerun with QG_WRITE_SEED_CORPUS=1";
}

template <class T>
void write_seeds(const fs::path& dir, std::string_view protocol, const std::string& topic = {}) {
  const std::string name = test::TypeName::GetName<T>(0);
  check_or_write(dir / (name + ".body"), encode(test::sample<T>()));
  std::vector<std::string> frames = frames_of(protocol, test::sample<T>());
  if (!topic.empty()) frames.insert(frames.begin(), topic);
  check_or_write(dir / (name + (topic.empty() ? ".frames" : ".event")), fuzz::join_frames(frames));
}

TEST(ProtoFuzzCorpus, SeedCorpusMatchesTheMessages) {
  const char* write = std::getenv("QG_WRITE_SEED_CORPUS");
  g_write_seeds = write != nullptr && std::string(write) == "1";
  const fs::path dir = corpus_dir();
  if (g_write_seeds) fs::create_directories(dir);
  write_seeds<SubmitRequest>(dir, kClientProtocol);
  write_seeds<SubmitReply>(dir, kClientProtocol);
  write_seeds<StatusRequest>(dir, kClientProtocol);
  write_seeds<StatusReply>(dir, kClientProtocol);
  write_seeds<ListRequest>(dir, kClientProtocol);
  write_seeds<ListReply>(dir, kClientProtocol);
  write_seeds<CancelRequest>(dir, kClientProtocol);
  write_seeds<CancelReply>(dir, kClientProtocol);
  write_seeds<RetryRequest>(dir, kClientProtocol);
  write_seeds<RetryReply>(dir, kClientProtocol);
  write_seeds<QueueRequest>(dir, kClientProtocol);
  write_seeds<QueueReply>(dir, kClientProtocol);
  write_seeds<WorkersRequest>(dir, kClientProtocol);
  write_seeds<DrainWorkerRequest>(dir, kClientProtocol);
  write_seeds<DrainWorkerReply>(dir, kClientProtocol);
  write_seeds<ForgetWorkerRequest>(dir, kClientProtocol);
  write_seeds<ForgetWorkerReply>(dir, kClientProtocol);
  write_seeds<WorkersReply>(dir, kClientProtocol);
  write_seeds<HealthRequest>(dir, kClientProtocol);
  write_seeds<HealthReply>(dir, kClientProtocol);
  write_seeds<StatsRequest>(dir, kClientProtocol);
  write_seeds<StatsReply>(dir, kClientProtocol);
  write_seeds<EventsTopicRequest>(dir, kClientProtocol);
  write_seeds<EventsTopicReply>(dir, kClientProtocol);
  write_seeds<ErrorReply>(dir, kClientProtocol);
  write_seeds<Hello>(dir, kWorkerProtocol);
  write_seeds<HelloReply>(dir, kWorkerProtocol);
  write_seeds<Pull>(dir, kWorkerProtocol);
  write_seeds<Assign>(dir, kWorkerProtocol);
  write_seeds<NoWork>(dir, kWorkerProtocol);
  write_seeds<Report>(dir, kWorkerProtocol);
  write_seeds<Confirm>(dir, kWorkerProtocol);
  write_seeds<Progress>(dir, kWorkerProtocol);
  write_seeds<Heartbeat>(dir, kWorkerProtocol);
  write_seeds<Release>(dir, kWorkerProtocol);
  write_seeds<ReleaseReply>(dir, kWorkerProtocol);
  write_seeds<Bye>(dir, kWorkerProtocol);
  write_seeds<ByeReply>(dir, kWorkerProtocol);
  write_seeds<CancelJob>(dir, kWorkerProtocol);
  write_seeds<DrainRequested>(dir, kWorkerProtocol);
  write_seeds<JobEvent>(dir, kEventProtocol, "job.acme.J1");
  write_seeds<WorkerEvent>(dir, kEventProtocol, "worker.w-pixel-7:1");
  write_seeds<Heartbeat>(dir, kEventProtocol, "hb.w-pixel-7:1");
}

}  // namespace
}  // namespace qg::proto

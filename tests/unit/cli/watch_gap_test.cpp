// `qgjob watch` shows "(missed events ...)" when events were lost and only then: under an org
// filter, the source's seq skips over the other orgs' events, so gaps are judged by org_seq.
// A fake event stream (an XPUB, which filters by subscription as the broker's does) sends
// hand-built JOB events to run_watch on a thread.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <sstream>
#include <thread>

#include <zmq.hpp>

#include "qg/cli/commands.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/proto/codec.hpp"
#include "qg/testing/process.hpp"

namespace qg::cli {
namespace {

using namespace std::chrono_literals;

// An ostream buffer the watching thread writes while the test reads it.
class SharedText : public std::streambuf {
 public:
  std::string text() const {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  int_type overflow(int_type c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    std::lock_guard lock(mutex_);
    text_ += traits_type::to_char_type(c);
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard lock(mutex_);
    text_.append(s, static_cast<std::size_t>(n));
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::string text_;
};

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class WatchGaps : public ::testing::Test {
 protected:
  WatchGaps() : context_(1), xpub_(context_, zmq::socket_type::xpub), out_(&out_text_), err_(&err_text_) {
    set_common_options(xpub_);
    xpub_.bind("tcp://127.0.0.1:*");
  }
  ~WatchGaps() override {
    stop_ = true;
    if (watcher_.joinable()) watcher_.join();
  }

  // Starts `qgjob watch` with `c` and waits until its subscription has reached the stream.
  void start(WatchConfig c) {
    GlobalConfig g;
    g.events = "tcp://127.0.0.1:" + std::to_string(bound_port(xpub_));
    watcher_ = std::thread([this, g, c] { run_watch(g, c, Io{out_, err_, &stop_}); });
    zmq::pollitem_t items[] = {{static_cast<void*>(xpub_), 0, ZMQ_POLLIN, 0}};
    ASSERT_GT(zmq::poll(items, 1, 5000ms), 0) << "no subscription";
    auto sub = recv_multipart(xpub_, 4, 1024);
    ASSERT_TRUE(sub.has_value());
  }

  void publish(const std::string& org, const std::string& job, std::uint64_t seq, std::uint64_t org_seq) {
    proto::JobEvent e;
    e.source = "broker-1";
    e.seq = seq;
    e.org_seq = org_seq;
    e.job_id = job;
    e.org_id = org;
    e.app_version_id = "v1";
    e.status = proto::JobStatus::queued;
    e.at_ms = 1718000000000;
    send_multipart(xpub_, {"job." + org + "." + job, std::string(proto::kEventProtocol),
                           std::string(proto::JobEvent::command), proto::encode(e)});
  }

  // Waits until `lines` lines naming a job were printed; then the printed text.
  std::string printed_after(std::size_t lines) {
    EXPECT_TRUE(qg::testing::wait_until([&] { return count_of(out_text_.text(), "  queued  ") >= lines; }, 5s));
    return out_text_.text();
  }

  zmq::context_t context_;
  zmq::socket_t xpub_;
  SharedText out_text_, err_text_;
  std::ostream out_, err_;
  std::atomic<bool> stop_{false};
  std::thread watcher_;
};

TEST_F(WatchGaps, AnOrgFilterSeesNoGapWhereOnlyOtherOrgsEventsWereSkipped) {
  WatchConfig c;
  c.org_id = "acme";
  start(c);
  // Seq 2, 4, 5 went to org beta: filtered out by the subscription, as the broker's XPUB would.
  publish("acme", "J1", 1, 1);
  publish("beta", "K1", 2, 1);
  publish("acme", "J1", 3, 2);
  publish("beta", "K1", 4, 2);
  publish("beta", "K1", 5, 3);
  publish("acme", "J2", 6, 3);
  auto text = printed_after(3);
  EXPECT_EQ(count_of(text, "missed events"), 0u) << text;
  EXPECT_EQ(count_of(text, "K1"), 0u) << text;

  // One acme event lost (org_seq 4): that is a gap.
  publish("acme", "J2", 9, 5);
  text = printed_after(4);
  EXPECT_EQ(count_of(text, "(missed events from broker-1)\n"), 1u) << text;
  EXPECT_LT(text.find("missed events"), text.rfind("J2")) << text;
}

TEST_F(WatchGaps, AJobFilterShowsAGapOnlyWhenItsOrgsEventsWereLost) {
  WatchConfig c;
  c.org_id = "acme";
  c.job_id = "J1";
  start(c);
  publish("acme", "J1", 1, 1);
  publish("acme", "J2", 2, 2);
  publish("acme", "J1", 4, 3);
  auto text = printed_after(2);
  EXPECT_EQ(count_of(text, "missed events"), 0u) << text;
  EXPECT_EQ(count_of(text, "J2"), 0u) << text;
  // Lost: acme's org_seq 5, seen as a gap on J2's event, shown before J1's next one.
  publish("acme", "J2", 7, 6);
  publish("acme", "J1", 8, 7);
  text = printed_after(3);
  EXPECT_EQ(count_of(text, "missed events"), 1u) << text;
  EXPECT_EQ(count_of(text, "J2"), 0u) << text;
}

TEST_F(WatchGaps, WatchingEverythingJudgesGapsBySeq) {
  start(WatchConfig());
  publish("acme", "J1", 1, 1);
  publish("beta", "K1", 2, 1);
  publish("acme", "J1", 4, 2);
  auto text = printed_after(3);
  EXPECT_EQ(count_of(text, "missed events"), 1u) << text;
}

}  // namespace
}  // namespace qg::cli

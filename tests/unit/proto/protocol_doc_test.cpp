// docs/protocol.md carries byte-exact example bodies in blocks fenced as
//   ```hex example=<name>
// holding hex bytes, with "# comments" to the end of a line.
// This test builds each example message, encodes it and compares it with the block, and
// decodes the block back; so the document cannot drift from the code.

#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "proto_test_util.hpp"

namespace qg::proto {
namespace {

struct Example {
  std::string name;
  std::string body;
  // Decodes the block as the example's type and re-encodes it; empty optional on error.
  std::function<std::optional<std::string>(std::string_view)> round_trip;
};

template <class T>
Example example(std::string name, const T& message) {
  return Example{std::move(name), encode(message), [](std::string_view block) -> std::optional<std::string> {
                   const Expected<T> decoded = decode<T>(block);
                   if (!decoded.ok()) return std::nullopt;
                   return encode(*decoded);
                 }};
}

// The examples of docs/protocol.md, built in code.
std::vector<Example> examples() {
  std::vector<Example> out;
  out.push_back(example("submit_request", SubmitRequest{"r1",
                                                        "acme",
                                                        "v1.2.3",
                                                        {"tests/login.spec.ts", "tests/cart.spec.ts"},
                                                        Priority::high,
                                                        Target::device,
                                                        "ci-42",
                                                        1,
                                                        0}));
  out.push_back(example("submit_reply", SubmitReply{"r1",
                                                    "01J0S0B9Z6E4RT1GQ7K3M5N8PA",
                                                    {"01J0S0B9Z7E4RT1GQ7K3M5N8PB", "01J0S0B9Z7E4RT1GQ7K3M5N8PC"},
                                                    false,
                                                    ""}));
  out.push_back(example("status_request", StatusRequest{"r2", {"01J0S0B9Z7E4RT1GQ7K3M5N8PB"}}));

  Job job;
  job.id = "01J0S0B9Z7E4RT1GQ7K3M5N8PB";
  job.org_id = "acme";
  job.app_version_id = "v1.2.3";
  job.test_path = "tests/login.spec.ts";
  job.priority = Priority::high;
  job.target = Target::device;
  job.status = JobStatus::passed;
  job.attempt = 1;
  job.max_attempts = 3;
  job.retries = 1;
  job.created_at_ms = 1718000000000;
  job.updated_at_ms = 1718000042000;
  job.submission_id = "01J0S0B9Z6E4RT1GQ7K3M5N8PA";
  job.worker_id = "pixel7-a:0";
  job.lease_id = "";
  job.exit_code = 0;
  job.duration_ms = 31200;
  job.last_error = "";
  job.log_tail = "1 passed";
  job.flaky = false;
  out.push_back(example("status_reply", StatusReply{"r2", {job}, {}, {}, {}, {}, {}}));

  out.push_back(example("pull", Pull{"p7", "pixel7-a:0", {Target::device}, {"acme/v1.2.2"}, 5000}));
  Assign assign;
  assign.rid = "p7";
  assign.lease_id = "01J0S0C1A0E4RT1GQ7K3M5N8PD";
  assign.group_key = "acme/v1.2.3/device";
  assign.org_id = "acme";
  assign.app_version_id = "v1.2.3";
  assign.target = Target::device;
  assign.reinstall = false;
  assign.jobs = {AssignedJob{"01J0S0B9Z7E4RT1GQ7K3M5N8PB", "tests/login.spec.ts", 1, Priority::high},
                 AssignedJob{"01J0S0B9Z7E4RT1GQ7K3M5N8PC", "tests/cart.spec.ts", 1, Priority::high}};
  out.push_back(example("assign", assign));
  out.push_back(example("nowork", NoWork{"p8"}));
  out.push_back(example("progress", Progress{"pixel7-a:0", "01J0S0C1A0E4RT1GQ7K3M5N8PD", "01J0S0B9Z7E4RT1GQ7K3M5N8PB",
                                             1, JobStatus::running}));
  out.push_back(example("report", Report{"p9", "pixel7-a:0", "01J0S0C1A0E4RT1GQ7K3M5N8PD", "01J0S0B9Z7E4RT1GQ7K3M5N8PB",
                                         1, JobStatus::failed, 1, 31200, "1 failed", "", std::nullopt}));
  out.push_back(example("confirm", Confirm{"p9", "01J0S0B9Z7E4RT1GQ7K3M5N8PB", 1, true, ""}));
  Heartbeat hb;
  hb.worker_id = "pixel7-a:0";
  hb.device_id = "R5CT1234";
  hb.state = "busy";
  hb.lease_id = "01J0S0C1A0E4RT1GQ7K3M5N8PD";
  hb.group_key = "acme/v1.2.3/device";
  hb.jobs = {HeartbeatJob{"01J0S0B9Z7E4RT1GQ7K3M5N8PB", 1, JobStatus::running}};
  hb.seq = 1042;
  hb.sent_at_ms = 1718000040000;
  out.push_back(example("heartbeat", hb));
  out.push_back(example("error_reply",
                        ErrorReply{"r1", Error{"INVALID_FIELD", "must not contain a \"..\" segment", "tests[0]"}}));
  out.push_back(example("job_event", JobEvent{"broker-1", 17, "01J0S0B9Z7E4RT1GQ7K3M5N8PB", "acme", "v1.2.3", 1,
                                              JobStatus::running, "pixel7-a:0", "", 1718000011000, 5,
                                              "tests/login.spec.ts", Target::device, Priority::high}));
  return out;
}

// name -> block text of every ```hex example=<name> block in the document.
std::multimap<std::string, std::string> doc_blocks(const std::string& doc) {
  const std::string opener = "```hex example=";
  std::multimap<std::string, std::string> blocks;
  std::istringstream lines(doc);
  std::string line;
  std::string name;
  std::string block;
  bool inside = false;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!inside && line.rfind(opener, 0) == 0) {
      name = line.substr(opener.size());
      block.clear();
      inside = true;
    } else if (inside && line.rfind("```", 0) == 0) {
      blocks.emplace(name, block);
      inside = false;
    } else if (inside) {
      block += line + "\n";
    }
  }
  return blocks;
}

// A block's bytes: its hex with every "# comment" (to the end of the line) removed.
std::string block_bytes(const std::string& block) {
  std::string hex;
  std::istringstream lines(block);
  std::string line;
  while (std::getline(lines, line)) hex += line.substr(0, line.find('#')) + "\n";
  return from_hex(hex);
}

// ---- the annotated layout the document uses ------------------------------------------------
// One line per map entry or array item: its bytes in hex, then "# what they mean". Printed
// by the test when a block is missing or wrong, ready to paste.

std::string hex_of(const msgpack::object& o) {
  return to_hex(test::packed([&](auto& pk) { pk.pack(o); }));
}

std::string scalar_text(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::STR: {
      std::string out = "\"";
      for (char c : std::string_view(o.via.str.ptr, o.via.str.size)) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '\n') {
          out += "\\n";
          continue;
        }
        out += c;
      }
      return out + "\"";
    }
    case msgpack::type::POSITIVE_INTEGER:
      return std::to_string(o.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return std::to_string(o.via.i64);
    case msgpack::type::BOOLEAN:
      return o.via.boolean ? "true" : "false";
    case msgpack::type::NIL:
      return "nil";
    default:
      return "?";
  }
}

bool is_container(const msgpack::object& o) { return o.type == msgpack::type::MAP || o.type == msgpack::type::ARRAY; }

std::string header_hex(const msgpack::object& o) {
  return to_hex(test::packed([&](auto& pk) {
    if (o.type == msgpack::type::MAP) {
      pk.pack_map(o.via.map.size);
    } else {
      pk.pack_array(o.via.array.size);
    }
  }));
}

std::string header_text(const msgpack::object& o) {
  const bool map = o.type == msgpack::type::MAP;
  const std::uint32_t n = map ? o.via.map.size : o.via.array.size;
  return std::string(map ? "map, " : "array, ") + std::to_string(n) + (map ? " entr" : " item") +
         (map ? (n == 1 ? "y" : "ies") : (n == 1 ? "" : "s"));
}

void annotate_line(std::string& out, int indent, const std::string& hex, const std::string& comment) {
  std::string line = std::string(static_cast<std::size_t>(indent) * 2, ' ') + hex;
  constexpr std::size_t kColumn = 44;
  line += line.size() < kColumn ? std::string(kColumn - line.size(), ' ') : "  ";
  out += line + "# " + comment + "\n";
}

void annotate_children(std::string& out, const msgpack::object& o, int indent) {
  if (o.type == msgpack::type::MAP) {
    for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
      const auto& kv = o.via.map.ptr[i];
      const std::string key = scalar_text(kv.key);
      if (is_container(kv.val)) {
        annotate_line(out, indent, hex_of(kv.key) + " " + header_hex(kv.val), key + ": " + header_text(kv.val));
        annotate_children(out, kv.val, indent + 1);
      } else {
        annotate_line(out, indent, hex_of(kv.key) + " " + hex_of(kv.val), key + ": " + scalar_text(kv.val));
      }
    }
  } else {
    for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
      const auto& item = o.via.array.ptr[i];
      if (is_container(item)) {
        annotate_line(out, indent, header_hex(item), "[" + std::to_string(i) + "] " + header_text(item));
        annotate_children(out, item, indent + 1);
      } else {
        annotate_line(out, indent, hex_of(item), "[" + std::to_string(i) + "] " + scalar_text(item));
      }
    }
  }
}

std::string annotated_hex(std::string_view body) {
  const msgpack::object_handle handle = msgpack::unpack(body.data(), body.size());
  std::string out;
  annotate_line(out, 0, header_hex(handle.get()), header_text(handle.get()));
  annotate_children(out, handle.get(), 1);
  return out;
}

class ProtoProtocolDoc : public ::testing::Test {
 protected:
  void SetUp() override {
    doc_ = test::read_file(test::source_dir() + "/docs/protocol.md");
    ASSERT_FALSE(doc_.empty()) << "cannot read docs/protocol.md under " << test::source_dir();
  }
  std::string doc_;
};

TEST_F(ProtoProtocolDoc, EveryExampleBlockMatchesTheEncoderByteForByte) {
  const auto blocks = doc_blocks(doc_);
  for (const Example& ex : examples()) {
    if (blocks.count(ex.name) != 1) {
      ADD_FAILURE() << "docs/protocol.md needs exactly one block:\n```hex example=" << ex.name << "\n"
                    << annotated_hex(ex.body) << "```";
      continue;
    }
    const std::string bytes = block_bytes(blocks.find(ex.name)->second);
    EXPECT_FALSE(bytes.empty()) << ex.name << ": block is not hex";
    EXPECT_EQ(to_hex(bytes), to_hex(ex.body)) << ex.name << " should read:\n```hex example=" << ex.name << "\n"
                                              << annotated_hex(ex.body) << "```";
  }
}

TEST_F(ProtoProtocolDoc, EveryExampleBlockDecodesBackToTheSameBytes) {
  const auto blocks = doc_blocks(doc_);
  for (const Example& ex : examples()) {
    const auto found = blocks.find(ex.name);
    if (found == blocks.end()) continue;  // reported by the test above
    const std::string bytes = block_bytes(found->second);
    const std::optional<std::string> again = ex.round_trip(bytes);
    ASSERT_TRUE(again.has_value()) << ex.name << " does not decode";
    EXPECT_EQ(to_hex(*again), to_hex(bytes)) << ex.name;
  }
}

TEST_F(ProtoProtocolDoc, EveryExampleBlockInTheDocumentIsChecked) {
  std::map<std::string, int> known;
  for (const Example& ex : examples()) known[ex.name] = 1;
  for (const auto& [name, block] : doc_blocks(doc_)) {
    EXPECT_TRUE(known.count(name)) << "docs/protocol.md has a block example=" << name << " that no test checks";
  }
}

// The error_reply example is what the decoder really answers for the request it describes.
TEST(ProtoProtocolDocExamples, ErrorExampleIsWhatTheDecoderSays) {
  SubmitRequest request = test::sample<SubmitRequest>();
  request.tests = {"../secrets.ts"};
  const Expected<SubmitRequest> out = decode<SubmitRequest>(encode(request));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error(), (Error{"INVALID_FIELD", "must not contain a \"..\" segment", "tests[0]"}));
}

TEST_F(ProtoProtocolDoc, DocumentNamesEveryErrorCodeAndCommand) {
  for (std::string_view code :
       {errc::bad_frames, errc::bad_protocol, errc::unknown_command, errc::too_large, errc::bad_body,
        errc::missing_field, errc::invalid_field, errc::not_found, errc::conflict, errc::forbidden, errc::unavailable,
        errc::internal, errc::quota_exceeded, errc::rate_limited}) {
    EXPECT_NE(doc_.find("`" + std::string(code) + "`"), std::string::npos) << code;
  }
  test::for_each_type([&](auto message) {
    using T = decltype(message);
    EXPECT_NE(doc_.find("`" + std::string(T::command) + "`"), std::string::npos) << T::command;
  });
}

}  // namespace
}  // namespace qg::proto

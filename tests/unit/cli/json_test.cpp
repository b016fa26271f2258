#include <gtest/gtest.h>

#include "qg/cli/json.hpp"

namespace qg::cli {
namespace {

TEST(JsonWriter, WritesNestedDocumentsWithCommas) {
  Json doc = {
      {"a", "x"}, {"n", std::int64_t{-3}}, {"ok", true}, {"list", {"p", "q"}}, {"tags", std::vector<std::string>{}}};
  EXPECT_EQ(dump_json(doc), R"({"a":"x","n":-3,"ok":true,"list":["p","q"],"tags":[]})");
}

TEST(JsonEscape, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(json_escape("a\"b\\c\nd\x01"), "a\\\"b\\\\c\\nd\\u0001");
  EXPECT_EQ(json_escape("✓"), "✓");
}

TEST(WriteJob, CarriesStatusAsText) {
  proto::Job j;
  j.id = "J1";
  j.worker_id = "w1";
  j.status = proto::JobStatus::timed_out;
  auto text = dump_json(job_json(j));
  EXPECT_NE(text.find(R"("status":"timed_out")"), std::string::npos);
  EXPECT_NE(text.find(R"("worker_id":"w1")"), std::string::npos);
}

TEST(JsonEscape, EscapesEveryControlCharacterAndNothingAbove) {
  EXPECT_EQ(json_escape(std::string("\0", 1)), "\\u0000");
  EXPECT_EQ(json_escape("\b\f\n\r\t"), "\\b\\f\\n\\r\\t");
  EXPECT_EQ(json_escape("\x1b[31mred\x1b[0m"), "\\u001b[31mred\\u001b[0m");
  EXPECT_EQ(json_escape("\x1f"), "\\u001f");
  // DEL, '/' and printable ASCII are written as they are.
  EXPECT_EQ(json_escape("\x7f/ ~"), "\x7f/ ~");
}

TEST(JsonEscape, ReplacesInvalidUtf8WithReplacementCharacter) {
  const std::string replacement = "\xEF\xBF\xBD";  // U+FFFD
  EXPECT_EQ(json_escape("ab\xff"
                        "cd"),
            "ab" + replacement + "cd");
  // A log tail cut inside a character, at either end.
  EXPECT_EQ(json_escape("\x9c\x93ok"), replacement + replacement + "ok");
  EXPECT_EQ(json_escape("ok\xe2\x9c"), "ok" + replacement);
  // Valid multi-byte characters next to invalid bytes survive.
  EXPECT_EQ(json_escape("\xc3\xa9\xc3"), "\xc3\xa9" + replacement);
}

TEST(DumpJson, NeverThrowsOnInvalidUtf8InKeysOrValues) {
  Json doc = {{"log_tail", "line 1\n\xff\xfe end"}, {std::string("k\xc0"), "v"}};
  std::string text;
  ASSERT_NO_THROW(text = dump_json(doc));
  EXPECT_EQ(text, "{\"log_tail\":\"line 1\\n\xEF\xBF\xBD\xEF\xBF\xBD end\",\"k\xEF\xBF\xBD\":\"v\"}");
}

TEST(WriteJob, KeepsEveryFieldInItsFixedOrder) {
  proto::Job j;
  j.id = "J1";
  j.org_id = "acme";
  j.app_version_id = "v1";
  j.test_path = "tests/a.spec.ts";
  j.status = proto::JobStatus::failed;
  j.attempt = 2;
  j.exit_code = -1;
  j.duration_ms = 1500;
  j.created_at_ms = 1700000000000;
  j.log_tail = "boom\n";
  j.flaky = true;
  EXPECT_EQ(dump_json(job_json(j)),
            R"({"id":"J1","org_id":"acme","app_version_id":"v1","test_path":"tests/a.spec.ts",)"
            R"("priority":"medium","target":"emulator","status":"failed","attempt":2,"max_attempts":3,)"
            R"("retries":0,"created_at_ms":1700000000000,"updated_at_ms":0,"submission_id":"",)"
            R"("worker_id":"","lease_id":"","exit_code":-1,"duration_ms":1500,"last_error":"",)"
            R"("log_tail":"boom\n","flaky":true})");
  EXPECT_EQ(dump_json(jobs_json({})), "[]");
}

}  // namespace
}  // namespace qg::cli

#include <gtest/gtest.h>

#include "qg/cli/json.hpp"

namespace qg::cli {
namespace {

TEST(JsonWriter, WritesNestedDocumentsWithCommas) {
  JsonWriter w;
  w.begin_object().field("a", "x").field("n", std::int64_t{-3}).field("ok", true).key("list").begin_array();
  w.value("p").value("q").end_array().field("tags", std::vector<std::string>{}).end_object();
  EXPECT_EQ(w.str(), R"({"a":"x","n":-3,"ok":true,"list":["p","q"],"tags":[]})");
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
  JsonWriter w;
  write_job(w, j);
  EXPECT_NE(w.str().find(R"("status":"timed_out")"), std::string::npos);
  EXPECT_NE(w.str().find(R"("worker_id":"w1")"), std::string::npos);
}

}  // namespace
}  // namespace qg::cli

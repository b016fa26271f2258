#pragma once
// A small streaming JSON writer for `--json` output (compact, one document per call site).
// Commas are managed for the caller; strings are escaped per RFC 8259 (control characters as
// \u00XX; bytes >= 0x80 are passed through, so valid UTF-8 stays valid).

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "qg/proto/messages.hpp"

namespace qg::cli {

class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view v);
  JsonWriter& value(const char* v) { return value(std::string_view(v)); }
  JsonWriter& value(const std::string& v) { return value(std::string_view(v)); }
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(std::uint64_t v);
  JsonWriter& value(std::int32_t v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(std::uint32_t v) { return value(static_cast<std::uint64_t>(v)); }
  JsonWriter& value(double v);
  JsonWriter& value(bool v);
  JsonWriter& null();
  template <class T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  JsonWriter& field(std::string_view k, const std::vector<std::string>& v);
  JsonWriter& field(std::string_view k, const std::map<std::string, std::string>& v);
  JsonWriter& field(std::string_view k, const std::map<std::string, std::uint64_t>& v);

  const std::string& str() const { return out_; }

 private:
  void before_value();
  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written yet
  bool after_key_ = false;
};

std::string json_escape(std::string_view text);

void write_job(JsonWriter& w, const proto::Job& job);
void write_jobs(JsonWriter& w, std::string_view key, const std::vector<proto::Job>& jobs);

}  // namespace qg::cli

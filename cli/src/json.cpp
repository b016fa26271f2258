#include "qg/cli/json.hpp"

#include <cmath>
#include <cstdio>

namespace qg::cli {

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  out_ += '{';
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::begin_array() {
  before_value();
  out_ += '[';
  first_.push_back(true);
  return *this;
}
JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}
JsonWriter& JsonWriter::key(std::string_view k) {
  before_value();
  out_ += '"';
  out_ += json_escape(k);
  out_ += "\":";
  after_key_ = true;
  return *this;
}
JsonWriter& JsonWriter::value(std::string_view v) {
  before_value();
  out_ += '"';
  out_ += json_escape(v);
  out_ += '"';
  return *this;
}
JsonWriter& JsonWriter::value(std::int64_t v) {
  before_value();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::value(std::uint64_t v) {
  before_value();
  out_ += std::to_string(v);
  return *this;
}
JsonWriter& JsonWriter::value(double v) {
  before_value();
  if (!std::isfinite(v)) {
    out_ += "null";
    return *this;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  out_ += buf;
  return *this;
}
JsonWriter& JsonWriter::value(bool v) {
  before_value();
  out_ += v ? "true" : "false";
  return *this;
}
JsonWriter& JsonWriter::null() {
  before_value();
  out_ += "null";
  return *this;
}
JsonWriter& JsonWriter::field(std::string_view k, const std::vector<std::string>& v) {
  key(k).begin_array();
  for (const auto& s : v) value(s);
  return end_array();
}
JsonWriter& JsonWriter::field(std::string_view k, const std::map<std::string, std::string>& v) {
  key(k).begin_object();
  for (const auto& [a, b] : v) field(a, b);
  return end_object();
}
JsonWriter& JsonWriter::field(std::string_view k, const std::map<std::string, std::uint64_t>& v) {
  key(k).begin_object();
  for (const auto& [a, b] : v) field(a, b);
  return end_object();
}

void write_job(JsonWriter& w, const proto::Job& j) {
  w.begin_object()
      .field("id", j.id)
      .field("org_id", j.org_id)
      .field("app_version_id", j.app_version_id)
      .field("test_path", j.test_path)
      .field("priority", proto::to_string(j.priority))
      .field("target", proto::to_string(j.target))
      .field("status", proto::to_string(j.status))
      .field("attempt", j.attempt)
      .field("max_attempts", j.max_attempts)
      .field("retries", j.retries)
      .field("created_at_ms", j.created_at_ms)
      .field("updated_at_ms", j.updated_at_ms)
      .field("submission_id", j.submission_id)
      .field("worker_id", j.worker_id)
      .field("lease_id", j.lease_id)
      .field("exit_code", j.exit_code)
      .field("duration_ms", j.duration_ms)
      .field("last_error", j.last_error)
      .field("log_tail", j.log_tail)
      .field("flaky", j.flaky)
      .end_object();
}

void write_jobs(JsonWriter& w, std::string_view key, const std::vector<proto::Job>& jobs) {
  w.key(key).begin_array();
  for (const auto& j : jobs) write_job(w, j);
  w.end_array();
}

}  // namespace qg::cli

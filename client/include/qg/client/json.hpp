#pragma once
// Protocol records as JSON (qgjob --json, qg-gateway's REST answers), built with
// nlohmann::json. A document is a Json (nlohmann::ordered_json), so its keys come out in the
// order they were added: every caller adds them in the order its output has always had, which
// scripts may rely on. dump_json() writes the compact form
// ({"a":"x","n":-3,"list":[]}: no spaces, no newline) and never throws. Strings are escaped
// per RFC 8259: '"', '\\' and the control characters U+0000..U+001F are escaped (\b \f \n \r \t
// by name, the others as \u00xx), everything else is written as it is, valid UTF-8 included.
// Text that is not valid UTF-8 (a log tail off the wire may be cut inside a character) has
// each invalid sequence replaced by U+FFFD, so the output is always valid UTF-8 JSON.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "qg/proto/messages.hpp"

namespace qg::client {

using Json = nlohmann::ordered_json;

// The compact text of `doc`, without a trailing newline. Does not throw on invalid UTF-8.
std::string dump_json(const Json& doc);

// `text` escaped as it would appear between the quotes of a JSON string (see above).
std::string json_escape(std::string_view text);

// A job as a JSON object: every field of proto::Job, enums as their wire spelling.
Json job_json(const proto::Job& job);
// An array of job_json() objects, in the given order.
Json jobs_json(const std::vector<proto::Job>& jobs);

// STATS' figures of one (org, target) and window (protocol 6.9), every field, the target as
// its wire spelling; and STATS' whole reply but its rid (qgjob stats --json, GET /stats).
Json farm_stat_json(const proto::FarmStat& stat);
Json stats_json(const proto::StatsReply& reply);

}  // namespace qg::client

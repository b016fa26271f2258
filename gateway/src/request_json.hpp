#pragma once
// HTTP input (JSON bodies, query strings, path segments) into protocol requests. Every request
// is then held to the protocol's own rules by validate(), which runs the protocol decoder on it:
// the same rules, codes and field names as a broker would answer, before anything is sent.
// Everything here throws ApiError (BAD_BODY, MISSING_FIELD, INVALID_FIELD, TOO_LARGE).

#include <string>
#include <string_view>

#include <httplib.h>

#include "api.hpp"
#include "qg/proto/codec.hpp"
#include "qg/proto/messages.hpp"

namespace qg::gateway {

inline constexpr std::size_t kMaxJsonDepth = 16;

// A JSON object from a request body. Empty body, not JSON, nested deeper than kMaxJsonDepth, or
// not an object: BAD_BODY.
Json parse_object(std::string_view body);

// POST /jobs. The Idempotency-Key header (when not empty) is the key; a body key that differs
// from it is INVALID_FIELD idempotency_key.
proto::SubmitRequest submit_from_json(const Json& body, std::string_view idempotency_header);

// GET /jobs: org_id, app_version_id, status, target, cursor, limit.
proto::ListRequest list_from_query(const httplib::Request& req);
// GET /queue: cursor, limit.
proto::QueueRequest queue_from_query(const httplib::Request& req);

// A path segment that names a job, checked as the protocol checks job ids.
std::string job_id_from_path(const std::string& segment);

// Holds `request` to the protocol's rules; throws ApiError with the decoder's error.
template <class Request>
void validate(const Request& request) {
  auto checked = proto::decode<Request>(proto::encode(request));
  if (!checked) throw ApiError(checked.error());
}

}  // namespace qg::gateway

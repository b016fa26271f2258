#pragma once
// A reading of a body that msgpack's unpacker refused as over a limit: the request's `rid` and
// the field that broke the limit, so that the error can carry both (a worker resending a
// REPORT until it is answered must be able to match the answer). Private to qg_proto.
//
// The scan walks the msgpack bytes without building anything: a string's bytes are stepped
// over, an array's or map's items are counted as they are skipped, so its cost is bounded by
// the body's length (at most max_frame_bytes) and its nesting by max_depth, however large the
// sizes a header claims. It never throws.

#include <string>
#include <string_view>

#include "qg/proto/codec.hpp"

namespace qg::proto::detail {

struct BodyScan {
  std::string rid;    // the top-level "rid" when it is a string of at most kMaxRidBytes, else ""
  std::string field;  // the first value over a limit, as decode names fields ("tests", "jobs[3].log_tail"); "" if none
};

BodyScan scan_body(std::string_view body, const Limits& limits) noexcept;

}  // namespace qg::proto::detail

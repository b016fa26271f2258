#pragma once
// qgjob's names for protocol records as JSON, which live in qg_client (qg/client/json.hpp) so
// that qg-gateway answers with the same documents.

#include "qg/client/json.hpp"

namespace qg::cli {

using client::dump_json;
using client::job_json;
using client::jobs_json;
using client::Json;
using client::json_escape;

}  // namespace qg::cli

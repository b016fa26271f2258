#pragma once
// Protocol replies as JSON documents with the protocol's field names (enums as their wire
// spelling). Jobs use qg::client::job_json, the same document `qgjob --json` prints.

#include "api.hpp"
#include "qg/proto/messages.hpp"

namespace qg::gateway {

Json to_json(const proto::SubmitReply& r);
Json to_json(const proto::ListReply& r);
Json to_json(const proto::CancelReply& r);
Json to_json(const proto::RetryReply& r);
Json to_json(const proto::GroupInfo& g);
Json to_json(const proto::QueueReply& r);
Json to_json(const proto::WorkerInfo& w);
Json to_json(const proto::WorkersReply& r);
Json to_json(const proto::HealthReply& r);
Json to_json(const proto::FarmStat& f);
Json to_json(const proto::StatsReply& r);
Json to_json(const proto::Job& j);

}  // namespace qg::gateway

// Jobs: submit a suite, read one, list, cancel (a job or a build), retry a dead job.
#include <optional>

#include "org_scope.hpp"
#include "reply_json.hpp"
#include "request_json.hpp"
#include "routes.hpp"

namespace qg::gateway {

namespace {

namespace errc = proto::errc;
const std::string kJobPath = std::string(kApiPrefix) + "/jobs/([^/]+)";

// The job as the caller may see it: empty when it does not exist or is another org's (which
// the broker answers for an org key exactly like an unknown id).
std::optional<proto::Job> find_job(Services& s, const Caller& caller, const std::string& job_id) {
  proto::StatusRequest status;
  status.job_ids = {job_id};
  auto reply = s.brokers.call<proto::StatusReply>(status);
  if (reply.jobs.empty() || !caller.acts_for_org(reply.jobs.front().org_id)) return std::nullopt;
  return reply.jobs.front();
}

[[noreturn]] void no_such_job(const std::string& job_id) {
  throw ApiError(std::string(errc::not_found), "no job " + job_id, "job_id");
}

void submit(Services& s, Call& call) {
  auto body = parse_object(call.req.body);
  auto request = submit_from_json(body, call.req.get_header_value("Idempotency-Key"));
  require_org(call.caller, request.org_id);
  // A key of our own when the caller gave none, so that resending to the next broker after a
  // timeout cannot queue the suite twice.
  if (request.idempotency_key.empty()) {
    request.idempotency_key = "gw-" + s.run_id + "-" + std::to_string(++s.generated_keys);
  }
  auto reply = s.brokers.call<proto::SubmitReply>(request);
  write_json(call.res, to_json(reply), reply.duplicate ? 200 : 201);
}

void get_job(Services& s, Call& call) {
  auto job_id = job_id_from_path(call.match[1]);
  auto job = find_job(s, call.caller, job_id);
  if (!job) no_such_job(job_id);
  write_json(call.res, to_json(*job));
}

void list_jobs(Services& s, Call& call) {
  auto request = list_from_query(call.req);
  require_org(call.caller, request.org_id);
  if (!call.caller.sees_every_org()) request.org_id = call.caller.org_id;
  write_json(call.res, to_json(s.brokers.call<proto::ListReply>(request)));
}

void cancel_job(Services& s, Call& call) {
  auto job_id = job_id_from_path(call.match[1]);
  if (!call.caller.sees_every_org() && !find_job(s, call.caller, job_id)) no_such_job(job_id);
  proto::CancelRequest request;
  request.job_id = job_id;
  auto reply = s.brokers.call<proto::CancelReply>(request);
  if (reply.results.empty() || reply.results.front().outcome == "not_found") no_such_job(job_id);
  write_json(call.res, to_json(reply));
}

void cancel_build(Services& s, Call& call) {
  proto::CancelRequest request;
  request.org_id = call.match[1];
  request.app_version_id = call.match[2];
  validate(request);
  proto::CancelReply reply;
  // Another org's build answers as one with no jobs, as the broker answers an org key.
  if (call.caller.acts_for_org(request.org_id)) reply = s.brokers.call<proto::CancelReply>(request);
  write_json(call.res, to_json(reply));
}

void retry_job(Services& s, Call& call) {
  auto job_id = job_id_from_path(call.match[1]);
  if (!call.caller.sees_every_org() && !find_job(s, call.caller, job_id)) no_such_job(job_id);
  proto::RetryRequest request;
  request.job_id = job_id;
  write_json(call.res, to_json(s.brokers.call<proto::RetryReply>(request)));
}

Json submit_operation() {
  auto op = operation(
      "Submit a suite",
      "Queues one job per test path (the protocol's SUBMIT). Send an Idempotency-Key header (or "
      "idempotency_key) to make a resend return the same job ids instead of queueing them again.",
      Json::array(
          {Json{{"name", "Idempotency-Key"}, {"in", "header"}, {"required", false}, {"schema", {{"type", "string"}}}}}),
      "SubmitReply", 201);
  op["requestBody"] = {
      {"required", true},
      {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/SubmitRequest"}}}}}}}};
  op["responses"]["200"] = {
      {"description", "a resend with a known idempotency key: the same jobs"},
      {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/SubmitReply"}}}}}}}};
  return op;
}

}  // namespace

void add_job_routes(std::vector<Route>& routes, Services& s) {
  const std::string jobs = std::string(kApiPrefix) + "/jobs";
  routes.push_back({"POST", jobs, std::regex(jobs), true, [&s](Call& c) { submit(s, c); }, submit_operation()});
  routes.push_back(
      {"GET", jobs, std::regex(jobs), true, [&s](Call& c) { list_jobs(s, c); },
       operation(
           "List jobs", "Newest first, a page at a time (the protocol's LIST).",
           Json::array({query_param("org_id", "only this org"), query_param("app_version_id", "only this build"),
                        query_param("status", "only jobs in this status"), query_param("target", "only this target"),
                        query_param("cursor", "next_cursor of the previous page"),
                        query_param("limit", "jobs per page, 1..1000 (default 50)", "integer")}),
           "JobPage")});
  routes.push_back({"GET", jobs + "/{job_id}", std::regex(kJobPath), true, [&s](Call& c) { get_job(s, c); },
                    operation("Read a job", "The job's record (the protocol's STATUS).",
                              Json::array({path_param("job_id", "the job")}), "Job")});
  routes.push_back({"POST", jobs + "/{job_id}/cancel", std::regex(kJobPath + "/cancel"), true,
                    [&s](Call& c) { cancel_job(s, c); },
                    operation("Cancel a job",
                              "Queued: cancelled at once; running: its worker is told to stop it "
                              "(outcome cancel_requested); final: already_final.",
                              Json::array({path_param("job_id", "the job")}), "CancelReply")});
  const std::string builds = std::string(kApiPrefix) + "/builds";
  routes.push_back({"POST", builds + "/{org_id}/{app_version_id}/cancel",
                    std::regex(builds + "/([^/]+)/([^/]+)/cancel"), true, [&s](Call& c) { cancel_build(s, c); },
                    operation("Cancel a build", "Cancels every unfinished job of the build.",
                              Json::array({path_param("org_id", "the org"), path_param("app_version_id", "the build")}),
                              "CancelReply")});
  routes.push_back({"POST", jobs + "/{job_id}/retry", std::regex(kJobPath + "/retry"), true,
                    [&s](Call& c) { retry_job(s, c); },
                    operation("Retry a dead job", "Queues a dead job again (the protocol's RETRY); CONFLICT otherwise.",
                              Json::array({path_param("job_id", "the job")}), "RetryReply")});
}

}  // namespace qg::gateway

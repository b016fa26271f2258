// GET /api/v1/events: the event buffer as Server-Sent Events.
//
// Every event carries an id "<run_id>-<n>". A client that reconnects with Last-Event-ID (or
// ?last_event_id=, for clients that cannot set headers) gets every event after it that is
// still buffered; when some are gone, or the id is of another gateway run, it gets a `resync`
// event first: read the state again (GET /jobs, /workers), then follow on. A stream that
// falls behind the buffer gets the same. Idle streams get an id-only line at every keepalive,
// which moves the client's resume point past the events its filter left out.
//
// Writes are coalesced: a stream writes at most once per --stream-coalesce, everything that
// arrived since in one chunk (one send), so that N streams at R events/s cost about
// N / coalesce sends a second rather than N x R. A stream that is behind (its last read filled
// a whole batch) writes again at once.
#include <charconv>

#include "qg/proto/field_rules.hpp"
#include "routes.hpp"

namespace qg::gateway {

namespace {

constexpr std::size_t kBatch = 1024;                 // events per write at most
constexpr std::size_t kKeptBufferBytes = 64u << 10;  // a stream's write buffer kept between writes

struct Filter {
  std::string org_id, app_version_id, job_id;

  bool matches(const StoredEvent& e) const {
    if (e.type == "resync") return true;
    if (e.type == "worker") return app_version_id.empty() && job_id.empty();
    return (org_id.empty() || e.org_id == org_id) && (app_version_id.empty() || e.app_version_id == app_version_id) &&
           (job_id.empty() || e.job_id == job_id);
  }
};

struct StreamState {
  std::uint64_t after = 0;
  bool opened = false;
  bool behind = false;                               // the last read filled a batch
  std::chrono::steady_clock::time_point last_write;  // for coalescing
  std::string resync_reason;                         // sent first when not empty
  std::string out;                                   // the next write; its capacity is kept
};

// The n of "<run_id>-<n>" when the id is of this run; empty otherwise.
std::optional<std::uint64_t> parse_event_id(const std::string& text, const std::string& run_id) {
  if (text.size() <= run_id.size() + 1 || text.compare(0, run_id.size(), run_id) != 0 || text[run_id.size()] != '-') {
    return std::nullopt;
  }
  std::uint64_t n = 0;
  const char* first = text.data() + run_id.size() + 1;
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, n);
  if (ec != std::errc() || end != last) return std::nullopt;
  return n;
}

std::string resync_text(Services& s, std::uint64_t id, const std::string& reason) {
  ++s.metrics.stream_resyncs;
  Json d = Json{{"reason", reason}, {"last_event_id", s.run_id + "-" + std::to_string(id)}};
  return "id: " + s.run_id + "-" + std::to_string(id) + "\nevent: resync\ndata: " + dump(d) + "\n\n";
}

void events(Services& s, Call& call) {
  Filter filter{call.req.get_param_value("org_id"), call.req.get_param_value("app_version_id"),
                call.req.get_param_value("job_id")};
  if (!filter.org_id.empty()) {
    if (auto bad = proto::check_org_id(filter.org_id)) throw ApiError(*bad);
  }
  if (!filter.app_version_id.empty()) {
    if (auto bad = proto::check_app_version_id(filter.app_version_id)) throw ApiError(*bad);
  }
  if (!filter.job_id.empty()) {
    if (auto bad = proto::check_id(filter.job_id, "job_id")) throw ApiError(*bad);
  }
  require_org(call.caller, filter.org_id);
  if (!call.caller.sees_every_org()) filter.org_id = call.caller.org_id;

  auto state = std::make_shared<StreamState>();
  state->after = s.events.last_id();
  auto resume = call.req.get_header_value("Last-Event-ID");
  if (resume.empty()) resume = call.req.get_param_value("last_event_id");
  if (!resume.empty()) {
    auto n = parse_event_id(resume, s.run_id);
    if (n && *n <= state->after) {
      state->after = *n;
    } else {
      state->resync_reason = "Last-Event-ID is not of this gateway run: read the state again";
    }
  }

  if (s.metrics.streams_open.fetch_add(1) >= s.settings.max_event_streams) {
    --s.metrics.streams_open;
    ++s.metrics.streams_refused;
    throw ApiError(std::string(proto::errc::unavailable),
                   "too many event streams open (" + std::to_string(s.settings.max_event_streams) + "); retry later");
  }
  call.res.set_header("Cache-Control", "no-store");
  call.res.set_header("X-Accel-Buffering", "no");
  call.res.set_chunked_content_provider(
      "text/event-stream",
      [&s, state, filter](std::size_t, httplib::DataSink& sink) {
        auto& out = state->out;
        if (!state->opened) {
          state->opened = true;
          out = "retry: 2000\n: open\n\n";
          if (!state->resync_reason.empty()) out += resync_text(s, state->after, state->resync_reason);
          state->last_write = std::chrono::steady_clock::now();
          return sink.write(out.data(), out.size());
        }
        if (!state->behind && s.settings.stream_coalesce.count() > 0) {
          const auto due = state->last_write + s.settings.stream_coalesce;
          const auto now = std::chrono::steady_clock::now();
          if (now < due && s.events.wait_closed(std::chrono::ceil<std::chrono::milliseconds>(due - now))) {
            sink.done();
            return true;
          }
        }
        out.clear();
        std::uint64_t after = state->after;
        auto scan = s.events.scan_after(after, kBatch, s.settings.stream_keepalive,
                                        [&](const StoredEvent& e, std::string_view frame) {
                                          after = e.id;
                                          if (filter.matches(e)) out.append(frame);
                                        });
        if (scan.closed) {
          sink.done();
          return true;
        }
        state->after = after;
        state->behind = scan.visited == kBatch;
        if (scan.missed) {
          state->after = s.events.last_id();
          out = resync_text(s, state->after, "events were dropped from the gateway's buffer: read the state again");
        }
        if (out.empty()) out = "id: " + s.run_id + "-" + std::to_string(state->after) + "\n\n";
        state->last_write = std::chrono::steady_clock::now();
        ++s.metrics.stream_writes;
        const bool written = sink.write(out.data(), out.size());
        // A burst's large buffer is not kept for the life of the stream (2,000 of them).
        if (out.capacity() > kKeptBufferBytes) std::string().swap(out);
        return written;
      },
      [&s](bool) { --s.metrics.streams_open; });
}

}  // namespace

void add_event_routes(std::vector<Route>& routes, Services& s) {
  const std::string path = std::string(kApiPrefix) + "/events";
  auto op = operation(
      "Live events (Server-Sent Events)",
      "JOB and WORKER events as `job` and `worker` SSE events with the protocol's fields. Every event has an id; "
      "reconnect with Last-Event-ID to get what was missed, or a `resync` event when it is no longer buffered.",
      Json::array(
          {query_param("org_id", "only this org's job events"),
           query_param("app_version_id", "only this build's job events"),
           query_param("job_id", "only this job's events"), query_param("last_event_id", "as the Last-Event-ID header"),
           Json{{"name", "Last-Event-ID"}, {"in", "header"}, {"required", false}, {"schema", {{"type", "string"}}}}}),
      "");
  op["responses"]["200"] = {{"description", "an event stream"},
                            {"content", {{"text/event-stream", {{"schema", {{"type", "string"}}}}}}}};
  routes.push_back({"GET", path, std::regex(path), true, [&s](Call& c) { events(s, c); }, op});
}

}  // namespace qg::gateway

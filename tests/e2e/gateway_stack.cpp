// The gateway's end-to-end stack; the contract is in gateway_stack.hpp.
#include "gateway_stack.hpp"

#include <fstream>
#include <regex>
#include <sstream>

namespace qg::testing {

using namespace std::chrono_literals;

std::string HttpReply::code() const {
  if (body.is_object() && body.contains("error") && body["error"].contains("code")) return body["error"]["code"];
  return "";
}

std::string HttpReply::field() const {
  if (body.is_object() && body.contains("error") && body["error"].contains("field")) return body["error"]["field"];
  return "";
}

int start_gateway(std::unique_ptr<ChildProcess>& process, const std::vector<std::string>& args,
                  const std::string& log_path) {
  std::vector<std::string> argv = {bin_dir() + "/qg-gateway", "--listen", "127.0.0.1:0", "--log-level", "debug"};
  argv.insert(argv.end(), args.begin(), args.end());
  process = std::make_unique<ChildProcess>(argv, log_path);
  int port = 0;
  const std::regex url("qg-gateway: http://127\\.0\\.0\\.1:([0-9]+)/api/v1");
  wait_until(
      [&] {
        std::ifstream in(log_path);
        std::stringstream text;
        text << in.rdbuf();
        std::smatch m;
        const std::string s = text.str();
        if (!std::regex_search(s, m, url)) return false;
        port = std::stoi(m[1]);
        return true;
      },
      10s, 20ms);
  return port;
}

GatewayStack::GatewayStack(GatewayOptions options) : cluster_(options.cluster) {
  std::vector<std::string> args = {
      "--broker", cluster_.client_endpoint(), "--events", cluster_.events_out_endpoint(), "--request-timeout", "3"};
  if (options.tokens) {
    std::ofstream(tokens_path()) << "# test tokens\n"
                                 << kAdminToken << " admin\n"
                                 << kAcmeToken << " org:acme\n"
                                 << kGlobexToken << " org:globex\n";
    args.insert(args.end(), {"--tokens-file", tokens_path()});
  }
  args.insert(args.end(), options.gateway_args.begin(), options.gateway_args.end());
  port_ = start_gateway(gateway_, args, cluster_.dir() + "/gateway.log");
  if (port_ == 0) throw std::runtime_error("qg-gateway did not start: " + cluster_.log("gateway"));
}

GatewayStack::~GatewayStack() = default;

HttpReply GatewayStack::request(const std::string& method, const std::string& path, const std::string& body,
                                const std::string& token, httplib::Headers headers) {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(20s);
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  httplib::Result result{nullptr, httplib::Error::Unknown};
  if (method == "GET") {
    result = client.Get(path, headers);
  } else if (method == "POST") {
    result = client.Post(path, headers, body, "application/json");
  } else if (method == "DELETE") {
    result = client.Delete(path, headers, body, "application/json");
  } else if (method == "PUT") {
    result = client.Put(path, headers, body, "application/json");
  }
  HttpReply reply;
  if (!result) return reply;
  reply.status = result->status;
  reply.text = result->body;
  reply.headers = result->headers;
  reply.body = Json::parse(reply.text, nullptr, false);
  return reply;
}

HttpReply GatewayStack::submit(const std::string& org, const std::string& app, const std::vector<std::string>& tests,
                               const std::string& target, const std::string& token) {
  return post("/api/v1/jobs", Json{{"org_id", org}, {"app_version_id", app}, {"tests", tests}, {"target", target}},
              token);
}

bool GatewayStack::wait_for_status(const std::string& job_id, const std::string& status,
                                   std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        auto r = get("/api/v1/jobs/" + job_id);
        return r.status == 200 && r.body.value("status", "") == status;
      },
      timeout, 50ms);
}

EventStream::EventStream(int port, const std::string& query, const std::string& token,
                         const std::string& last_event_id) {
  thread_ = std::thread([this, port, query, token, last_event_id] {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(30s);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    if (!last_event_id.empty()) headers.emplace("Last-Event-ID", last_event_id);
    client.Get(
        "/api/v1/events" + query, headers,
        [this](const httplib::Response& res) {
          status_.store(res.status);
          return true;
        },
        [this](const char* data, std::size_t size) {
          std::lock_guard lock(mutex_);
          text_.append(data, size);
          return !stopping_.load();
        });
  });
}

EventStream::~EventStream() { stop(); }

void EventStream::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

std::string EventStream::text() const {
  std::lock_guard lock(mutex_);
  return text_;
}

bool EventStream::wait_for(const std::string& needle, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return text().find(needle) != std::string::npos; }, timeout, 10ms);
}

std::vector<EventStream::Event> EventStream::events() const {
  std::vector<Event> out;
  std::istringstream lines(text());
  std::string line;
  Event current;
  while (std::getline(lines, line)) {
    if (line.empty()) {
      if (!current.type.empty()) out.push_back(current);
      current = {};
    } else if (line.rfind("id: ", 0) == 0) {
      current.id = line.substr(4);
    } else if (line.rfind("event: ", 0) == 0) {
      current.type = line.substr(7);
    } else if (line.rfind("data: ", 0) == 0) {
      current.data = line.substr(6);
    }
  }
  return out;
}

}  // namespace qg::testing

// Hostile input against the real gateway: malformed HTTP on a raw socket, oversize request
// lines and headers, control bytes and traversal in paths, bad header values, and a seeded
// fuzz of submit bodies. Every answer is a structured error (or a success), and the gateway
// stays up and healthy throughout.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <set>

#include "gateway_stack.hpp"

namespace {

using namespace std::chrono_literals;
using qg::testing::GatewayOptions;
using qg::testing::GatewayStack;
using qg::testing::Json;

const std::set<std::string> kCodes = {"BAD_FRAMES",    "BAD_PROTOCOL",   "UNKNOWN_COMMAND", "TOO_LARGE",   "BAD_BODY",
                                      "MISSING_FIELD", "INVALID_FIELD",  "NOT_FOUND",       "CONFLICT",    "FORBIDDEN",
                                      "UNAVAILABLE",   "QUOTA_EXCEEDED", "RATE_LIMITED",    "UNAUTHORIZED"};

// Sends `raw` on a fresh TCP connection and returns the answer: read until one whole response
// (headers and Content-Length bytes of body) came, the gateway closed, or 3 s passed. The
// sending side stays open: httplib takes a half-closed connection for a gone client.
std::string raw_exchange(int port, const std::string& raw) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "";
  }
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  while (true) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    auto head_end = out.find("\r\n\r\n");
    auto length_at = out.find("Content-Length: ");
    if (head_end != std::string::npos && length_at != std::string::npos && length_at < head_end &&
        out.size() >= head_end + 4 + std::stoul(out.substr(length_at + 16))) {
      break;
    }
  }
  ::close(fd);
  return out;
}

// The error code in a raw HTTP answer's JSON body ("" when there is none).
std::string raw_code(const std::string& answer) {
  auto body = answer.find("\r\n\r\n");
  if (body == std::string::npos) return "";
  auto doc = Json::parse(answer.substr(body + 4), nullptr, false);
  if (!doc.is_object() || !doc.contains("error")) return "";
  return doc["error"].value("code", "");
}

class GatewayHostile : public ::testing::Test {
 protected:
  static GatewayOptions options() {
    GatewayOptions o;
    o.cluster.redis = false;
    o.gateway_args = {"--max-body-bytes", "65536"};
    return o;
  }
  GatewayHostile() : stack_(options()) {}

  void expect_alive() {
    EXPECT_TRUE(stack_.gateway().running());
    EXPECT_EQ(stack_.get("/api/v1/health", "").status, 200);
  }

  GatewayStack stack_;
};

TEST_F(GatewayHostile, MalformedHttpGetsStructuredErrors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not http at all\r\n\r\n", "BAD_FRAMES"},
      {"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nbroken header line\r\n\r\n", ""},
      {"GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", "TOO_LARGE"},
      {"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n", ""},
      {"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{}", ""},
      {"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", ""},
      {"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ""},
  };
  for (const auto& [raw, code] : cases) {
    auto answer = raw_exchange(stack_.port(), raw);
    if (!code.empty()) {
      EXPECT_EQ(raw_code(answer), code) << raw.substr(0, 80) << " -> " << answer.substr(0, 300);
    } else if (!answer.empty() && answer.find("HTTP/1.1 200") != 0) {
      // httplib skips a header line without a colon; otherwise the answer is an error body.
      EXPECT_TRUE(kCodes.contains(raw_code(answer))) << raw.substr(0, 80) << " -> " << answer.substr(0, 300);
    }
  }
  expect_alive();
}

TEST_F(GatewayHostile, HostilePathsAndHeadersAreRefusedCleanly) {
  for (const std::string& path :
       std::vector<std::string>{"/api/v1/jobs/..", "/api/v1/jobs/%2e%2e", "/api/v1/jobs/a%00b", "/api/v1/jobs/%0a",
                                "/api/v1/jobs/a%2Fb/cancel", "/api/v1/../../etc/passwd", "/api/v1/jobs/-rf",
                                "/api/v1/builds/a.b/x/cancel", "/api/v1/events?org_id=%00"}) {
    auto r = stack_.get(path);
    EXPECT_GE(r.status, 400) << path << " " << r.text;
    EXPECT_TRUE(kCodes.contains(r.code())) << path << " " << r.text;
  }
  for (const std::string& auth :
       std::vector<std::string>{"Bearer", "Bearer \x01\x02", "Basic Zm9vOmJhcg==", std::string(5000, 'x')}) {
    httplib::Client client("127.0.0.1", stack_.port());
    auto r = client.Get("/api/v1/jobs", {{"Authorization", auth}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
  }
  auto bad_key = stack_.post("/api/v1/jobs", Json{{"org_id", "acme"}, {"app_version_id", "v"}, {"tests", {"a"}}},
                             qg::testing::kAdminToken, {{"Idempotency-Key", std::string(300, 'k')}});
  EXPECT_EQ(bad_key.code(), "TOO_LARGE") << bad_key.text;
  expect_alive();
}

TEST_F(GatewayHostile, FuzzedSubmitBodiesNeverCrashAndAlwaysGetAnAnswer) {
  const std::string valid =
      R"({"org_id":"acme","app_version_id":"v1","tests":["a.js","b.js"],"priority":"high","target":"device","retries":1})";
  std::mt19937 rng(20261207);
  std::uniform_int_distribution<int> byte(0, 255);
  const std::string alphabet = "{}[]\",:0123456789.-eE\\u nultrfas\x01\xff";
  int accepted = 0;
  for (int i = 0; i < 300; ++i) {
    std::string body = valid;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const std::size_t at = rng() % body.size();
      switch (rng() % 4) {
        case 0:
          body[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          body.erase(at, 1 + rng() % 8);
          break;
        case 2:
          body.insert(at, 1, static_cast<char>(byte(rng)));
          break;
        default:
          body.insert(at, body.substr(rng() % body.size(), rng() % 16));
          break;
      }
    }
    auto r = stack_.request("POST", "/api/v1/jobs", body);
    ASSERT_NE(r.status, 0) << "no answer to: " << body;
    ASSERT_LT(r.status, 500) << body << " -> " << r.text;
    if (r.status == 201 || r.status == 200) {
      ++accepted;
      continue;
    }
    EXPECT_TRUE(kCodes.contains(r.code())) << body << " -> " << r.text;
  }
  EXPECT_LT(accepted, 300);
  expect_alive();
}

}  // namespace

// The gateway never answers in brotli (content_coding.hpp): the Accept-Encoding rewrite alone,
// and a real httplib server on loopback with the rewrite installed.
#include <gtest/gtest.h>

#include <thread>

#include "content_coding.hpp"

namespace qg::gateway {
namespace {

TEST(WithoutBrotli, DropsBrAndKeepsTheRestInOrder) {
  EXPECT_EQ(without_brotli("gzip, deflate, br, zstd"), "gzip, deflate, zstd");
  EXPECT_EQ(without_brotli("br;q=1.0, gzip;q=0.8"), "gzip;q=0.8");
  EXPECT_EQ(without_brotli(" BR , identity"), "identity");
  EXPECT_EQ(without_brotli("br"), "");
  EXPECT_EQ(without_brotli("gzip"), "gzip");
  EXPECT_EQ(without_brotli(""), "");
  EXPECT_EQ(without_brotli(",,brotli, br,"), "brotli");  // only the coding named exactly "br"
}

TEST(NeverBrotli, AServerAnswersGzipToABrowsersAcceptEncoding) {
  httplib::Server server;
  never_brotli(server);
  const std::string body(200'000, 'x');
  std::string seen;
  server.Get("/big", [&](const httplib::Request& req, httplib::Response& res) {
    seen = req.get_header_value("Accept-Encoding");
    res.set_content(body, "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { server.listen_after_bind(); });
  httplib::Client client("127.0.0.1", port);
  client.set_decompress(false);
  auto res = client.Get("/big", {{"Accept-Encoding", "gzip, deflate, br"}});
  server.stop();
  serving.join();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Encoding"), "gzip");
  EXPECT_LT(res->body.size(), body.size());
  EXPECT_EQ(seen, "gzip, deflate");
}

}  // namespace
}  // namespace qg::gateway

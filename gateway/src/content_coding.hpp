#pragma once
// Which compression the gateway's responses may use. cpp-httplib (0.11, as Debian builds it:
// gzip and brotli) compresses every JSON, text and script response with the first coding the
// client accepts, brotli before gzip, and runs brotli at its highest quality: measured on a
// busy 2-core host, a 460 KB page of 1,000 jobs took about 1.1 s to compress, against 30 ms to
// send plain and a few ms with gzip, for a few per cent fewer bytes than gzip. Browsers accept
// both, so the dashboard's reads were paying that second. The gateway therefore never answers
// in brotli: it takes "br" out of each request's Accept-Encoding before any handler, or
// httplib's response writer, reads it; gzip (or nothing) remains.

#include <string>

#include <httplib.h>

namespace qg::gateway {

// `accept_encoding` without its "br" entries (with or without parameters such as ";q=1"),
// the other entries kept in order, joined by ", ". "gzip, deflate, br, zstd" becomes
// "gzip, deflate, zstd".
std::string without_brotli(const std::string& accept_encoding);

// Installs the pre-routing step that rewrites Accept-Encoding as above.
void never_brotli(httplib::Server& server);

}  // namespace qg::gateway

// Responses never in brotli; the contract and the why are in content_coding.hpp.
#include "content_coding.hpp"

#include <string_view>

namespace qg::gateway {

namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_brotli(std::string_view entry) {
  const auto coding = trimmed(entry.substr(0, entry.find(';')));
  return coding.size() == 2 && (coding[0] == 'b' || coding[0] == 'B') && (coding[1] == 'r' || coding[1] == 'R');
}

}  // namespace

std::string without_brotli(const std::string& accept_encoding) {
  std::string out;
  std::string_view rest(accept_encoding);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto entry = trimmed(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (entry.empty() || is_brotli(entry)) continue;
    if (!out.empty()) out += ", ";
    out += entry;
  }
  return out;
}

void never_brotli(httplib::Server& server) {
  server.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    // httplib hands its own Request object, which is not const, to this step by const
    // reference; the header is rewritten in place before the route and the writer read it.
    auto& headers = const_cast<httplib::Request&>(req).headers;
    auto range = headers.equal_range("Accept-Encoding");
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second.find("br") != std::string::npos || it->second.find("BR") != std::string::npos) {
        it->second = without_brotli(it->second);
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
}

}  // namespace qg::gateway

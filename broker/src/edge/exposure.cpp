// Loopback classification of endpoint text and the start-up refusal of network endpoints
// (exposure.hpp). The classification is an allow-list read from the text alone: anything it
// does not recognise as loopback counts as network, so a name it cannot judge is refused
// rather than resolved.
#include "qg/broker/exposure.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "qg/common/errors.hpp"

namespace qg::broker {
namespace {

// `text` copied into `out` with a NUL, as inet_pton needs; false when it does not fit.
template <std::size_t N>
bool c_string(std::string_view text, std::array<char, N>& out) noexcept {
  if (text.size() >= N) return false;
  std::memcpy(out.data(), text.data(), text.size());
  out[text.size()] = '\0';
  return true;
}

bool is_loopback_ipv4(std::string_view host) noexcept {
  std::array<char, INET_ADDRSTRLEN> text{};
  in_addr address{};
  if (!c_string(host, text) || ::inet_pton(AF_INET, text.data(), &address) != 1) return false;
  return (ntohl(address.s_addr) >> 24) == 127;
}

bool is_loopback_ipv6(std::string_view host) noexcept {
  std::array<char, INET6_ADDRSTRLEN> text{};
  in6_addr address{};
  if (!c_string(host, text) || ::inet_pton(AF_INET6, text.data(), &address) != 1) return false;
  return IN6_IS_ADDR_LOOPBACK(&address) != 0;
}

// A bind port: "*" or decimal digits.
bool is_port(std::string_view port) noexcept {
  if (port == "*") return true;
  return !port.empty() && port.size() <= 5 &&
         std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_loopback_tcp(std::string_view address) noexcept {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos || !is_port(address.substr(colon + 1))) return false;
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return is_loopback_ipv6(host.substr(1, host.size() - 2));
  }
  return host == "localhost" || is_loopback_ipv4(host) || is_loopback_ipv6(host);
}

std::string list(const std::vector<RoleEndpoint>& endpoints) {
  std::string text;
  for (const auto& e : endpoints) {
    if (!text.empty()) text += ", ";
    text.append(e.endpoint).append(" (").append(e.role).append(")");
  }
  return text;
}

}  // namespace

bool is_loopback_endpoint(std::string_view endpoint) noexcept {
  // libzmq reads the endpoint as a C string: text after a NUL would not be what is bound.
  if (endpoint.find('\0') != std::string_view::npos) return false;
  for (std::string_view local : {"ipc://", "inproc://"}) {
    if (endpoint.substr(0, local.size()) == local) return endpoint.size() > local.size();
  }
  constexpr std::string_view tcp = "tcp://";
  if (endpoint.substr(0, tcp.size()) != tcp) return false;
  return is_loopback_tcp(endpoint.substr(tcp.size()));
}

std::vector<RoleEndpoint> endpoints_of(const BrokerSettings& settings) {
  return {{"clients", settings.client_endpoint},
          {"workers", settings.worker_endpoint},
          {"events-in", settings.events_in_endpoint},
          {"events-out", settings.events_out_endpoint}};
}

std::vector<RoleEndpoint> network_endpoints(const BrokerSettings& settings) {
  auto endpoints = endpoints_of(settings);
  std::erase_if(endpoints, [](const RoleEndpoint& e) { return is_loopback_endpoint(e.endpoint); });
  return endpoints;
}

bool network_binding_allowed(const BrokerSettings& settings) noexcept {
  // With CURVE keys (a --curve-cert) every peer is authenticated: a network address no
  // longer lets anyone in.
  return settings.insecure || !settings.curve_cert.empty();
}

void check_exposure(const BrokerSettings& settings) {
  if (network_binding_allowed(settings)) return;
  const auto exposed = network_endpoints(settings);
  if (exposed.empty()) return;
  throw ConfigError("refusing to bind " + list(exposed) +
                    ": not a loopback address, and this broker has no keys, so anyone who can reach the port "
                    "could submit and cancel jobs, take work and forge results. Bind 127.0.0.1, [::1], ipc:// "
                    "or inproc:// (a tunnel or proxy can carry remote traffic), give the broker keys (--curve-cert, "
                    "--clients-dir, --workers-dir: docs/operations.md \"Security\"), or pass --insecure to accept "
                    "that risk on a network you trust.");
}

std::string insecure_warning(const BrokerSettings& settings) {
  const auto exposed = network_endpoints(settings);
  const std::string where = exposed.empty() ? "no endpoint is bound beyond loopback now, but any network address "
                                              "given would be accepted"
                                            : list(exposed) + " accept connections from the network";
  return "--insecure: " + where +
         " without authentication: anyone who reaches the port can submit and cancel jobs, take work and "
         "forge results";
}

}  // namespace qg::broker

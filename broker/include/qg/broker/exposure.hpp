#pragma once
// Which addresses the broker may bind. Without keys, anyone who can reach a broker port can
// submit and cancel jobs, take work and forge results, so the broker binds only endpoints
// that this host alone can reach, unless every peer must authenticate with a CURVE key
// (--curve-cert), or it is told that exposure is accepted (--insecure): see
// network_binding_allowed().

#include <string>
#include <string_view>
#include <vector>

#include "qg/broker/broker.hpp"

namespace qg::broker {

// True when `endpoint` is reachable only from this host: ipc://, inproc://, or tcp:// on an
// IPv4 address in 127.0.0.0/8 (dotted decimal, four parts), on [::1] or on "localhost".
// Everything else is false: tcp://*, 0.0.0.0, [::], interface names, other host names,
// other transports, malformed text. Reads only the text (resolves nothing); never throws.
bool is_loopback_endpoint(std::string_view endpoint) noexcept;

// One of the broker's endpoints and what it serves ("clients", "workers", "events-in",
// "events-out"), for messages.
struct RoleEndpoint {
  std::string_view role;
  std::string_view endpoint;
};
std::vector<RoleEndpoint> endpoints_of(const BrokerSettings& settings);

// The endpoints of `settings` that are not loopback.
std::vector<RoleEndpoint> network_endpoints(const BrokerSettings& settings);

// Whether `settings` allow binding a network address: settings.insecure, or CURVE keys
// (settings.curve_cert).
bool network_binding_allowed(const BrokerSettings& settings) noexcept;

// Throws qg::ConfigError naming every network endpoint and the ways out (a loopback address,
// keys, or --insecure) unless network_binding_allowed(). Call before anything slow at start-up;
// Broker::bind() calls it too.
void check_exposure(const BrokerSettings& settings);

// The warning an --insecure broker logs at every start: which endpoints (if any) are open to
// the network and what anyone who reaches them can do.
std::string insecure_warning(const BrokerSettings& settings);

}  // namespace qg::broker

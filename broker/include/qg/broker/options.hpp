#pragma once
// Command-line options of qg-broker's network edge: --insecure (exposure.hpp), the CURVE keys
// (--curve-cert, --clients-dir, --workers-dir) and the event-plane limits (event_limits.hpp).
// For mains only.

#include <boost/program_options/options_description.hpp>

#include "qg/broker/broker.hpp"

namespace qg::broker {

// Adds the options, bound to `settings` (kept alive by the caller until parsing is done).
// A value out of range is a usage error naming the option.
void add_edge_options(boost::program_options::options_description& options, BrokerSettings& settings);

}  // namespace qg::broker

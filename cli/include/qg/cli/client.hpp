#pragma once
// qgjob's names for the protocol client, which lives in qg_client (qg/client/client.hpp) so
// that qg-gateway uses the same code.

#include "qg/client/client.hpp"

namespace qg::cli {

using client::BadReply;
using client::BrokerUnreachable;
using client::Client;
using client::Event;
using client::events_prefix;
using client::RequestFailed;
using client::Subscriber;

}  // namespace qg::cli

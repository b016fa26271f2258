#pragma once
// qgjob's names for the protocol client, which lives in qg_client (qg/client/client.hpp) so
// that qg-gateway uses the same code.

#include "qg/client/client.hpp"

namespace qg::cli {

using client::BadReply;
using client::BrokerUnreachable;
using client::Client;
using client::Event;
using client::RequestFailed;
using client::Subscriber;
using client::events_prefix;

}  // namespace qg::cli

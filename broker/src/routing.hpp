#pragma once
// The ROUTER edge's templates, for every source file that serves requests: running a
// handler with store failures turned into structured errors (serve_guarded), decoding a
// body or answering why not (decode), replies to clients and workers, and the lookup of a
// command's row in its side's table. Header-only because they are on the path of every
// message: each call is resolved at compile time, nothing is allocated for it.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "qg/broker/broker.hpp"
#include "qg/common/errors.hpp"
#include "qg/proto/codec.hpp"

namespace qg::broker {

// The row of `table` named `name`; nullptr when there is none.
template <class Row, std::size_t N>
const Row* find_command(const Row (&table)[N], std::string_view name) {
  for (const auto& row : table) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

template <class Handle>
void Broker::serve_guarded(zmq::socket_t& socket, std::string_view protocol, const Request& request,
                           bool answer_failures, Handle&& handle) {
  const auto rid = [&] { return proto::peek_rid(request.envelope.body, settings_.limits); };
  try {
    handle();
    confirm_store_reachable();
  } catch (const StoreUnavailable& e) {
    note_store_unreachable(e.what());
    // Clients and workers resend; UNAVAILABLE tells them to back off and retry.
    if (answer_failures) {
      error_to(socket, protocol, request.identity, rid(), proto::errc::unavailable,
               std::string("store unreachable, retry later: ") + e.what());
    }
  } catch (const StoreFull& e) {
    // Redis at maxmemory: the write did not happen. The message says what to do.
    if (!store_full_) log_->error("refusing {}: {}", request.envelope.command, e.what());
    store_full_ = true;
    if (answer_failures) error_to(socket, protocol, request.identity, rid(), proto::errc::store_full, e.what());
  } catch (const std::exception& e) {
    log_->error("internal error serving {}: {}", request.envelope.command, e.what());
    if (answer_failures) {
      error_to(socket, protocol, request.identity, rid(), proto::errc::internal,
               std::string("internal error: ") + e.what());
    }
  }
}

template <class T>
std::optional<T> Broker::decode(const Incoming& in) {
  auto decoded = proto::decode<T>(in.envelope.body, settings_.limits);
  if (!decoded) {
    reject(in, decoded.error());
    return std::nullopt;
  }
  return std::move(decoded).value();
}

template <class Reply>
void Broker::reply_client(const std::string& identity, const Reply& reply) {
  if (!send_routed(clients_, identity, proto::kClientProtocol, Reply::command, proto::encode(reply))) {
    ++counters_.unroutable;
  }
}

template <class Reply>
void Broker::reply_worker(const std::string& identity, const Reply& reply) {
  if (!send_routed(workers_, identity, proto::kWorkerProtocol, Reply::command, proto::encode(reply))) {
    ++counters_.unroutable;
  }
}

}  // namespace qg::broker

// CURVE on the broker's four sockets: the broker's secret key, a ZAP domain per socket, and
// the ZAP handler that admits keys by folder (auth/zap_handler.hpp). The options are set
// before any socket binds, and the handler is bound before them, so no connection is ever
// made without a key check (libzmq admits every CURVE client when no ZAP handler is bound).
#include <zmq.h>

#include <utility>

#include "auth/zap_handler.hpp"
#include "edge/connection_table.hpp"
#include "qg/broker/broker.hpp"
#include "qg/common/curve_cert.hpp"
#include "qg/common/errors.hpp"

namespace qg::broker {
namespace {

// ZMQ_MAXMSGSIZE bounds handshake commands too, and a CURVE client's INITIATE (cookie, vouch
// and metadata, about 280 bytes) is longer than a subscription: the XPUB's limit must let it
// through, or no subscriber ever connects.
constexpr std::size_t kCurveHandshakeBytes = 512;

}  // namespace

void Broker::start_curve() {
  const std::pair<zmq::socket_t*, const char*> sockets[] = {{&clients_, kClientsDomain},
                                                            {&workers_, kWorkersDomain},
                                                            {&events_in_, kEventsInDomain},
                                                            {&events_out_, kEventsOutDomain}};
  if (settings_.curve_cert.empty()) {
    if (!settings_.clients_dir.empty() || !settings_.workers_dir.empty()) {
      throw ConfigError("--clients-dir and --workers-dir admit keys only with CURVE on: give --curve-cert too");
    }
    if (!settings_.null_zap_domain.empty()) return;  // the test binding it holds the handler
    // No keys: the handler still holds every NULL handshake to the connection limits.
    try {
      zap_ = std::make_unique<ZapHandler>(context_, log_, counters_, *connections_);
    } catch (const zmq::error_t& e) {
      log_->info("connection limits apply at accept only: another ZAP handler serves this context ({})", e.what());
      return;
    }
    for (const auto& [socket, domain] : sockets) socket->set(zmq::sockopt::zap_domain, domain);
    return;
  }
  if (settings_.clients_dir.empty() || settings_.workers_dir.empty()) {
    throw ConfigError(
        "--curve-cert needs --clients-dir (keys of clients) and --workers-dir (keys of workers and "
        "schedulers); a folder may be empty");
  }
  if (zmq_has("curve") == 0) throw ConfigError("--curve-cert: this libzmq was built without CURVE");
  const auto cert = read_secret_cert(settings_.curve_cert);
  zap_ = std::make_unique<ZapHandler>(context_, KeyDirs{settings_.clients_dir, settings_.workers_dir}, log_, counters_,
                                      *connections_);
  for (const auto& [socket, domain] : sockets) {
    socket->set(zmq::sockopt::curve_server, 1);
    socket->set(zmq::sockopt::curve_secretkey, cert.secret_key);
    socket->set(zmq::sockopt::zap_domain, domain);
  }
  if (settings_.events.max_subscription_bytes + 1 < kCurveHandshakeBytes) {
    events_out_.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(kCurveHandshakeBytes));
  }
  // Every subscription and unsubscription comes up with its key (event_relay.cpp): the
  // events go out under capability prefixes (event_topics.hpp), and a subscription to a prefix
  // of all of them is logged with the key that made it.
  events_out_.set(zmq::sockopt::xpub_verboser, 1);
  identity_required_ = true;
  log_->info("CURVE on every socket, server key {} (public; from {})", cert.public_key, settings_.curve_cert);
}

void Broker::reload_keys() noexcept {
  if (zap_) zap_->request_reload();
}

}  // namespace qg::broker

// add_edge_options(): --insecure, the CURVE keys and the event-plane limits, with their ranges.
#include "qg/broker/options.hpp"

#include <string>

#include <boost/program_options.hpp>

namespace qg::broker {

namespace po = boost::program_options;

namespace {

// A notifier refusing values outside [low, high] as a usage error.
template <class T>
auto in_range(const char* name, T low, T high) {
  return [name, low, high](T value) {
    if (value < low || value > high) {
      throw po::error(std::string("--") + name + " must be " + std::to_string(low) + ".." + std::to_string(high));
    }
  };
}

}  // namespace

void add_edge_options(po::options_description& options, BrokerSettings& settings) {
  auto& events = settings.events;
  options.add_options()(
      "insecure", po::bool_switch(&settings.insecure),
      "allow endpoints on network addresses (anything but 127.0.0.0/8, ::1, localhost, ipc://, inproc://). "
      "There is no authentication: anyone who reaches such a port can submit and cancel jobs, take work and "
      "forge results. Every start with it logs a warning.")(
      "curve-cert", po::value(&settings.curve_cert),
      "the broker's secret certificate (NAME.key_secret, made by `qgjob keygen NAME`): CURVE on every port, "
      "admitting only the keys in --clients-dir and --workers-dir; network addresses may then be bound")(
      "clients-dir", po::value(&settings.clients_dir),
      "folder of the public certificates (NAME.key) of clients admitted on the client and events-out ports; "
      "their metadata says admin or org (read again on SIGHUP)")(
      "workers-dir", po::value(&settings.workers_dir),
      "folder of the public certificates of workers and schedulers admitted on the worker and events-in "
      "ports (read again on SIGHUP)")(
      "event-max-bytes",
      po::value(&events.max_event_bytes)
          ->default_value(events.max_event_bytes)
          ->notifier(in_range<std::size_t>("event-max-bytes", 1024, 64u << 20)),
      "largest event a publisher may send, all frames together; a larger frame closes its connection. "
      "Raised at start when a heartbeat of a --group-max group needs more")(
      "event-hwm", po::value(&events.hwm)->default_value(events.hwm)->notifier(in_range("event-hwm", 1, 1000000)),
      "events queued per subscriber (then it misses events) and per publisher (then the broker reads it no "
      "faster)")("subscription-max-bytes",
                 po::value(&events.max_subscription_bytes)
                     ->default_value(events.max_subscription_bytes)
                     ->notifier(in_range<std::size_t>("subscription-max-bytes", 16, 4096)),
                 "longest topic prefix a subscriber may subscribe to; a longer one closes its connection");
  options.add_options()(
      "max-connections-per-peer",
      po::value(&settings.max_connections_per_peer)
          ->default_value(settings.max_connections_per_peer)
          ->notifier(in_range<std::uint32_t>("max-connections-per-peer", 0, 1000000)),
      "connections one address may hold open on each port; more are closed at once and logged (0 = no limit). "
      "A host running many workers, or a NAT in front of many CI runners, counts as one address")(
      "max-connections",
      po::value(&settings.max_connections)
          ->default_value(settings.max_connections)
          ->notifier(in_range<std::uint32_t>("max-connections", 0, 10000000)),
      "connections each port holds open in all; more are refused at their handshake and logged (0 = no limit)")(
      "handshake-timeout-ms",
      po::value<long>()->default_value(settings.handshake_timeout.count())->notifier([&settings](long ms) {
        if (ms < 0 || ms > 600000) throw po::error("--handshake-timeout-ms must be 0..600000");
        settings.handshake_timeout = std::chrono::milliseconds(ms);
      }),
      "a connection that has not finished its ZeroMQ handshake (and CURVE key check) this long after it was "
      "made is dropped, so idle connections cannot hold descriptors (0 = never)");
}

}  // namespace qg::broker

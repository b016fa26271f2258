// qg-gateway: flags (and QG_GATEWAY_* / QGJOB_* environment variables) -> GatewaySettings ->
// qg::gateway::Gateway. SIGHUP reads the tokens file again; SIGINT and SIGTERM stop.
#include <signal.h>
#include <sys/resource.h>

#include <iostream>

#include "qg/common/config.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/logging.hpp"
#include "qg/gateway/gateway.hpp"

namespace {

namespace po = qg::po;
using std::chrono::milliseconds;

// "host:port" (IPv6 as "[::1]:8080") into its parts; ConfigError when it is not one.
void split_listen(const std::string& text, qg::gateway::GatewaySettings& s) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw qg::ConfigError("--listen must be HOST:PORT, e.g. 127.0.0.1:8080");
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) throw std::invalid_argument("port");
  } catch (const std::exception&) {
    throw qg::ConfigError("--listen: the port must be a number 0..65535");
  }
  if (port < 0 || port > 65535) throw qg::ConfigError("--listen: the port must be a number 0..65535");
  s.listen_host = host;
  s.listen_port = port;
}

// Each event stream holds a socket: the soft limit on open files (often 1,024) is raised to the
// hard one, and a limit still too low for the streams allowed is logged.
void raise_open_files_limit(const qg::gateway::GatewaySettings& s, spdlog::logger& logger) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  const auto wanted = static_cast<rlim_t>(s.max_event_streams) + static_cast<rlim_t>(s.http_threads) + 256;
  if (limit.rlim_cur < wanted) {
    logger.warn("open files limit {} is below the {} that --max-event-streams {} may need (LimitNOFILE=, ulimit -n)",
                limit.rlim_cur, wanted, s.max_event_streams);
  }
}

}  // namespace

int main(int argc, char** argv) {
  qg::gateway::GatewaySettings s;
  qg::LogSettings log_settings;
  std::string listen = "127.0.0.1:8080", brokers = s.brokers.front(), events = s.events.front();
  std::string curve_cert, broker_key;
  long coalesce_ms = s.stream_coalesce.count();
  double request_timeout_s = 5, drain_target_min = 15, assumed_test_s = 60, assumed_install_s = 60, keepalive_s = 15;
  po::options_description options("Options");
  options.add_options()  //
      ("listen", po::value(&listen)->default_value(listen),
       "HOST:PORT to serve HTTP on; an address other machines can reach needs --tokens-file")  //
      ("broker", po::value(&brokers)->default_value(brokers),
       "brokers' client endpoints, comma-separated (as qgjob's --broker; tried in turn)")  //
      ("events", po::value(&events)->default_value(events),
       "brokers' event stream endpoints, comma-separated (as qgjob's --events; all are read)")  //
      ("tokens-file", po::value(&s.tokens_file),
       "bearer tokens, one \"<token> admin|org:<org_id>\" per line; read again on SIGHUP")  //
      ("request-timeout", po::value(&request_timeout_s)->default_value(request_timeout_s),
       "seconds to wait for a broker's answer before trying the next")  //
      ("event-buffer", po::value(&s.event_buffer)->default_value(s.event_buffer),
       "recent events kept for event streams that reconnect")  //
      ("http-threads", po::value(&s.http_threads)->default_value(s.http_threads),
       "threads for REST requests (event streams get threads of their own, below)")  //
      ("max-event-streams", po::value(&s.max_event_streams)->default_value(s.max_event_streams),
       "event streams served at once, a thread each; more are answered 503")  //
      ("stream-keepalive", po::value(&keepalive_s)->default_value(keepalive_s),
       "seconds between keepalive lines on an idle event stream (they also find closed ones)")  //
      ("stream-coalesce-ms", po::value(&coalesce_ms)->default_value(coalesce_ms),
       "an event stream writes at most once in this many ms, all events since in one write "
       "(fewer sends for many streams; adds up to this delay); 0 = each event at once")  //
      ("max-body-bytes", po::value(&s.max_body_bytes)->default_value(s.max_body_bytes),
       "largest request body; larger ones are answered 413 TOO_LARGE")  //
      ("drain-target", po::value(&drain_target_min)->default_value(drain_target_min),
       "minutes: scale recommendations size the farm to finish the queue within this")  //
      ("assumed-test-seconds", po::value(&assumed_test_s)->default_value(assumed_test_s),
       "scale recommendations: a test's duration when no finished job of the target says")  //
      ("assumed-install-seconds", po::value(&assumed_install_s)->default_value(assumed_install_s),
       "scale recommendations: an install's duration (the protocol does not report it)")  //
      ("static-dir", po::value(&s.static_dir), "serve this folder's files at / (the dashboard)");
  qg::add_curve_client_options(options, curve_cert, broker_key);
  qg::add_log_options(options, log_settings);
  auto outcome =
      qg::parse_options(argc, argv, options, {"QG_GATEWAY_", "QGJOB_"}, "qg-gateway",
                        "REST (/api/v1) and Server-Sent Events over the qgjob protocol.\n\n"
                        "Usage: qg-gateway [--listen 127.0.0.1:8080] [--broker tcp://...] [--tokens-file F]");
  if (!outcome.run) return outcome.exit_code;

  // Signals are taken by sigwait below, never by the serving threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::shared_ptr<spdlog::logger> logger;
  std::unique_ptr<qg::gateway::Gateway> gateway;
  try {
    logger = qg::make_logger("qg-gateway", log_settings);
    split_listen(listen, s);
    s.brokers = qg::split_list(brokers);
    s.events = qg::split_list(events);
    if (!(request_timeout_s > 0)) throw qg::ConfigError("--request-timeout must be > 0");
    if (!(drain_target_min > 0)) throw qg::ConfigError("--drain-target must be > 0");
    if (s.http_threads < 1) throw qg::ConfigError("--http-threads must be >= 1");
    if (s.max_event_streams > 100'000) throw qg::ConfigError("--max-event-streams must be <= 100000");
    if (coalesce_ms < 0 || coalesce_ms > 10'000) throw qg::ConfigError("--stream-coalesce-ms must be 0..10000");
    s.stream_coalesce = milliseconds(coalesce_ms);
    raise_open_files_limit(s, *logger);
    if (!(keepalive_s > 0)) throw qg::ConfigError("--stream-keepalive must be > 0");
    s.stream_keepalive = milliseconds(static_cast<std::int64_t>(keepalive_s * 1000));
    if (assumed_test_s < 0 || assumed_install_s < 0) throw qg::ConfigError("assumed durations must be >= 0");
    s.request_timeout = milliseconds(static_cast<std::int64_t>(request_timeout_s * 1000));
    s.drain_target = milliseconds(static_cast<std::int64_t>(drain_target_min * 60'000));
    s.assumed_test = milliseconds(static_cast<std::int64_t>(assumed_test_s * 1000));
    s.assumed_install = milliseconds(static_cast<std::int64_t>(assumed_install_s * 1000));
    s.curve = qg::load_curve_client_keys(curve_cert, broker_key);
    gateway = std::make_unique<qg::gateway::Gateway>(s, logger);
    gateway->start();
  } catch (const qg::ConfigError& e) {
    std::cerr << "qg-gateway: " << e.what() << "\n";
    return 3;
  }
  // The port line is for scripts and tests that listen on port 0.
  std::cout << "qg-gateway: http://"
            << (s.listen_host.find(':') != std::string::npos ? "[" + s.listen_host + "]" : s.listen_host) << ":"
            << gateway->port() << "/api/v1" << std::endl;
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      gateway->reload_tokens();
      continue;
    }
    logger->info("stopping on signal {}", sig);
    gateway->stop();
    return 0;
  }
}

// qg-broker: the hub between clients, workers, the store and event subscribers.
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>

#include <zmq.hpp>

#include "qg/broker/broker.hpp"
#include "qg/broker/exposure.hpp"
#include "qg/broker/options.hpp"
#include "qg/broker/quota_options.hpp"
#include "qg/common/clock.hpp"
#include "qg/common/config.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/process_limits.hpp"
#include "qg/common/redis_address.hpp"
#include "qg/scheduler/options.hpp"

#ifndef QG_VERSION
#define QG_VERSION "0.0.0"
#endif

namespace {
// A stop asked for by SIGINT or SIGTERM: noted from the first line of main (so that one during
// start-up, e.g. while Redis is awaited, ends the process with exit 0 rather than by the
// signal's default action), and passed to the broker once it serves.
volatile std::sig_atomic_t g_stop = 0;
qg::broker::Broker* volatile g_broker = nullptr;
void on_signal(int) {
  g_stop = 1;
  if (g_broker != nullptr) g_broker->request_stop();
}
// SIGHUP: the CURVE key folders are read again (a revoked key is refused from its next
// connection). Ignored before the broker serves, and without keys.
void on_hangup(int) {
  if (g_broker != nullptr) g_broker->reload_keys();
}
}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_hangup);
  qg::LogSettings log_settings;
  qg::sched::StoreOptions store_options;
  qg::sched::RegistryOptions registry_options;
  qg::broker::BrokerSettings settings;
  std::string store_kind;
  std::string redis_url;
  std::string redis_password_file;
  long heartbeat_ms = 1000;
  long max_pull_wait_ms = 30000;
  long farm_stats_ttl_ms = 2000;
  unsigned claim_min_jobs = settings.claim_min_jobs;

  qg::po::options_description options;
  options.add_options()("store", qg::po::value(&store_kind),
                        "where jobs live: 'redis' (durable; needs --redis-url) or 'memory' (embedded: broker and "
                        "scheduler in this process, NOT durable, for trials and tests). --redis-url alone "
                        "implies redis. There is no default: a broker never picks memory by itself.")(
      "redis-url", qg::po::value(&redis_url),
      "Redis to use: redis://[[user]:password@]host:port[/db] over TCP, unix:///path/to/redis.sock[?db=N] "
      "for a Redis on this host (its unixsocket; no TCP stack in the round trips), or "
      "redis-sentinel://[[user]:password@]host:26379,host:26379/<master>[?db=N] for the primary that Redis "
      "Sentinel names <master> (followed through failovers)")(
      "client-endpoint", qg::po::value(&settings.client_endpoint)->default_value(settings.client_endpoint),
      "ROUTER endpoint for clients (qgjob, CI, SDKs)")(
      "worker-endpoint", qg::po::value(&settings.worker_endpoint)->default_value(settings.worker_endpoint),
      "ROUTER endpoint for workers")(
      "events-in", qg::po::value(&settings.events_in_endpoint)->default_value(settings.events_in_endpoint),
      "XSUB endpoint workers and schedulers publish events to")(
      "events-out", qg::po::value(&settings.events_out_endpoint)->default_value(settings.events_out_endpoint),
      "XPUB endpoint dashboards, `qgjob watch` and `qgjob wait` subscribe to")(
      "broker-id", qg::po::value(&settings.broker_id), "name in logs, events and health (default: broker-<pid>)")(
      "heartbeat-ms", qg::po::value(&heartbeat_ms)->default_value(heartbeat_ms),
      "how often workers are told to send heartbeats")(
      "max-pull-wait-ms", qg::po::value(&max_pull_wait_ms)->default_value(max_pull_wait_ms),
      "longest a worker's pull is held waiting for work")(
      "farm-stats-ttl-ms", qg::po::value(&farm_stats_ttl_ms)->default_value(farm_stats_ttl_ms),
      "STATS' per-org farm figures (a pass over the store's last day of statistics) are read at most "
      "once this often and served from memory in between; 0 = read them for every STATS")(
      "claim-min-jobs", qg::po::value(&claim_min_jobs)->default_value(claim_min_jobs),
      "when the work runs short, a claim takes a fair share of the unfinished jobs (unfinished / "
      "live workers) instead of a whole group, but never fewer than this many, so idle devices share "
      "the tail of the work at the cost of some extra installs. 0 = always whole groups (up to "
      "--group-max)");
  qg::add_redis_password_option(options, redis_password_file);
  qg::sched::add_store_options(options, store_options);
  qg::sched::add_registry_options(options, registry_options);
  qg::broker::add_edge_options(options, settings);
  qg::broker::add_quota_options(options, settings.quotas);
  qg::add_log_options(options, log_settings);
  auto parsed = qg::parse_options(argc, argv, options, {"QG_"}, "qg-broker",
                                  "accepts jobs from clients, hands whole groups to workers, relays status events");
  if (!parsed.run) return parsed.exit_code;

  try {
    auto log = qg::make_logger("qg-broker", log_settings);
    qg::broker::check_exposure(settings);  // before anything slow, such as waiting for Redis
    const auto files = qg::raise_open_file_limit();
    log->info("open file limit: {} (hard {}){}", files.soft, files.hard,
              files.error != 0 ? std::string(", not raised: ") + std::strerror(files.error) : std::string());
    if (store_kind.empty() && !redis_url.empty()) store_kind = "redis";
    if (store_kind.empty()) {
      throw qg::ConfigError(
          "choose a store: --redis-url redis://host:port (durable) or --store memory (embedded, not durable)");
    }
    if (store_kind != "redis" && store_kind != "memory") {
      throw qg::ConfigError("--store must be 'redis' or 'memory', not '" + store_kind + "'");
    }
    if (store_kind == "redis" && redis_url.empty()) throw qg::ConfigError("--store redis needs --redis-url");
    if (store_kind == "memory" && !redis_url.empty()) {
      throw qg::ConfigError("--store memory and --redis-url contradict each other; pick one");
    }
    if (store_kind == "memory" && !redis_password_file.empty()) {
      throw qg::ConfigError("--store memory and --redis-password-file contradict each other; pick one");
    }
    auto store_settings = store_options.apply();
    if (store_kind == "memory" && store_settings.min_replicas > 0) {
      throw qg::ConfigError("--redis-min-replicas needs the Redis store; the memory store has no replicas");
    }
    settings.store_kind = store_kind;
    settings.version = QG_VERSION;
    settings.heartbeat = std::chrono::milliseconds(heartbeat_ms);
    settings.lease = store_settings.lease;
    settings.group_max = store_settings.group_max;
    settings.max_pull_wait = std::chrono::milliseconds(max_pull_wait_ms);
    if (farm_stats_ttl_ms < 0) throw qg::ConfigError("--farm-stats-ttl-ms must be 0 or more");
    settings.farm_stats_ttl = std::chrono::milliseconds(farm_stats_ttl_ms);
    settings.claim_min_jobs = claim_min_jobs;
    settings.forget_workers_after = registry_options.forget_after();

    // A write to a Redis connection whose server has gone (at once on a Unix socket, after a
    // reset over TCP) raises SIGPIPE, which would end the process: the write's error is what
    // tells the connection to reconnect. Ignored before the first connection (the store's
    // start-up waits for Redis and loads its scripts, and Redis may go meanwhile).
    std::signal(SIGPIPE, SIG_IGN);
    std::unique_ptr<qg::sched::JobStore> store;
    if (store_kind == "memory") {
      log->warn(
          "embedded mode: jobs are kept in this process's memory and are LOST when it stops; "
          "the scheduler runs in-process. Use --redis-url for anything that matters.");
      store = qg::sched::make_memory_store(store_settings);
      settings.embedded_scheduler = true;
    } else {
      // A broker configured for Redis never falls back to memory: it waits for Redis.
      const auto redis = qg::redis_address(redis_url, redis_password_file, *log);
      store = qg::sched::wait_for_redis_store(redis, store_settings, log, g_stop);
      if (!store) {
        log->info("stopped before Redis at {} could be reached", redis.url());
        return 0;
      }
      log->info("store: Redis at {}", redis.url());
    }

    zmq::context_t context(1);
    qg::broker::Broker broker(context, *store, qg::SystemClock::instance(), settings, log);
    broker.bind();
    g_broker = &broker;
    if (g_stop != 0) broker.request_stop();  // asked for before the broker existed
    broker.run();
    g_broker = nullptr;
    return 0;
  } catch (const qg::ConfigError& e) {
    std::cerr << "qg-broker: " << e.what() << "\n";
    return 3;
  } catch (const zmq::error_t& e) {
    std::cerr << "qg-broker: cannot serve: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "qg-broker: fatal: " << e.what() << "\n";
    return 1;
  }
}

// qg-scheduler: owns time for a Redis-backed qgjob (lease expiry, retry back-off, batching
// windows). Several may run against one Redis.
#include <csignal>
#include <iostream>
#include <thread>

#include <zmq.hpp>

#include "qg/common/clock.hpp"
#include "qg/common/config.hpp"
#include "qg/common/curve_client.hpp"
#include "qg/common/duration.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/ids.hpp"
#include "qg/common/logging.hpp"
#include "qg/common/redis_address.hpp"
#include "qg/common/zmq_util.hpp"
#include "qg/scheduler/events.hpp"
#include "qg/scheduler/options.hpp"
#include "qg/scheduler/scheduler.hpp"
#include "redis_library.hpp"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  // First of all, so that a stop asked for while the process starts (its options, its wait
  // for Redis) ends it with exit 0 like any other, not by the signal's default action.
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  qg::LogSettings log_settings;
  qg::sched::StoreOptions store_options;
  qg::sched::RegistryOptions registry_options;
  std::string redis_url;
  std::string redis_password_file;
  std::string events_endpoint;
  long max_idle_ms = 50;
  std::string scheduler_id;
  bool print_lua_library = false;
  bool have_redis_url = false;  // --redis-url is required unless --print-lua-library is given

  qg::po::options_description options;
  options.add_options()("redis-url",
                        qg::po::value(&redis_url)->notifier([&](const std::string&) { have_redis_url = true; }),
                        "Redis to schedule (required unless --print-lua-library): "
                        "redis://[[user]:password@]host:port[/db], "
                        "unix:///path/to/redis.sock[?db=N], or "
                        "redis-sentinel://[[user]:password@]host:26379,host:26379/<master>[?db=N] "
                        "(the primary Redis Sentinel names, followed through failovers)")(
      "events", qg::po::value(&events_endpoint)->default_value("tcp://127.0.0.1:5557"),
      "broker's events-in endpoint to publish lease expiries and requeues on (empty = do not publish)")(
      "max-idle-ms", qg::po::value(&max_idle_ms)->default_value(max_idle_ms),
      "longest pause between scheduling rounds when nothing is due")(
      "scheduler-id", qg::po::value(&scheduler_id), "name in logs and events (default: scheduler-<pid>)")(
      "print-lua-library", qg::po::bool_switch(&print_lua_library),
      "print the store's Lua function library (scheduler/lua, as the store loads it) and exit; "
      "`qg-scheduler --print-lua-library | redis-cli -x FUNCTION LOAD REPLACE` loads it by hand");
  std::string curve_cert, broker_key;
  qg::add_curve_client_options(options, curve_cert, broker_key);
  qg::add_redis_password_option(options, redis_password_file);
  qg::sched::add_store_options(options, store_options);
  qg::sched::add_registry_options(options, registry_options);
  qg::add_log_options(options, log_settings);
  auto parsed = qg::parse_options(argc, argv, options, {"QG_"}, "qg-scheduler",
                                  "moves due work into claimable group queues and requeues the jobs of lost workers");
  if (!parsed.run) return parsed.exit_code;
  if (print_lua_library) {
    std::cout << qg::sched::function_library().code << std::flush;
    return 0;
  }
  if (!have_redis_url) {
    // As Boost.Program_options words a missing required option.
    std::cerr << "qg-scheduler: the option '--redis-url' is required but missing (see qg-scheduler --help)\n";
    return 3;
  }

  try {
    auto log = qg::make_logger("qg-scheduler", log_settings);
    if (scheduler_id.empty()) scheduler_id = "scheduler-" + std::to_string(::getpid());
    auto settings = store_options.apply();
    const auto forget_workers_after = registry_options.forget_after();
    const auto curve = qg::load_curve_client_keys(curve_cert, broker_key);
    // As in qg-broker: a write to a Redis that has gone must fail, not end the process.
    std::signal(SIGPIPE, SIG_IGN);

    zmq::context_t context(1);
    zmq::socket_t pub(context, zmq::socket_type::pub);
    qg::set_common_options(pub);
    qg::apply_curve(pub, curve);
    std::unique_ptr<qg::sched::EventSink> sink;
    if (events_endpoint.empty()) {
      sink = std::make_unique<qg::sched::NullEventSink>();
    } else {
      pub.connect(events_endpoint);
      sink = std::make_unique<qg::sched::ZmqEventSink>(pub);
    }
    qg::sched::EventPublisher events(*sink, scheduler_id);

    const auto redis = qg::redis_address(redis_url, redis_password_file, *log);
    auto store = qg::sched::wait_for_redis_store(redis, settings, log, g_stop);
    if (!store) {
      log->info("{} stopped before Redis at {} could be reached", scheduler_id, redis.url());
      return 0;
    }
    auto keep = [](const std::optional<std::chrono::milliseconds>& d) {
      return d ? qg::format_duration(*d) : std::string("off");
    };
    log->info("{} scheduling {} (lease {} ms, group window {} ms, group max {}, retention {}, dead retention {})",
              scheduler_id, redis.url(), settings.lease.count(), settings.group_window.count(), settings.group_max,
              keep(settings.retention), keep(settings.dead_retention));

    qg::sched::SchedulerSettings scheduler_settings;
    scheduler_settings.max_idle = std::chrono::milliseconds(max_idle_ms);
    scheduler_settings.forget_workers_after = forget_workers_after;
    // Announced in Redis every few seconds: `qgjob health` is not ok while no scheduler is.
    scheduler_settings.self = qg::sched::this_process(scheduler_id, qg::SystemClock::instance().now_ms());
    qg::sched::Scheduler scheduler(*store, qg::SystemClock::instance(), events, scheduler_settings, log);
    while (g_stop == 0) {
      auto wait = scheduler.tick();
      // Waiting for the next due time is the scheduler's job: it owns time. A new pending
      // group or lease is at most max_idle away from being looked at.
      if (wait.count() > 0) std::this_thread::sleep_for(wait);
    }
    const auto& c = scheduler.counters();
    log->info("stopping: {} rounds, {} leases expired, {} jobs requeued, {} promoted, {} deleted by retention",
              c.rounds, c.leases_expired, c.jobs_requeued, c.promoted, c.jobs_deleted);
    return 0;
  } catch (const qg::ConfigError& e) {
    std::cerr << "qg-scheduler: " << e.what() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "qg-scheduler: fatal: " << e.what() << "\n";
    return 1;
  }
}

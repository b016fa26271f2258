// The gateway: an HTTP server whose routes speak the protocol; the contract is in
// qg/gateway/gateway.hpp. Routing is done here, from one table (routes.hpp), so that an unknown
// path, a wrong method and a missing token all get the same structured errors as the rest.
#include "qg/gateway/gateway.hpp"

#include <sys/socket.h>

#include <thread>

#include "api.hpp"
#include "content_coding.hpp"
#include "qg/common/clock.hpp"
#include "qg/common/errors.hpp"
#include "routes.hpp"
#include "static_files.hpp"
#include "thread_pool.hpp"

namespace qg::gateway {

namespace {

namespace errc = proto::errc;

// The error of a request httplib refused before any route saw it.
proto::Error error_for_status(int status) {
  switch (status) {
    case 404:
      return {std::string(errc::unknown_command), "no such route", ""};
    case 413:
      return {std::string(errc::too_large), "the request body is over the limit", ""};
    case 414:
    case 431:
      return {std::string(errc::too_large), "the request line or headers are over the limit", ""};
    case 400:
      return {std::string(errc::bad_frames),
              "malformed HTTP request (a POST needs a Content-Length header, 0 for no body)", ""};
    default:
      return {std::string(status >= 500 ? errc::internal : errc::bad_frames), "HTTP " + std::to_string(status), ""};
  }
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

struct Gateway::Impl {
  GatewaySettings settings;
  std::shared_ptr<spdlog::logger> logger;
  std::int64_t started_ms = SystemClock::instance().now_ms();  // names this run (event ids)
  GatewayMetrics metrics;
  zmq::context_t context{1};
  Authenticator auth;
  BrokerPool brokers;
  EventBuffer events;
  EventFeed feed;
  Services services;
  std::vector<Route> routes;
  httplib::Server server;
  int listen_fd = -1;  // the listening socket cpp-httplib made (its backlog is raised in start())
  std::thread listener;
  int port = 0;

  Impl(GatewaySettings s, std::shared_ptr<spdlog::logger> log)
      : settings(std::move(s)),
        logger(std::move(log)),
        auth(settings.tokens_file),
        brokers(context, settings.brokers, settings.curve, settings.request_timeout, metrics, logger),
        events(settings.event_buffer, std::to_string(started_ms) + "-"),
        feed(context, settings.events, settings.curve, events, metrics, logger,
             [this](std::size_t index) {
               // Event stream i belongs to broker i; with fewer brokers than streams, the last.
               proto::EventsTopicRequest request;
               const auto broker = std::min(index, settings.brokers.size() - 1);
               try {
                 return brokers.call_one<proto::EventsTopicReply>(request, broker).prefix;
               } catch (const client::RequestFailed& e) {
                 if (e.error().code == proto::errc::unknown_command) return std::string();  // no prefixes there
                 throw;
               }
             }),
        services{settings, brokers, events, feed, auth, metrics, logger, "", started_ms} {
    services.run_id = std::to_string(services.started_ms);
    add_job_routes(routes, services);
    add_farm_routes(routes, services);
    add_event_routes(routes, services);
    add_metrics_route(routes, services);
    add_openapi_route(routes);
  }

  void dispatch(const httplib::Request& req, httplib::Response& res) {
    ++metrics.http_requests;
    const std::string method = req.method == "HEAD" ? "GET" : req.method;
    const Route* route = nullptr;
    std::smatch match;
    std::string allowed;
    for (const auto& r : routes) {
      std::smatch m;
      if (!std::regex_match(req.path, m, r.pattern)) continue;
      if (r.method == method) {
        route = &r;
        match = std::move(m);
        break;
      }
      allowed += (allowed.empty() ? "" : ", ") + r.method;
    }
    Caller caller;
    try {
      if (route == nullptr && allowed.empty()) throw ApiError(std::string(errc::unknown_command), "no such route", "");
      if (route == nullptr) {
        res.set_header("Allow", allowed);
        write_error(res,
                    {std::string(errc::unknown_command), req.method + " is not served here (" + allowed + ")", ""});
        res.status = 405;
      } else {
        auto found = auth.authenticate(req.get_header_value("Authorization"));
        if (found) {
          caller = *found;
        } else if (route->needs_token) {
          throw ApiError(http_errc::unauthorized, "a bearer token is required (Authorization: Bearer <token>)", "");
        } else {
          caller = Caller{Caller::Role::org, ""};  // no token: sees no org's figures
        }
        Call call{req, res, match, caller};
        route->handle(call);
      }
    } catch (const ApiError& e) {
      write_error(res, e.error());
    } catch (const client::RequestFailed& e) {
      write_error(res, e.error());
    } catch (const client::BrokerUnreachable& e) {
      write_error(res, {std::string(errc::unavailable), std::string("no broker answered: ") + e.what(), ""});
    } catch (const client::BadReply& e) {
      logger->error("{} {}: {}", req.method, req.path, e.what());
      write_error(res, {std::string(errc::internal), std::string("unreadable broker reply: ") + e.what(), ""});
      res.status = 502;
    } catch (const std::exception& e) {
      logger->error("{} {}: {}", req.method, req.path, e.what());
      write_error(res, {std::string(errc::internal), "internal error", ""});
    }
    if (res.status >= 500) {
      ++metrics.http_server_errors;
    } else if (res.status >= 400) {
      ++metrics.http_client_errors;
    }
    // The caller's role, never its token.
    logger->debug("{} {} -> {} ({})", req.method, req.path, res.status, caller.describe());
  }

  void configure_server() {
    // REST's threads plus one per event stream the cap allows, started as connections need them.
    const std::size_t threads =
        static_cast<std::size_t>(std::max(settings.http_threads, 4)) + settings.max_event_streams;
    server.new_task_queue = [threads] { return new GrowingThreadPool(threads); };
    server.set_payload_max_length(settings.max_body_bytes);
    // Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds
    // the body until the client's delayed ACK (40 ms on Linux) on a keep-alive connection.
    server.set_tcp_nodelay(true);
    server.set_socket_options([this](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_fd = sock;
    });
    never_brotli(server);  // content_coding.hpp: brotli at httplib's quality costs a second a page
    server.set_read_timeout(std::chrono::seconds(10));
    server.set_write_timeout(std::chrono::seconds(10));
    auto handler = [this](const httplib::Request& req, httplib::Response& res) { dispatch(req, res); };
    server.Get(".*", handler);
    server.Post(".*", handler);
    server.Put(".*", handler);
    server.Delete(".*", handler);
    server.Patch(".*", handler);
    server.Options(".*", handler);
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      const int status = res.status;
      write_error(res, error_for_status(status));
      res.status = status;
      return httplib::Server::HandlerResponse::Handled;
    }));
    server.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
      logger->error("{} {}: unexpected exception", req.method, req.path);
      write_error(res, {std::string(errc::internal), "internal error", ""});
    });
    serve_static_files(server, find_static_dir(settings.static_dir), *logger);
  }
};

Gateway::Gateway(GatewaySettings settings, std::shared_ptr<spdlog::logger> logger) {
  if (settings.brokers.empty()) throw ConfigError("--broker: at least one broker endpoint is needed");
  if (settings.events.empty()) throw ConfigError("--events: at least one event endpoint is needed");
  if (settings.tokens_file.empty() && !is_loopback_host(settings.listen_host)) {
    throw ConfigError("--listen " + settings.listen_host +
                      " is reachable from other machines: give --tokens-file, or listen on 127.0.0.1");
  }
  impl_ = std::make_unique<Impl>(std::move(settings), std::move(logger));
}

Gateway::~Gateway() { stop(); }

void Gateway::start() {
  auto& i = *impl_;
  i.configure_server();
  const auto& host = i.settings.listen_host;
  i.port = i.settings.listen_port == 0
               ? i.server.bind_to_any_port(host)
               : (i.server.bind_to_port(host, i.settings.listen_port) ? i.settings.listen_port : -1);
  if (i.port <= 0) {
    throw ConfigError("cannot listen on " + host + ":" + std::to_string(i.settings.listen_port) +
                      " (in use, or not an address of this machine)");
  }
  // cpp-httplib listens with a backlog of 5 (compiled into Debian's library). When many event
  // streams (re)connect at once, e.g. every open dashboard after a restart, connections past
  // the sixth that arrive before the accepting thread runs have their SYN dropped and retried
  // a second later: a thousand streams took minutes to open. listen() again on the bound
  // socket only raises its backlog.
  if (i.listen_fd >= 0) ::listen(i.listen_fd, SOMAXCONN);
  // A malformed endpoint fails here, at start, not in the first request that uses it.
  for (const auto& endpoint : i.settings.brokers) {
    try {
      client::Client probe(i.context, endpoint, i.settings.curve);
    } catch (const zmq::error_t& e) {
      throw ConfigError("--broker " + endpoint + ": " + e.what());
    }
  }
  try {
    i.feed.start();
  } catch (const zmq::error_t& e) {
    throw ConfigError("--events: " + std::string(e.what()));
  }
  i.listener = std::thread([&i] { i.server.listen_after_bind(); });
  i.logger->info("listening on http://{}:{} (brokers {}, tokens {})", host, i.port, fmt::join(i.settings.brokers, ","),
                 i.auth.enabled() ? std::to_string(i.auth.token_count()) : std::string("off: loopback only"));
}

int Gateway::port() const { return impl_->port; }

void Gateway::wait() {
  if (impl_->listener.joinable()) impl_->listener.join();
}

void Gateway::stop() {
  if (!impl_) return;
  impl_->events.close();  // ends open event streams, which would hold their threads
  impl_->server.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
  impl_->feed.stop();
}

bool Gateway::reload_tokens() {
  auto& i = *impl_;
  if (auto error = i.auth.reload()) {
    ++i.metrics.token_reload_failures;
    i.logger->error("tokens file not reloaded, the tokens in force stay: {}", *error);
    return false;
  }
  ++i.metrics.token_reloads;
  i.logger->info("tokens file reloaded: {} tokens", i.auth.token_count());
  return true;
}

}  // namespace qg::gateway

#pragma once
// The qgjob subcommands as plain functions over Config structs (filled by main from flags
// and QGJOB_* variables). Each returns the process exit code (see wait_logic.hpp
// exit_code): 0 served / all passed, 1 a job did not pass or the broker refused the request,
// 2 wait timed out, 3 broker unreachable or wrong usage, 128 + the signal when wait was
// stopped by SIGINT (130) or SIGTERM (143). Each failure prints one line
// "qgjob: <reason>" to `err`. Results go to `out`: aligned tables, or one JSON document with
// --json (watch: one JSON object per line). Nothing here blocks longer than the request
// timeout on an absent broker.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "qg/common/curve_client.hpp"
#include "qg/proto/messages.hpp"

namespace qg::cli {

using std::chrono::milliseconds;

struct GlobalConfig {
  std::string broker = "tcp://127.0.0.1:5555";  // broker's client ROUTER
  std::string events = "tcp://127.0.0.1:5558";  // broker's event XPUB
  bool json = false;
  milliseconds request_timeout{5000};  // per request; an unanswered one is "unreachable"
  CurveClientKeys curve;               // --curve-cert and --broker-key; off when empty
};

struct Io {
  std::ostream& out;
  std::ostream& err;
  const std::atomic<bool>* interrupted = nullptr;  // set by Ctrl-C; watch and wait stop on it
  const std::atomic<int>* stop_signal = nullptr;   // the signal that set `interrupted` (0 or absent: SIGINT)
};

struct WaitConfig {
  std::vector<std::string> job_ids;
  milliseconds timeout{0};  // 0 = wait for ever
  std::string junit;        // empty = no report
  std::string org_id;       // when known, subscribe to exactly these jobs' topics
  // Jobs still unfinished when the wait ends early (timeout, SIGINT, SIGTERM) are cancelled
  // unless this is set.
  bool keep_on_exit = false;
};

struct SubmitConfig {
  std::string org_id;
  std::string app_version_id;
  std::vector<std::string> tests;
  proto::Priority priority = proto::Priority::medium;
  proto::Target target = proto::Target::emulator;
  std::string idempotency_key;  // empty = generated, so a resent submit cannot duplicate jobs
  std::uint32_t retries = 0;
  std::map<std::string, std::string> requirements;  // --require key=value: worker labels the jobs need
  bool wait = false;
  milliseconds timeout{0};  // overall (submit retries + wait); 0 = submit retries for 3 request timeouts, wait for ever
  std::string junit;
  bool keep_on_exit = false;  // with wait: as WaitConfig::keep_on_exit
};

struct StatusConfig {
  std::vector<std::string> job_ids;
};

struct CancelConfig {
  std::string job_id;
  std::string org_id;
  std::string app_version_id;
};

struct ListConfig {
  std::string org_id;
  std::string app_version_id;
  std::optional<proto::JobStatus> status;
  std::optional<proto::Target> target;
  std::uint32_t limit = 50;
  std::string cursor;
};

// `qgjob workers [--all]`, `qgjob workers drain ID`, `qgjob workers forget ID`.
struct WorkersConfig {
  std::string action;  // "" (list), "drain", "forget" or "unquarantine"
  std::string worker_id;
  bool all = false;  // list: also the workers that left or were forgotten
};

struct QueueConfig {
  std::uint32_t limit = 50;
  std::string cursor;
};

// `qgjob keygen NAME`: a key pair in NAME.key and NAME.key_secret with exactly one role.
struct KeygenConfig {
  std::string name;        // may include a folder (created when missing)
  std::string org;         // --org ORG: a client of one org
  bool admin = false;      // --admin: a client of every org
  std::string worker_id;   // --worker-id ID: one worker
  bool scheduler = false;  // --scheduler: qg-scheduler
  bool force = false;      // overwrite existing files
};

struct WatchConfig {
  std::string org_id;
  std::string job_id;
  bool heartbeats = false;
};

int run_submit(const GlobalConfig& g, const SubmitConfig& c, Io io);
int run_status(const GlobalConfig& g, const StatusConfig& c, Io io);
int run_wait(const GlobalConfig& g, const WaitConfig& c, Io io);
int run_cancel(const GlobalConfig& g, const CancelConfig& c, Io io);
int run_retry(const GlobalConfig& g, const std::string& job_id, Io io);
int run_list(const GlobalConfig& g, const ListConfig& c, Io io);
int run_queue(const GlobalConfig& g, const QueueConfig& c, Io io);
int run_workers(const GlobalConfig& g, const WorkersConfig& c, Io io);
// detailed: also schedulers, brokers, live workers per target, the oldest queued job's age and
// the store's memory, with warnings.
int run_health(const GlobalConfig& g, bool detailed, Io io);
// STATS: farm counts, then per org and target the last hour and day (an org key: its org only).
int run_stats(const GlobalConfig& g, Io io);
int run_watch(const GlobalConfig& g, const WatchConfig& c, Io io);
// Writes the key pair; prints both paths and the public key (no broker is contacted).
int run_keygen(const GlobalConfig& g, const KeygenConfig& c, Io io);

// Exit code for an ERROR reply: 3 for requests the broker found malformed or invalid (bad
// usage) or could not serve (unavailable), 1 otherwise (not found, conflict, internal).
int exit_code_for_error(const std::string& code);

// Aligned text table: columns padded to their widest cell, two spaces apart. Every cell is
// written through printable() (qg/cli/terminal_text.hpp), so wire text in it cannot reach the
// terminal raw.
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

// "850ms", "12.3s", "4m05s".
std::string format_duration(std::int64_t ms);

}  // namespace qg::cli

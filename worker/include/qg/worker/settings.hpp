#pragma once
// Settings of one qg-worker (one device slot), filled by main from flags and QG_* variables.
// Durations carry their unit in the type; tests shrink them.

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qg/common/curve_client.hpp"
#include "qg/proto/messages.hpp"

namespace qg::worker {

using std::chrono::milliseconds;

inline constexpr std::string_view kDefaultRunCmd = "npx appwright test {test_path} --project {target}";

struct Settings {
  std::string broker = "tcp://127.0.0.1:5556";  // broker's worker ROUTER
  std::string events = "tcp://127.0.0.1:5557";  // broker's events-in XSUB
  CurveClientKeys curve;                        // set on both sockets; off when empty
  std::vector<proto::Target> targets{proto::Target::emulator};
  std::string device_id;  // empty = none (a generic slot)
  std::string worker_id;  // must be set (main derives a default)
  std::map<std::string, std::string> labels;
  std::string workdir = "qg-worker";      // logs/, the installed-builds file and the running-group record live here
  std::string install_cmd;                // empty = no install step; a template (command_template.hpp)
  std::string run_cmd{kDefaultRunCmd};    // a template (command_template.hpp)
  milliseconds job_timeout{900'000};      // per test; 0 = none
  milliseconds install_timeout{600'000};  // 0 = none
  milliseconds kill_grace{1'000};         // SIGTERM -> SIGKILL to the process group
  milliseconds heartbeat{1'000};          // the broker's HELLO reply may lower it
  milliseconds pull_wait{5'000};          // long-poll time asked of the broker
  milliseconds reply_timeout{
      5'000};  // a HELLO/BYE/RELEASE, or a PULL past pull_wait, unanswered this long is retried (re-HELLO for PULL)
  milliseconds report_resend{1'000};   // REPORT resent this often until CONFIRM
  milliseconds drain_timeout{30'000};  // on exit, give up waiting for CONFIRMs after this; 0 = wait for ever
  milliseconds tick{20};               // poll step while a command runs, only on kernels without pidfd_open
  // Per-job logs in <workdir>/logs are deleted this long after their last write (checked at
  // start and every minute); nullopt: kept for ever.
  std::optional<milliseconds> log_retention = std::chrono::hours(24 * 7);
  std::size_t tail_lines = 50;
  std::size_t tail_bytes = 64u << 10;
  // Values of the worker's environment variables whose names match these globs (case
  // insensitive) are replaced by "***" in the log tails and error text it sends.
  std::vector<std::string> mask_env;  // added to the defaults
  bool default_masks = true;          // false = only mask_env (default_mask_patterns() not used)
};

// "k=v,k2=v2" -> map. Spaces around items are trimmed; throws qg::ConfigError on an item
// without '=' or with an empty key, or on a repeated key.
std::map<std::string, std::string> parse_labels(const std::string& text);

// "emulator,device" -> targets; throws qg::ConfigError on an unknown name or an empty list.
std::vector<proto::Target> parse_targets(const std::string& text);

// "<hostname>" or "<hostname>-<device_id>", with every character outside [A-Za-z0-9._-]
// replaced by '-'.
std::string default_worker_id(const std::string& hostname, const std::string& device_id);

// Seconds as given on the command line ("900", "0.5") to milliseconds; throws ConfigError
// when negative or not a number.
milliseconds seconds_to_ms(double seconds, const std::string& option);

}  // namespace qg::worker

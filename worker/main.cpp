// qg-worker: one device slot. Flags (and QG_* environment variables) -> Settings -> Worker.
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <iostream>

#include "qg/common/config.hpp"
#include "qg/common/curve_cert.hpp"
#include "qg/common/curve_client.hpp"
#include "qg/common/duration.hpp"
#include "qg/common/errors.hpp"
#include "qg/common/logging.hpp"
#include "qg/worker/command_template.hpp"
#include "qg/worker/settings.hpp"
#include "qg/worker/worker.hpp"

namespace {

qg::worker::Worker* g_worker = nullptr;

extern "C" void on_stop_signal(int) {
  if (g_worker != nullptr) g_worker->request_stop();
}

std::string host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "worker";
  return buf;
}

}  // namespace

int main(int argc, char* argv[]) {
  namespace po = qg::po;
  using std::chrono::milliseconds;
  qg::worker::Settings s;
  qg::LogSettings log_settings;
  std::string targets = "emulator";
  std::string labels;
  bool no_default_masks = false;
  double job_timeout_s = 900;
  double install_timeout_s = 600;
  std::int64_t heartbeat_ms = 1000, pull_wait_ms = 5000, reply_timeout_ms = 5000, report_resend_ms = 1000,
               kill_grace_ms = 1000, drain_timeout_ms = 30000;

  std::string log_retention = "7d";
  std::string placeholders;
  for (const auto& p : qg::worker::placeholder_names()) placeholders += (placeholders.empty() ? "{" : " {") + p + "}";

  po::options_description options;
  options.add_options()                                                                                //
      ("broker", po::value(&s.broker)->default_value(s.broker), "broker's worker endpoint")            //
      ("events", po::value(&s.events)->default_value(s.events), "broker's events-in endpoint (XSUB)")  //
      ("targets", po::value(&targets)->default_value(targets),
       "comma-separated targets this slot serves: emulator, device, browserstack")                  //
      ("device-id", po::value(&s.device_id)->default_value(""), "device serial/name of this slot")  //
      ("worker-id", po::value(&s.worker_id)->default_value(""),
       "unique worker id (default: <hostname>-<device-id>)")                                        //
      ("labels", po::value(&labels)->default_value(""), "labels k=v,k2=v2 reported to the broker")  //
      ("workdir", po::value(&s.workdir)->default_value(""),
       "directory for per-job logs and the installed-builds list (default: ./qg-worker-<worker-id>)")  //
      ("log-retention", po::value(&log_retention)->default_value(log_retention),
       "per-job logs (<workdir>/logs/*.log) are deleted this long after their last write: 30s, 15m, 12h, 7d; "
       "'off' keeps them for ever")  //
      ("install-cmd", po::value(&s.install_cmd)->default_value(""),
       ("install command template, run once per group; empty = no install step. Placeholders: " + placeholders +
        ". Each value is passed as one argument: never put a placeholder inside quotes or in the text of "
        "sh -c; a shell script reads the values from the environment (QG_JOB_TEST_PATH, QG_JOB_APP_VERSION_ID, "
        "...), e.g. sh -c 'npx appwright test \"$QG_JOB_TEST_PATH\"'. A template with shell syntax runs via "
        "/bin/sh -c with each value shell-quoted, one without runs with no shell")
           .c_str())  //
      ("run-cmd", po::value(&s.run_cmd)->default_value(s.run_cmd),
       "test command template, run once per test (same rules as --install-cmd); exit 0 = passed")  //
      ("mask-env", po::value(&s.mask_env)->composing(),
       "mask the values of environment variables whose names match this glob (case-insensitive; repeatable) "
       "in the log tails and errors sent to the broker; added to *TOKEN* *SECRET* *PASSWORD* *KEY*")  //
      ("no-default-masks", po::bool_switch(&no_default_masks),
       "do not mask *TOKEN* *SECRET* *PASSWORD* *KEY* variables, only those given with --mask-env")  //
      ("job-timeout", po::value(&job_timeout_s)->default_value(job_timeout_s),
       "seconds a test may run before its process group is killed (0 = none)")  //
      ("install-timeout", po::value(&install_timeout_s)->default_value(install_timeout_s),
       "seconds the install may run (0 = none)")  //
      ("heartbeat-ms", po::value(&heartbeat_ms)->default_value(heartbeat_ms),
       "heartbeat interval (the broker may ask for a shorter one)")  //
      ("kill-grace-ms", po::value(&kill_grace_ms)->default_value(kill_grace_ms),
       "delay between SIGTERM and SIGKILL to a test's process group")                                         //
      ("pull-wait-ms", po::value(&pull_wait_ms)->default_value(pull_wait_ms), "long-poll time of each PULL")  //
      ("reply-timeout-ms", po::value(&reply_timeout_ms)->default_value(reply_timeout_ms),
       "an unanswered HELLO/BYE, or a PULL unanswered past pull-wait plus this, is retried (PULL: re-HELLO)")  //
      ("report-resend-ms", po::value(&report_resend_ms)->default_value(report_resend_ms),
       "resend an unconfirmed REPORT/RELEASE this often")  //
      ("drain-timeout-ms", po::value(&drain_timeout_ms)->default_value(drain_timeout_ms),
       "on shutdown, stop waiting for confirmations after this (0 = wait for ever)");
  std::string curve_cert, broker_key;
  qg::add_curve_client_options(options, curve_cert, broker_key);
  qg::add_log_options(options, log_settings);

  auto outcome = qg::parse_options(
      argc, argv, options, {"QG_"}, "qg-worker",
      "runs test groups for one device slot: installs a build once, runs each test, reports results.\n"
      "SIGTERM/SIGINT drains (finish the running test, hand the rest back, exit 0); a second SIGINT kills "
      "the running test and exits.\nExample: qg-worker --device-id emulator-5554 --install-cmd 'adb install "
      "builds/{app_version_id}.apk' --run-cmd 'npx appwright test {test_path} --project {target}'");
  if (!outcome.run) return outcome.exit_code;

  try {
    s.targets = qg::worker::parse_targets(targets);
    s.labels = qg::worker::parse_labels(labels);
    s.curve = qg::load_curve_client_keys(curve_cert, broker_key);
    if (s.curve.enabled()) {
      // A worker key names the one worker id the broker accepts from it.
      const auto cert = qg::read_secret_cert(curve_cert);
      if (const auto* key_worker = cert.metadata_value("worker-id")) {
        if (s.worker_id.empty()) s.worker_id = *key_worker;
        if (s.worker_id != *key_worker) {
          throw qg::ConfigError("--worker-id " + s.worker_id + " is not the worker id of --curve-cert (" + *key_worker +
                                "); the broker accepts only that one from this key");
        }
      }
    }
    if (s.worker_id.empty()) s.worker_id = qg::worker::default_worker_id(host_name(), s.device_id);
    if (s.workdir.empty()) s.workdir = "qg-worker-" + s.worker_id;
    if (s.run_cmd.empty()) throw qg::ConfigError("--run-cmd is empty");
    s.job_timeout = qg::worker::seconds_to_ms(job_timeout_s, "job-timeout");
    s.install_timeout = qg::worker::seconds_to_ms(install_timeout_s, "install-timeout");
    for (auto [value, name] :
         {std::pair{heartbeat_ms, "heartbeat-ms"}, std::pair{pull_wait_ms, "pull-wait-ms"},
          std::pair{reply_timeout_ms, "reply-timeout-ms"}, std::pair{report_resend_ms, "report-resend-ms"}}) {
      if (value <= 0) throw qg::ConfigError(std::string("--") + name + " must be > 0");
    }
    if (kill_grace_ms < 0 || drain_timeout_ms < 0) throw qg::ConfigError("durations must be >= 0");
    s.heartbeat = milliseconds(heartbeat_ms);
    s.pull_wait = milliseconds(pull_wait_ms);
    s.reply_timeout = milliseconds(reply_timeout_ms);
    s.report_resend = milliseconds(report_resend_ms);
    s.kill_grace = milliseconds(kill_grace_ms);
    s.drain_timeout = milliseconds(drain_timeout_ms);
    s.default_masks = !no_default_masks;
    s.log_retention = qg::duration_option("--log-retention", log_retention, "off");

    auto logger = qg::make_logger("qg-worker", log_settings);
    zmq::context_t context(1);
    qg::worker::Worker worker(s, context, logger);
    g_worker = &worker;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    int code = worker.run();
    g_worker = nullptr;
    return code;
  } catch (const qg::worker::UnsafeTemplate& e) {
    std::cerr << "qg-worker: " << e.what() << "\n";
    return 2;
  } catch (const qg::ConfigError& e) {
    std::cerr << "qg-worker: " << e.what() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "qg-worker: fatal: " << e.what() << "\n";
    return 1;
  }
}

// qgjob: the command-line client. Flags (and QGJOB_* environment variables) -> Config
// structs -> qg::cli::run_<command>. Each command is one row of kCommands: its name, help
// summary and usage line, the options it adds and the step that checks them and runs it.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>

#include "qg/cli/commands.hpp"
#include "qg/cli/wait_logic.hpp"
#include "qg/common/config.hpp"
#include "qg/common/errors.hpp"
#include "qg/proto/field_rules.hpp"

namespace {

namespace po = qg::po;
namespace cli = qg::cli;
using std::chrono::milliseconds;

std::atomic<bool> g_interrupted{false};
std::atomic<int> g_signal{0};
// The first SIGINT or SIGTERM asks the running command to stop (wait then cancels its jobs);
// a second one leaves at once.
extern "C" void on_interrupt(int sig) {
  int none = 0;
  if (!g_signal.compare_exchange_strong(none, sig)) _exit(cli::exit_code::signalled(sig));
  g_interrupted.store(true);
}

// Everything a command line can fill in; each command reads its own part.
struct Parsed {
  cli::SubmitConfig submit;
  cli::WaitConfig wait;
  cli::StatusConfig status;
  cli::CancelConfig cancel;
  cli::ListConfig list;
  cli::QueueConfig queue;
  cli::WorkersConfig workers;
  std::vector<std::string> workers_args;
  std::vector<std::string> requires_;
  bool health_detailed = false;
  cli::WatchConfig watch;
  cli::KeygenConfig keygen;
  std::string retry_job;
  std::string priority = "medium", target = "emulator", list_status, list_target;
  double timeout_s = 0;
  std::uint32_t retries = 0, limit = 50;
};

// What a command's run step gets: the global settings, what was parsed, --timeout, where to
// print, and how to refuse the command line (one line on stderr, returns exit code 3).
struct Invocation {
  const cli::GlobalConfig& g;
  Parsed& p;
  milliseconds timeout;
  cli::Io io;
  std::function<int(const std::string&)> usage_error;
};

// One row per command. `usage` follows "qgjob " in the command's --help; `add_options` is
// null for a command without options of its own. `positional`: the option that a bare
// argument after the command fills (null: none is taken).
struct Command {
  std::string name;
  std::string summary;
  std::string usage;
  void (*add_options)(po::options_description& own, Parsed& p);
  int (*run)(Invocation& in);
  const char* positional = nullptr;
  int positional_count = 1;  // how many bare arguments it takes (-1: any number)
};

void submit_options(po::options_description& own, Parsed& p) {
  own.add_options()                                                                                                   //
      ("org-id", po::value(&p.submit.org_id)->required(), "organisation id (required)")                               //
      ("app-version-id", po::value(&p.submit.app_version_id)->required(), "app build id (required)")                  //
      ("test", po::value(&p.submit.tests)->required()->composing(), "test file path; repeat for several (required)")  //
      ("priority", po::value(&p.priority)->default_value(p.priority), "low, medium or high")                          //
      ("target", po::value(&p.target)->default_value(p.target), "emulator, device or browserstack")                   //
      ("require", po::value(&p.requires_)->composing(),
       "KEY=VALUE: only a worker whose --labels hold KEY with exactly VALUE runs the jobs; repeat for several "
       "(all must hold)")  //
      ("idempotency-key", po::value(&p.submit.idempotency_key),
       "same key + org => same jobs; generated when absent, so resending a submit after a timeout is safe")  //
      ("retries", po::value(&p.retries)->default_value(0), "re-runs allowed after a test failure (0..10)")   //
      ("wait", po::bool_switch(&p.submit.wait), "then wait like `qgjob wait` (same exit codes)")             //
      ("timeout", po::value(&p.timeout_s)->default_value(0),
       "overall seconds for submit (+ wait); 0 = submit retries for 3 request timeouts, wait for ever")  //
      ("junit", po::value(&p.submit.junit), "with --wait: write a JUnit XML report to this file")        //
      ("keep-on-exit", po::bool_switch(&p.submit.keep_on_exit),
       "with --wait: leave unfinished jobs running on --timeout, SIGINT or SIGTERM (default: cancel them)");
}

int submit_run(Invocation& in) {
  auto& p = in.p;
  auto priority = qg::proto::parse_priority(p.priority);
  if (!priority) return in.usage_error("unknown --priority '" + p.priority + "' (low, medium, high)");
  auto target = qg::proto::parse_target(p.target);
  if (!target) return in.usage_error("unknown --target '" + p.target + "' (emulator, device, browserstack)");
  if (p.retries > 10) return in.usage_error("--retries must be 0..10");
  if (!p.submit.junit.empty() && !p.submit.wait) return in.usage_error("--junit needs --wait");
  if (p.submit.keep_on_exit && !p.submit.wait) return in.usage_error("--keep-on-exit needs --wait");
  for (const auto& r : p.requires_) {
    auto eq = r.find('=');
    if (eq == std::string::npos) return in.usage_error("--require '" + r + "' is not KEY=VALUE");
    if (!p.submit.requirements.emplace(r.substr(0, eq), r.substr(eq + 1)).second) {
      return in.usage_error("--require names '" + r.substr(0, eq) + "' twice");
    }
  }
  if (auto e = qg::proto::check_requirements(p.submit.requirements, "--require")) {
    return in.usage_error("--require: " + e->field + ": " + e->message);
  }
  p.submit.priority = *priority;
  p.submit.target = *target;
  p.submit.retries = p.retries;
  p.submit.timeout = in.timeout;
  return cli::run_submit(in.g, p.submit, in.io);
}

void wait_options(po::options_description& own, Parsed& p) {
  own.add_options()                                                                                                  //
      ("job-id", po::value(&p.wait.job_ids)->required()->composing(), "job id; repeat for several (required)")       //
      ("timeout", po::value(&p.timeout_s)->default_value(0), "give up after this many seconds (exit 2); 0 = never")  //
      ("junit", po::value(&p.wait.junit), "write a JUnit XML report to this file")                                   //
      ("keep-on-exit", po::bool_switch(&p.wait.keep_on_exit),
       "leave unfinished jobs running on --timeout, SIGINT or SIGTERM (default: cancel them)");
}

int wait_run(Invocation& in) {
  in.p.wait.timeout = in.timeout;
  return cli::run_wait(in.g, in.p.wait, in.io);
}

void status_options(po::options_description& own, Parsed& p) {
  own.add_options()("job-id", po::value(&p.status.job_ids)->required()->composing(),
                    "job id; repeat for several (required)");
}

void cancel_options(po::options_description& own, Parsed& p) {
  own.add_options()                                                                           //
      ("job-id", po::value(&p.cancel.job_id), "the job to cancel")                            //
      ("org-id", po::value(&p.cancel.org_id), "with --app-version-id: cancel a whole build")  //
      ("app-version-id", po::value(&p.cancel.app_version_id), "the build to cancel");
}

int cancel_run(Invocation& in) {
  const auto& cancel = in.p.cancel;
  bool by_job = !cancel.job_id.empty();
  bool by_build = !cancel.org_id.empty() || !cancel.app_version_id.empty();
  if (by_job == by_build) return in.usage_error("give either --job-id, or --org-id and --app-version-id");
  if (by_build && (cancel.org_id.empty() || cancel.app_version_id.empty())) {
    return in.usage_error("a build is --org-id and --app-version-id together");
  }
  return cli::run_cancel(in.g, cancel, in.io);
}

void retry_options(po::options_description& own, Parsed& p) {
  own.add_options()("job-id", po::value(&p.retry_job)->required(), "the dead job to run again (required)");
}

void list_options(po::options_description& own, Parsed& p) {
  own.add_options()                                                                                     //
      ("org-id", po::value(&p.list.org_id), "only this organisation")                                   //
      ("app-version-id", po::value(&p.list.app_version_id), "only this build")                          //
      ("status", po::value(&p.list_status), "only this status (queued, running, passed, failed, ...)")  //
      ("target", po::value(&p.list_target), "only this target")                                         //
      ("limit", po::value(&p.limit)->default_value(50), "jobs per page (1..1000)")                      //
      ("cursor", po::value(&p.list.cursor), "the next page, as printed by the previous one");
}

int list_run(Invocation& in) {
  auto& p = in.p;
  if (!p.list_status.empty()) {
    p.list.status = qg::proto::parse_status(p.list_status);
    if (!p.list.status) return in.usage_error("unknown --status '" + p.list_status + "'");
  }
  if (!p.list_target.empty()) {
    p.list.target = qg::proto::parse_target(p.list_target);
    if (!p.list.target) return in.usage_error("unknown --target '" + p.list_target + "'");
  }
  if (p.limit < 1 || p.limit > 1000) return in.usage_error("--limit must be 1..1000");
  p.list.limit = p.limit;
  return cli::run_list(in.g, p.list, in.io);
}

void queue_options(po::options_description& own, Parsed& p) {
  own.add_options()                                                                   //
      ("limit", po::value(&p.limit)->default_value(50), "groups per page (1..1000)")  //
      ("cursor", po::value(&p.queue.cursor), "the next page");
}

int queue_run(Invocation& in) {
  if (in.p.limit < 1 || in.p.limit > 1000) return in.usage_error("--limit must be 1..1000");
  in.p.queue.limit = in.p.limit;
  return cli::run_queue(in.g, in.p.queue, in.io);
}

void workers_options(po::options_description& own, Parsed& p) {
  own.add_options()                                                                              //
      ("all", po::bool_switch(&p.workers.all), "also list workers that left or were forgotten")  //
      ("action", po::value(&p.workers_args)->composing(),
       "drain ID, forget ID or unquarantine ID (given as bare words)");
}

int workers_run(Invocation& in) {
  auto& args = in.p.workers_args;
  auto& c = in.p.workers;
  if (!args.empty()) {
    if (args[0] != "drain" && args[0] != "forget" && args[0] != "unquarantine") {
      return in.usage_error("unknown action '" + args[0] + "' (drain ID, forget ID, unquarantine ID, or none to list)");
    }
    if (args.size() != 2) return in.usage_error(args[0] + " takes exactly one worker id");
    if (c.all) return in.usage_error("--all goes with the listing only");
    c.action = args[0];
    c.worker_id = args[1];
  }
  return cli::run_workers(in.g, c, in.io);
}

void health_options(po::options_description& own, Parsed& p) {
  own.add_options()("detailed", po::bool_switch(&p.health_detailed),
                    "also list schedulers, brokers, live workers per target, the oldest queued job's age and "
                    "the store's memory, with warnings");
}

void watch_options(po::options_description& own, Parsed& p) {
  own.add_options()                                                             //
      ("org-id", po::value(&p.watch.org_id), "only jobs of this organisation")  //
      ("job-id", po::value(&p.watch.job_id), "only this job")                   //
      ("heartbeats", po::bool_switch(&p.watch.heartbeats), "also print worker heartbeats");
}

void keygen_options(po::options_description& own, Parsed& p) {
  own.add_options()                                                                                              //
      ("name", po::value(&p.keygen.name), "NAME: writes NAME.key and NAME.key_secret (NAME may hold a folder)")  //
      ("org", po::value(&p.keygen.org), "a client key of this org: submits and sees only its org's jobs")        //
      ("admin", po::bool_switch(&p.keygen.admin), "a client key of an administrator: every org")                 //
      ("worker-id", po::value(&p.keygen.worker_id), "a worker key: serves as this worker id only")               //
      ("scheduler", po::bool_switch(&p.keygen.scheduler), "a key for qg-scheduler (publishes events)")           //
      ("force", po::bool_switch(&p.keygen.force), "overwrite NAME.key and NAME.key_secret if they exist");
}

// In the order `qgjob --help` lists them.
const std::vector<Command> kCommands = {
    {"submit", "queue one or more tests of an app build; prints the job ids (--wait to block until done)",
     "submit --org-id ORG --app-version-id BUILD --test PATH [--test PATH ...] [options]", submit_options, submit_run},
    {"status", "show jobs by id", "status --job-id ID [--job-id ID ...]", status_options,
     [](Invocation& in) { return cli::run_status(in.g, in.p.status, in.io); }},
    {"wait",
     "block until jobs finish; exit 0 all passed, 1 any did not, 2 timeout, 3 broker unreachable; on timeout or "
     "Ctrl-C cancels the unfinished ones",
     "wait --job-id ID [--job-id ID ...] [--timeout S] [--junit FILE] [--keep-on-exit]", wait_options, wait_run},
    {"cancel", "cancel a job, or every unfinished job of an app build",
     "cancel --job-id ID | --org-id ORG --app-version-id BUILD", cancel_options, cancel_run},
    {"retry", "run a dead (dead-lettered) job again", "retry --job-id ID", retry_options,
     [](Invocation& in) { return cli::run_retry(in.g, in.p.retry_job, in.io); }},
    {"list", "list jobs, newest first, with filters and paging",
     "list [--org-id X] [--app-version-id Y] [--status S] [--target T] [--limit N] [--cursor C]", list_options,
     list_run},
    {"queue", "show queued groups and job counts", "queue [--limit N] [--cursor C]", queue_options, queue_run},
    {"workers",
     "show workers and their devices (a silent one is `lost`); drain one (it finishes its test and leaves), "
     "forget a lost one, or end a device's quarantine",
     "workers [--all] | workers drain ID | workers forget ID | workers unquarantine ID", workers_options, workers_run,
     "action", -1},
    {"health",
     "check that the broker, its store and a scheduler are up (exit 1 when not); --detailed for the whole farm",
     "health [--detailed]", health_options,
     [](Invocation& in) { return cli::run_health(in.g, in.p.health_detailed, in.io); }},
    {"stats",
     "show per org and target, over the last hour and day: jobs by final status, success rate, p50/p95 test "
     "duration, p50 install duration, tests per install, oldest queued job",
     "stats", nullptr, [](Invocation& in) { return cli::run_stats(in.g, in.io); }},
    {"watch", "print live job and worker events until Ctrl-C", "watch [--org-id X] [--job-id ID] [--heartbeats]",
     watch_options, [](Invocation& in) { return cli::run_watch(in.g, in.p.watch, in.io); }},
    {"keygen", "make a CURVE key pair (NAME.key, NAME.key_secret) for a broker with keys",
     "keygen NAME [--org ORG | --admin | --worker-id ID | --scheduler] [--force]\n"
     "(no role: the broker's own key, its NAME.key_secret given to qg-broker --curve-cert)",
     keygen_options, [](Invocation& in) { return cli::run_keygen(in.g, in.p.keygen, in.io); }, "name"},
};

void print_main_help(std::ostream& out) {
  out << "qgjob — submit AppWright/Appium test jobs to a qgjob broker and follow them.\n\n"
         "Usage: qgjob [global options] <command> [options]\n\nCommands:\n";
  for (const auto& c : kCommands) out << "  " << c.name << std::string(10 - c.name.size(), ' ') << c.summary << "\n";
  out << "\nGlobal options (before or after the command):\n"
         "  --broker URL            broker's client endpoint (env QGJOB_BROKER, default tcp://127.0.0.1:5555)\n"
         "  --events URL            broker's event stream (env QGJOB_EVENTS, default tcp://127.0.0.1:5558)\n"
         "  --json                  machine-readable output (one JSON document; watch: one per line)\n"
         "  --request-timeout SEC   a request unanswered this long means the broker is unreachable (default 5)\n"
         "  --curve-cert FILE       this client's secret key (NAME.key_secret) for a broker with keys\n"
         "                          (env QGJOB_CURVE_CERT); needs --broker-key\n"
         "  --broker-key FILE       the broker's public key (its NAME.key; env QGJOB_BROKER_KEY)\n"
         "  -h, --help              this text; `qgjob <command> --help` explains a command\n"
         "  --version               print the version and exit\n"
         "\nExit codes: 0 ok / all passed; 1 a job failed, timed out, errored, was cancelled or is dead, or the\n"
         "broker refused the request; 2 wait timed out; 3 broker unreachable or wrong usage; 130/143 wait\n"
         "stopped by SIGINT/SIGTERM. A wait that ends early cancels its unfinished jobs (--keep-on-exit: not).\n"
         "\nExample (CI):\n"
         "  qgjob submit --org-id acme --app-version-id $GIT_SHA --test tests/login.spec.ts \\\n"
         "        --test tests/cart.spec.ts --target emulator --wait --timeout 1800 --junit report.xml\n";
}

bool global_takes_value(const std::string& arg) {
  for (const char* name : {"--broker", "--events", "--request-timeout", "--curve-cert", "--broker-key"}) {
    if (arg == name) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char* argv[]) {
  // Find the command: the first argument that is neither a global option nor its value.
  int command_index = -1;
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      continue;
    }
    if (arg == "--version") {
      std::cout << "qgjob " << QG_VERSION << "\n";
      return 0;
    }
    if (arg.rfind("-", 0) == 0) {
      if (global_takes_value(arg)) ++i;
      continue;
    }
    command_index = i;
    break;
  }
  if (command_index < 0) {
    if (help) {
      print_main_help(std::cout);
      return 0;
    }
    print_main_help(std::cerr);
    std::cerr << "\nqgjob: no command given\n";
    return cli::exit_code::usage;
  }
  const std::string command = argv[command_index];
  auto known = std::find_if(kCommands.begin(), kCommands.end(), [&](const Command& c) { return c.name == command; });
  if (known == kCommands.end()) {
    std::cerr << "qgjob: unknown command '" << command << "' (see qgjob --help)\n";
    return cli::exit_code::usage;
  }
  // Parse global options and the command's options together, wherever they stand.
  std::vector<const char*> args = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (i != command_index) args.push_back(argv[i]);
  }

  cli::GlobalConfig g;
  double request_timeout_s = 5;
  std::string curve_cert, broker_key;
  po::options_description global("Global options");
  global.add_options()                                                                             //
      ("broker", po::value(&g.broker)->default_value(g.broker), "broker's client endpoint")        //
      ("events", po::value(&g.events)->default_value(g.events), "broker's event stream endpoint")  //
      ("json", po::bool_switch(&g.json), "machine-readable JSON output")                           //
      ("request-timeout", po::value(&request_timeout_s)->default_value(request_timeout_s),
       "seconds to wait for the broker's answer to a request");
  qg::add_curve_client_options(global, curve_cert, broker_key);

  po::options_description own(command + " options");
  Parsed parsed;
  if (known->add_options != nullptr) known->add_options(own, parsed);
  po::options_description all;
  all.add(own).add(global);
  po::positional_options_description positional;
  if (known->positional != nullptr) positional.add(known->positional, known->positional_count);
  auto outcome =
      qg::parse_options(static_cast<int>(args.size()), args.data(), all, {"QGJOB_"}, "qgjob " + command,
                        known->summary + "\n\nUsage: qgjob " + known->usage, cli::exit_code::usage, &positional);
  if (!outcome.run) return outcome.exit_code;

  auto usage_error = [&](const std::string& message) {
    std::cerr << "qgjob " << command << ": " << message << " (see qgjob " << command << " --help)\n";
    return cli::exit_code::usage;
  };
  if (!(request_timeout_s > 0)) return usage_error("--request-timeout must be > 0");
  if (parsed.timeout_s < 0) return usage_error("--timeout must be >= 0");
  g.request_timeout = milliseconds(static_cast<std::int64_t>(request_timeout_s * 1000));
  if (command != "keygen") {  // keygen makes keys: the ones configured may not exist yet
    try {
      g.curve = qg::load_curve_client_keys(curve_cert, broker_key);
    } catch (const qg::ConfigError& e) {
      std::cerr << "qgjob: " << e.what() << "\n";
      return cli::exit_code::usage;
    }
  }
  const milliseconds timeout(static_cast<std::int64_t>(parsed.timeout_s * 1000));

  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  cli::Io io{std::cout, std::cerr, &g_interrupted, &g_signal};
  Invocation invocation{g, parsed, timeout, io, usage_error};
  return known->run(invocation);
}

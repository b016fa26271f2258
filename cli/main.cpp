// qgjob: the command-line client. Flags (and QGJOB_* environment variables) -> Config
// structs -> qg::cli::run_<command>.
#include <signal.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>

#include "qg/cli/commands.hpp"
#include "qg/cli/wait_logic.hpp"
#include "qg/common/config.hpp"

namespace {

namespace po = qg::po;
namespace cli = qg::cli;
using std::chrono::milliseconds;

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) {
  if (g_interrupted.exchange(true)) _exit(130);  // a second Ctrl-C leaves at once
}

struct Command {
  std::string name;
  std::string summary;
};

const std::vector<Command> kCommands = {
    {"submit", "queue one or more tests of an app build; prints the job ids (--wait to block until done)"},
    {"status", "show jobs by id"},
    {"wait", "block until jobs finish; exit 0 all passed, 1 any did not, 2 timeout, 3 broker unreachable"},
    {"cancel", "cancel a job, or every unfinished job of an app build"},
    {"retry", "run a dead (dead-lettered) job again"},
    {"list", "list jobs, newest first, with filters and paging"},
    {"queue", "show queued groups and job counts"},
    {"workers", "show connected workers and their devices"},
    {"health", "check that the broker and its store are up"},
    {"watch", "print live job and worker events until Ctrl-C"},
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
         "  -h, --help              this text; `qgjob <command> --help` explains a command\n"
         "\nExit codes: 0 ok / all passed; 1 a job failed, timed out, errored, was cancelled or is dead, or the\n"
         "broker refused the request; 2 wait timed out; 3 broker unreachable or wrong usage.\n"
         "\nExample (CI):\n"
         "  qgjob submit --org-id acme --app-version-id $GIT_SHA --test tests/login.spec.ts \\\n"
         "        --test tests/cart.spec.ts --target emulator --wait --timeout 1800 --junit report.xml\n";
}

bool global_takes_value(const std::string& arg) {
  for (const char* name : {"--broker", "--events", "--request-timeout"}) {
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
  po::options_description global("Global options");
  global.add_options()                                                                             //
      ("broker", po::value(&g.broker)->default_value(g.broker), "broker's client endpoint")        //
      ("events", po::value(&g.events)->default_value(g.events), "broker's event stream endpoint")  //
      ("json", po::bool_switch(&g.json), "machine-readable JSON output")                           //
      ("request-timeout", po::value(&request_timeout_s)->default_value(request_timeout_s),
       "seconds to wait for the broker's answer to a request");

  po::options_description own(command + " options");
  cli::SubmitConfig submit;
  cli::WaitConfig wait;
  cli::StatusConfig status;
  cli::CancelConfig cancel;
  cli::ListConfig list;
  cli::QueueConfig queue;
  cli::WatchConfig watch;
  std::string retry_job;
  std::string priority = "medium", target = "emulator", list_status, list_target;
  double timeout_s = 0;
  std::uint32_t retries = 0, limit = 50;
  std::string usage_line;

  if (command == "submit") {
    own.add_options()                                                                                                 //
        ("org-id", po::value(&submit.org_id)->required(), "organisation id (required)")                               //
        ("app-version-id", po::value(&submit.app_version_id)->required(), "app build id (required)")                  //
        ("test", po::value(&submit.tests)->required()->composing(), "test file path; repeat for several (required)")  //
        ("priority", po::value(&priority)->default_value(priority), "low, medium or high")                            //
        ("target", po::value(&target)->default_value(target), "emulator, device or browserstack")                     //
        ("idempotency-key", po::value(&submit.idempotency_key),
         "same key + org => same jobs; generated when absent, so resending a submit after a timeout is safe")  //
        ("retries", po::value(&retries)->default_value(0), "re-runs allowed after a test failure (0..10)")     //
        ("wait", po::bool_switch(&submit.wait), "then wait like `qgjob wait` (same exit codes)")               //
        ("timeout", po::value(&timeout_s)->default_value(0),
         "overall seconds for submit (+ wait); 0 = submit retries for 3 request timeouts, wait for ever")  //
        ("junit", po::value(&submit.junit), "with --wait: write a JUnit XML report to this file");
    usage_line = "submit --org-id ORG --app-version-id BUILD --test PATH [--test PATH ...] [options]";
  } else if (command == "wait") {
    own.add_options()                                                                                                //
        ("job-id", po::value(&wait.job_ids)->required()->composing(), "job id; repeat for several (required)")       //
        ("timeout", po::value(&timeout_s)->default_value(0), "give up after this many seconds (exit 2); 0 = never")  //
        ("junit", po::value(&wait.junit), "write a JUnit XML report to this file");
    usage_line = "wait --job-id ID [--job-id ID ...] [--timeout S] [--junit FILE]";
  } else if (command == "status") {
    own.add_options()("job-id", po::value(&status.job_ids)->required()->composing(),
                      "job id; repeat for several (required)");
    usage_line = "status --job-id ID [--job-id ID ...]";
  } else if (command == "cancel") {
    own.add_options()                                                                         //
        ("job-id", po::value(&cancel.job_id), "the job to cancel")                            //
        ("org-id", po::value(&cancel.org_id), "with --app-version-id: cancel a whole build")  //
        ("app-version-id", po::value(&cancel.app_version_id), "the build to cancel");
    usage_line = "cancel --job-id ID | --org-id ORG --app-version-id BUILD";
  } else if (command == "retry") {
    own.add_options()("job-id", po::value(&retry_job)->required(), "the dead job to run again (required)");
    usage_line = "retry --job-id ID";
  } else if (command == "list") {
    own.add_options()                                                                                   //
        ("org-id", po::value(&list.org_id), "only this organisation")                                   //
        ("app-version-id", po::value(&list.app_version_id), "only this build")                          //
        ("status", po::value(&list_status), "only this status (queued, running, passed, failed, ...)")  //
        ("target", po::value(&list_target), "only this target")                                         //
        ("limit", po::value(&limit)->default_value(50), "jobs per page (1..1000)")                      //
        ("cursor", po::value(&list.cursor), "the next page, as printed by the previous one");
    usage_line = "list [--org-id X] [--app-version-id Y] [--status S] [--target T] [--limit N] [--cursor C]";
  } else if (command == "queue") {
    own.add_options()                                                                 //
        ("limit", po::value(&limit)->default_value(50), "groups per page (1..1000)")  //
        ("cursor", po::value(&queue.cursor), "the next page");
    usage_line = "queue [--limit N] [--cursor C]";
  } else if (command == "watch") {
    own.add_options()                                                           //
        ("org-id", po::value(&watch.org_id), "only jobs of this organisation")  //
        ("job-id", po::value(&watch.job_id), "only this job")                   //
        ("heartbeats", po::bool_switch(&watch.heartbeats), "also print worker heartbeats");
    usage_line = "watch [--org-id X] [--job-id ID] [--heartbeats]";
  } else {
    usage_line = command;
  }
  po::options_description all;
  all.add(own).add(global);
  auto outcome = qg::parse_options(static_cast<int>(args.size()), args.data(), all, {"QGJOB_"}, "qgjob " + command,
                                   known->summary + "\n\nUsage: qgjob " + usage_line, cli::exit_code::usage);
  if (!outcome.run) return outcome.exit_code;

  auto usage_error = [&](const std::string& message) {
    std::cerr << "qgjob " << command << ": " << message << " (see qgjob " << command << " --help)\n";
    return cli::exit_code::usage;
  };
  if (!(request_timeout_s > 0)) return usage_error("--request-timeout must be > 0");
  if (timeout_s < 0) return usage_error("--timeout must be >= 0");
  g.request_timeout = milliseconds(static_cast<std::int64_t>(request_timeout_s * 1000));
  const milliseconds timeout(static_cast<std::int64_t>(timeout_s * 1000));

  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  cli::Io io{std::cout, std::cerr, &g_interrupted};

  if (command == "submit") {
    auto p = qg::proto::parse_priority(priority);
    if (!p) return usage_error("unknown --priority '" + priority + "' (low, medium, high)");
    auto t = qg::proto::parse_target(target);
    if (!t) return usage_error("unknown --target '" + target + "' (emulator, device, browserstack)");
    if (retries > 10) return usage_error("--retries must be 0..10");
    if (!submit.junit.empty() && !submit.wait) return usage_error("--junit needs --wait");
    submit.priority = *p;
    submit.target = *t;
    submit.retries = retries;
    submit.timeout = timeout;
    return cli::run_submit(g, submit, io);
  }
  if (command == "wait") {
    wait.timeout = timeout;
    return cli::run_wait(g, wait, io);
  }
  if (command == "status") return cli::run_status(g, status, io);
  if (command == "cancel") {
    bool by_job = !cancel.job_id.empty();
    bool by_build = !cancel.org_id.empty() || !cancel.app_version_id.empty();
    if (by_job == by_build) return usage_error("give either --job-id, or --org-id and --app-version-id");
    if (by_build && (cancel.org_id.empty() || cancel.app_version_id.empty())) {
      return usage_error("a build is --org-id and --app-version-id together");
    }
    return cli::run_cancel(g, cancel, io);
  }
  if (command == "retry") return cli::run_retry(g, retry_job, io);
  if (command == "list") {
    if (!list_status.empty()) {
      list.status = qg::proto::parse_status(list_status);
      if (!list.status) return usage_error("unknown --status '" + list_status + "'");
    }
    if (!list_target.empty()) {
      list.target = qg::proto::parse_target(list_target);
      if (!list.target) return usage_error("unknown --target '" + list_target + "'");
    }
    if (limit < 1 || limit > 1000) return usage_error("--limit must be 1..1000");
    list.limit = limit;
    return cli::run_list(g, list, io);
  }
  if (command == "queue") {
    if (limit < 1 || limit > 1000) return usage_error("--limit must be 1..1000");
    queue.limit = limit;
    return cli::run_queue(g, queue, io);
  }
  if (command == "workers") return cli::run_workers(g, io);
  if (command == "health") return cli::run_health(g, io);
  if (command == "watch") return cli::run_watch(g, watch, io);
  return usage_error("not implemented");
}

// `qgjob keygen NAME`: a CURVE key pair in the ZeroMQ certificate format (NAME.key public,
// NAME.key_secret secret, mode 0600), its role and scope in the metadata as the broker's key
// folders read them (docs/operations.md "Security"): role = admin | org | worker | scheduler,
// with org = ORG or worker-id = ID. Without a role the key is the broker's own (or one that a
// key folder names by its file, as it does pyzmq's certificates).

#include "qg/cli/commands.hpp"
#include "qg/cli/json.hpp"
#include "qg/cli/terminal_text.hpp"
#include "qg/cli/wait_logic.hpp"
#include "qg/common/curve_cert.hpp"
#include "qg/common/errors.hpp"
#include "qg/proto/field_rules.hpp"

namespace qg::cli {

int run_keygen(const GlobalConfig& g, const KeygenConfig& c, Io io) {
  const int roles = (c.org.empty() ? 0 : 1) + (c.admin ? 1 : 0) + (c.worker_id.empty() ? 0 : 1) + (c.scheduler ? 1 : 0);
  if (c.name.empty() || roles > 1) {
    io.err << "qgjob keygen: give NAME and at most one of --org ORG, --admin, --worker-id ID, --scheduler "
              "(see qgjob keygen --help)\n";
    return exit_code::usage;
  }
  std::vector<std::pair<std::string, std::string>> metadata;
  if (!c.org.empty()) {
    if (auto e = proto::check_org_id(c.org, "--org")) {
      io.err << "qgjob keygen: --org: " << printable(e->message) << "\n";
      return exit_code::usage;
    }
    metadata = {{"role", "org"}, {"org", c.org}};
  } else if (!c.worker_id.empty()) {
    if (auto e = proto::check_id(c.worker_id, "--worker-id")) {
      io.err << "qgjob keygen: --worker-id: " << printable(e->message) << "\n";
      return exit_code::usage;
    }
    metadata = {{"role", "worker"}, {"worker-id", c.worker_id}};
  } else if (c.admin || c.scheduler) {
    metadata = {{"role", c.admin ? "admin" : "scheduler"}};
  }
  try {
    const auto cert = new_curve_cert(std::move(metadata));
    const auto files = write_curve_cert(c.name, cert, c.force);
    if (g.json) {
      Json doc;
      doc["public_file"] = files.public_file.string();
      doc["secret_file"] = files.secret_file.string();
      doc["public_key"] = cert.public_key;
      io.out << dump_json(doc) << "\n";
    } else {
      const bool client = !c.org.empty() || c.admin;
      const char* where = roles == 0 ? "the broker's key: give it to clients and workers as --broker-key"
                          : client   ? "copy into the broker's --clients-dir"
                                     : "copy into the broker's --workers-dir";
      io.out << "public key " << cert.public_key << "\n"
             << "  " << printable(files.public_file.string()) << "  " << where << "\n"
             << "  " << printable(files.secret_file.string())
             << "  secret (mode 0600): stays on this host, given as --curve-cert\n";
    }
    return exit_code::ok;
  } catch (const ConfigError& e) {
    io.err << "qgjob keygen: " << printable(e.what()) << "\n";
    return exit_code::usage;
  }
}

}  // namespace qg::cli

// Loading and applying a client's CURVE keys (contract in qg/common/curve_client.hpp).
#include "qg/common/curve_client.hpp"

#include <boost/program_options.hpp>

#include "qg/common/curve_cert.hpp"
#include "qg/common/errors.hpp"

namespace qg {

CurveClientKeys load_curve_client_keys(const std::string& cert_file, const std::string& broker_key_file) {
  if (cert_file.empty() && broker_key_file.empty()) return {};
  if (cert_file.empty()) throw ConfigError("--broker-key needs --curve-cert (this program's NAME.key_secret)");
  if (broker_key_file.empty()) throw ConfigError("--curve-cert needs --broker-key (the broker's public NAME.key)");
  CurveClientKeys keys;
  try {
    const auto own = read_secret_cert(cert_file);
    keys.public_key = own.public_key;
    keys.secret_key = own.secret_key;
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("--curve-cert: ") + e.what());
  }
  try {
    keys.server_key = read_public_cert(broker_key_file).public_key;
  } catch (const ConfigError& e) {
    throw ConfigError(std::string("--broker-key: ") + e.what());
  }
  return keys;
}

void apply_curve(zmq::socket_t& socket, const CurveClientKeys& keys) {
  if (!keys.enabled()) return;
  socket.set(zmq::sockopt::curve_serverkey, keys.server_key);
  socket.set(zmq::sockopt::curve_publickey, keys.public_key);
  socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
}

void add_curve_client_options(boost::program_options::options_description& options, std::string& cert_file,
                              std::string& broker_key_file) {
  namespace po = boost::program_options;
  options.add_options()("curve-cert", po::value(&cert_file),
                        "this program's secret certificate (NAME.key_secret, from `qgjob keygen`), for a broker "
                        "with keys; needs --broker-key")("broker-key", po::value(&broker_key_file),
                                                         "the broker's public certificate (its NAME.key)");
}

}  // namespace qg

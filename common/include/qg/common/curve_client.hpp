#pragma once
// The connecting side of CURVE, for every process that talks to a broker with keys (qgjob,
// qg-worker, qg-scheduler): its own secret certificate (--curve-cert) and the broker's public
// certificate (--broker-key), set on each socket before it connects. A socket with wrong or
// missing keys never completes its handshake: nothing it sends arrives, so callers see their
// usual timeouts (docs/operations.md "Security" says what each program then reports).

#include <string>

#include <boost/program_options/options_description.hpp>
#include <zmq.hpp>

namespace qg {

struct CurveClientKeys {
  std::string public_key;  // Z85, from the secret certificate
  std::string secret_key;  // Z85; never logged
  std::string server_key;  // Z85, the broker's public key
  bool enabled() const noexcept { return !server_key.empty(); }
};

// Reads the two certificates. Both paths empty: CURVE off (empty keys). One without the
// other, or a file that is not the right kind of certificate: ConfigError naming the option.
CurveClientKeys load_curve_client_keys(const std::string& cert_file, const std::string& broker_key_file);

// Sets ZMQ_CURVE_SERVERKEY, ZMQ_CURVE_PUBLICKEY and ZMQ_CURVE_SECRETKEY on `socket` (call
// before connect); does nothing when `keys` are off.
void apply_curve(zmq::socket_t& socket, const CurveClientKeys& keys);

// Adds --curve-cert and --broker-key to a main's options, filling the two paths.
void add_curve_client_options(boost::program_options::options_description& options, std::string& cert_file,
                              std::string& broker_key_file);

}  // namespace qg

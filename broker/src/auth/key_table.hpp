#pragma once
// The keys a CURVE broker admits, read from two folders of public certificates (NAME.key):
// --clients-dir holds the keys of clients (qgjob, CI, dashboards), --workers-dir those of
// workers and schedulers. Each key carries the identity its connections get (peer_identity.hpp):
//   metadata role = "admin"                        -> admin        (clients dir only)
//   metadata role = "org", org = "<org id>"        -> org:<id>     (clients dir only)
//   metadata role = "worker", worker-id = "<id>"   -> worker:<id>  (workers dir only)
//   metadata role = "scheduler"                    -> scheduler    (workers dir only)
// A certificate without a `role` (pyzmq writes metadata into the secret file only) takes its
// identity from where it is and what it is called: NAME.key in the clients dir is org NAME,
// in the workers dir worker NAME; an admin or a scheduler key must say so in its metadata.
// Files not ending in ".key", and hidden files, are skipped. A public key may appear once
// per folder.

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>

#include <spdlog/logger.h>

#include "qg/broker/peer_identity.hpp"
#include "qg/common/curve_cert.hpp"

namespace qg::broker {

// Which folder a key is admitted from; a ZAP domain names one of them (zap_handler.hpp).
enum class KeyPlane { clients, workers };

// The metadata names a key file's identity is written under (qgjob keygen writes them).
inline constexpr std::string_view kRoleMetadata = "role";
inline constexpr std::string_view kOrgMetadata = "org";
inline constexpr std::string_view kWorkerIdMetadata = "worker-id";

// The identity `cert`, found as file `stem`.key in the folder of `plane`, admits its
// connections as. Throws ConfigError (naming `file`) when the metadata names an unknown role,
// a role that does not belong in that folder, or an id the rules refuse.
PeerIdentity identity_of_key(const CurveCert& cert, KeyPlane plane, std::string_view stem, const std::string& file);

struct KeyDirs {
  std::filesystem::path clients;
  std::filesystem::path workers;
};

class KeyTable {
 public:
  // Reads every key file of both folders. `strict` (at start): the first bad file, or a folder
  // that cannot be read, throws ConfigError. Otherwise (a reload) each bad file is logged and
  // left out (its key is not admitted), and an unreadable folder admits nothing.
  static KeyTable load(const KeyDirs& dirs, spdlog::logger& log, bool strict);

  // The identity a public key (32 bytes, as a ZAP request carries it) is admitted with on
  // `plane`; nullptr when it is not.
  const PeerIdentity* find(KeyPlane plane, std::string_view public_key) const;
  std::size_t size(KeyPlane plane) const { return (plane == KeyPlane::clients ? clients_ : workers_).size(); }

 private:
  std::unordered_map<std::string, PeerIdentity> clients_;  // 32-byte public key -> identity
  std::unordered_map<std::string, PeerIdentity> workers_;
};

}  // namespace qg::broker

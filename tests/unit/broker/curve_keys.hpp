#pragma once
// Key folders for the CURVE tests: a temporary directory holding the broker's certificate
// and a clients and a workers folder, and keys made into them as `qgjob keygen` makes them.
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "qg/common/curve_cert.hpp"
#include "qg/common/curve_client.hpp"
#include "qg/common/zmq_util.hpp"

namespace qg::broker::testing {

class KeyFolders {
 public:
  KeyFolders() {
    std::string templ = (std::filesystem::temp_directory_path() / "qg-keys-XXXXXX").string();
    root_ = ::mkdtemp(templ.data());
    std::filesystem::create_directories(clients());
    std::filesystem::create_directories(workers());
    broker_ = new_curve_cert({});
    write_curve_cert((root_ / "broker").string(), broker_, false);
  }
  ~KeyFolders() { std::filesystem::remove_all(root_); }
  KeyFolders(const KeyFolders&) = delete;
  KeyFolders& operator=(const KeyFolders&) = delete;

  std::filesystem::path clients() const { return root_ / "clients"; }
  std::filesystem::path workers() const { return root_ / "workers"; }
  std::filesystem::path broker_secret() const { return root_ / "broker.key_secret"; }
  const CurveCert& broker() const { return broker_; }
  const std::filesystem::path& root() const { return root_; }

  // A new key with `metadata`, its public file put in `folder` as NAME.key (empty folder: the
  // key is made but admitted nowhere).
  CurveCert make(const std::filesystem::path& folder, const std::string& name,
                 std::vector<std::pair<std::string, std::string>> metadata) {
    auto cert = new_curve_cert(std::move(metadata));
    const auto base = (folder.empty() ? root_ / "unadmitted" : folder) / name;
    write_curve_cert(base.string(), cert, true);
    std::filesystem::remove(base.string() + ".key_secret");  // only public keys in the folders
    return cert;
  }

  // The keys a process holding `cert` uses toward this broker.
  CurveClientKeys client_keys(const CurveCert& cert) const {
    return CurveClientKeys{cert.public_key, cert.secret_key, broker_.public_key};
  }

 private:
  std::filesystem::path root_;
  CurveCert broker_;
};

}  // namespace qg::broker::testing

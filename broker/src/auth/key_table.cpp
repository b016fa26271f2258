// Reading the folders of admitted keys (contract in key_table.hpp).
#include "key_table.hpp"

#include <zmq.h>

#include <algorithm>
#include <array>
#include <vector>

#include "qg/common/errors.hpp"

namespace qg::broker {
namespace {

std::string key_bytes(const std::string& z85) {
  std::array<std::uint8_t, 32> bytes{};
  if (zmq_z85_decode(bytes.data(), z85.c_str()) == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string_view plane_name(KeyPlane plane) { return plane == KeyPlane::clients ? "--clients-dir" : "--workers-dir"; }

std::vector<std::filesystem::path> key_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) throw ConfigError("key folder " + dir.string() + ": cannot read: " + ec.message());
  for (const auto& entry : it) {
    const auto name = entry.path().filename().string();
    if (name.empty() || name.front() == '.' || entry.path().extension() != ".key") continue;
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());  // the same order, and the same first error, every time
  return files;
}

void load_plane(const std::filesystem::path& dir, KeyPlane plane, std::unordered_map<std::string, PeerIdentity>& into,
                spdlog::logger& log, bool strict) {
  std::vector<std::filesystem::path> files;
  try {
    files = key_files(dir);
  } catch (const ConfigError& e) {
    if (strict) throw;
    log.error("{}: no key of it is admitted", e.what());
    return;
  }
  for (const auto& file : files) {
    try {
      const auto cert = read_public_cert(file);
      auto identity = identity_of_key(cert, plane, file.stem().string(), file.string());
      if (!into.emplace(key_bytes(cert.public_key), std::move(identity)).second) {
        throw ConfigError("key file " + file.string() + ": the same public key as another file in " + dir.string());
      }
    } catch (const ConfigError& e) {
      if (strict) throw;
      log.error("{}: this key is not admitted", e.what());
    }
  }
}

}  // namespace

PeerIdentity identity_of_key(const CurveCert& cert, KeyPlane plane, std::string_view stem, const std::string& file) {
  const auto fail = [&](const std::string& why) -> PeerIdentity { throw ConfigError("key file " + file + ": " + why); };
  const bool clients = plane == KeyPlane::clients;
  const std::string* role = cert.metadata_value(kRoleMetadata);
  std::optional<PeerIdentity> identity;
  if (role == nullptr) {
    // No role: named by the file, as the folder's ordinary kind of key.
    identity = PeerIdentity::make(clients ? PeerRole::org : PeerRole::worker, stem);
    if (!identity) {
      return fail(std::string("has no role metadata, and its name is not a valid ") + (clients ? "org" : "worker") +
                  " id to take as one");
    }
    return *identity;
  }
  const auto* org = cert.metadata_value(kOrgMetadata);
  const auto* worker = cert.metadata_value(kWorkerIdMetadata);
  if (*role == "admin" || *role == "org") {
    if (!clients) return fail("a client key (role " + *role + ") belongs in --clients-dir, not --workers-dir");
    if (*role == "admin") {
      identity = PeerIdentity::make(PeerRole::admin);
    } else if (org == nullptr) {
      return fail("role org without an 'org' metadata entry");
    } else {
      identity = PeerIdentity::make(PeerRole::org, *org);
      if (!identity) return fail("the org id in its metadata is not valid");
    }
  } else if (*role == "worker" || *role == "scheduler") {
    if (clients) return fail("a " + *role + " key belongs in --workers-dir, not --clients-dir");
    if (*role == "scheduler") {
      identity = PeerIdentity::make(PeerRole::scheduler);
    } else if (worker == nullptr) {
      return fail("role worker without a 'worker-id' metadata entry");
    } else {
      identity = PeerIdentity::make(PeerRole::worker, *worker);
      if (!identity) return fail("the worker id in its metadata is not valid");
    }
  } else {
    return fail("unknown role (admin, org, worker or scheduler) in " + std::string(plane_name(plane)));
  }
  return *identity;
}

KeyTable KeyTable::load(const KeyDirs& dirs, spdlog::logger& log, bool strict) {
  KeyTable table;
  load_plane(dirs.clients, KeyPlane::clients, table.clients_, log, strict);
  load_plane(dirs.workers, KeyPlane::workers, table.workers_, log, strict);
  return table;
}

const PeerIdentity* KeyTable::find(KeyPlane plane, std::string_view public_key) const {
  const auto& keys = plane == KeyPlane::clients ? clients_ : workers_;
  const auto it = keys.find(std::string(public_key));
  return it == keys.end() ? nullptr : &it->second;
}

}  // namespace qg::broker

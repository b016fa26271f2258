// The dashboard's files; the contract is in static_files.hpp.
#include "static_files.hpp"

#include <filesystem>
#include <system_error>

#include "qg/common/errors.hpp"

#ifndef QG_DASHBOARD_INSTALL_DIR
#define QG_DASHBOARD_INSTALL_DIR "/usr/share/qgjob/dashboard"
#endif

namespace qg::gateway {

namespace {

namespace fs = std::filesystem;

bool has_index(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "index.html", ec);
}

}  // namespace

std::string find_static_dir(const std::string& configured) {
  if (!configured.empty()) return configured;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path beside = exe.parent_path().parent_path() / "share" / "qgjob" / "dashboard";
    if (has_index(beside)) return beside.string();
  }
  if (has_index(QG_DASHBOARD_INSTALL_DIR)) return QG_DASHBOARD_INSTALL_DIR;
  return "";
}

void serve_static_files(httplib::Server& server, const std::string& dir, spdlog::logger& logger) {
  if (dir.empty()) {
    logger.warn(
        "no dashboard files found (beside the binary in ../share/qgjob/dashboard, or in {}): / serves "
        "nothing; give --static-dir",
        QG_DASHBOARD_INSTALL_DIR);
    return;
  }
  if (!server.set_mount_point("/", dir)) throw ConfigError("--static-dir " + dir + " is not a folder");
  server.set_file_extension_and_mimetype_mapping("js", "text/javascript");
  server.set_file_extension_and_mimetype_mapping("css", "text/css");
  server.set_file_extension_and_mimetype_mapping("svg", "image/svg+xml");
  server.set_file_request_handler([](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
                   "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-cache");
  });
  logger.info("dashboard files from {}", dir);
}

}  // namespace qg::gateway

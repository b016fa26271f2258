#pragma once
// The dashboard's files (gateway/static) served at /. Where they are: --static-dir when given;
// else <folder of the running binary>/../share/qgjob/dashboard, which is both the build tree's
// copy (build/bin -> build/share) and an install's (prefix/bin -> prefix/share); else the
// install folder compiled in. Files are served as they are, with a Content-Security-Policy that
// lets the page load only its own scripts and styles and talk only to this gateway.

#include <optional>
#include <string>

#include <httplib.h>
#include <spdlog/logger.h>

namespace qg::gateway {

// The folder to serve: `configured` when not empty, else the first default above holding an
// index.html; empty when there is none.
std::string find_static_dir(const std::string& configured);

// Mounts `dir` at / (requests under /api/ never reach it). Throws ConfigError when `dir` is not
// a folder; an empty `dir` mounts nothing and logs where the files were looked for.
void serve_static_files(httplib::Server& server, const std::string& dir, spdlog::logger& logger);

}  // namespace qg::gateway

// Puts the store's scripts together as one Redis function library.

#include "redis_library.hpp"

#include <cstdint>
#include <cstdio>
#include <string_view>
#include <utility>

// Generated at build time from scheduler/lua/*.lua (cmake/lua_embed.cmake): each file less its
// header comment, as scripts::k<Name>.
#include "redis_scripts.hpp"

namespace qg::sched {
namespace {

// The prelude, each script's body as a local function body_<name> (the hand-off's last, as
// it calls the submit's and the claim's), then one registered function per script that
// begins the call and runs its body. The prelude runs once, when the library loads.
FunctionLibrary build() {
  // In ScriptId order.
  static constexpr std::array<std::pair<std::string_view, std::string_view>, kScriptCount> scripts = {{
      {"submit", scripts::kSubmit},
      {"claim", scripts::kClaim},
      {"report", scripts::kReport},
      {"progress", scripts::kProgress},
      {"renew", scripts::kRenew},
      {"release", scripts::kRelease},
      {"expire", scripts::kExpire},
      {"cancel", scripts::kCancel},
      {"retry_dead", scripts::kRetryDead},
      {"promote", scripts::kPromote},
      {"queue", scripts::kQueue},
      {"submit_sent", scripts::kSubmitSent},
      {"hand_off", scripts::kHandOff},
      {"sweep", scripts::kSweep},
  }};
  std::string code(scripts::kPrelude);
  for (const auto& [name, body] : scripts) {
    code += "local function body_" + std::string(name) + "()\n" + std::string(body) + "end\n";
  }
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a over the code
  for (unsigned char c : code) hash = (hash ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  FunctionLibrary lib;
  lib.name = "qg_" + std::string(hex, 12);
  // At maxmemory (noeviction) Redis refuses a function without the allow-oom flag: only
  // the scripts that admit new jobs go without it, so a full store refuses new work
  // (STORE_FULL) while the work it acknowledged still runs, reports are stored, and retention
  // frees memory.
  auto admits_new_jobs = [](std::size_t id) { return id == kSubmit || id == kSubmitSent || id == kHandOff; };
  for (std::size_t i = 0; i < kScriptCount; ++i) {
    lib.functions[i] = lib.name + "_" + std::string(scripts[i].first);
    code += "redis.register_function{\n  function_name = '" + lib.functions[i] +
            "',\n  callback = function(_, args) begin(args) return body_" + std::string(scripts[i].first) +
            "() end,\n" + (admits_new_jobs(i) ? "" : "  flags = {'allow-oom'},\n") + "}\n";
  }
  lib.code = "#!lua name=" + lib.name + "\n" + code;
  return lib;
}

}  // namespace

const FunctionLibrary& function_library() {
  static const FunctionLibrary library = build();
  return library;
}

}  // namespace qg::sched

#pragma once
// The Redis JobStore's Lua function library: every store script (scheduler/lua/*.lua,
// embedded at build time) put together with its prelude as one library for FUNCTION LOAD.
// Pure text; no I/O.

#include <array>
#include <cstddef>
#include <string>

namespace qg::sched {

// The store's scripts, one Redis function each. The order is the library's function order.
enum ScriptId : std::size_t {
  kSubmit,
  kClaim,
  kReport,
  kProgress,
  kRenew,
  kRelease,
  kExpire,
  kCancel,
  kRetryDead,
  kPromote,
  kQueue,
  kSubmitSent,
  kHandOff,
  kSweep,
  kScriptCount
};

struct FunctionLibrary {
  std::string name;                                 // qg_<first 12 hex digits of a hash of the code>
  std::string code;                                 // the whole FUNCTION LOAD argument, "#!lua name=…" first
  std::array<std::string, kScriptCount> functions;  // each script's function name, by ScriptId
};

// The library, built on first use and then shared (thread-safe; never changes). Its name
// is a hash of its text, so stores of different versions on one Redis each call their own.
const FunctionLibrary& function_library();

}  // namespace qg::sched

-- luacheck's settings for the Redis store's Lua (scheduler/lua, see its README.md). Run from
-- the repository root: `luacheck scheduler/lua`, as scripts/lint and the lua_luacheck_files
-- test do. Every file must be clean: no warning is left standing.

std = "lua51"  -- Redis runs Lua 5.1
-- What Redis gives a function library besides Lua's own.
read_globals = {"redis", "cmsgpack"}
-- A few lines of the scripts run to 128 characters; they are kept as written (a rewrap would
-- change the library's text, and so its name, for nothing).
max_line_length = 130

-- The bodies are not run alone: the library is the prelude followed by each body inside a
-- function (scheduler/src/redis_library.cpp), so a body sees the prelude's top-level locals.
-- Checked one file at a time, a body sees them as globals: they are declared here, read-only
-- but for the per-call state that bodies change (prelude_state). Between them the two lists
-- hold every top-level local of prelude.lua, each once: the lua_luacheck_prelude_names
-- test fails when they differ, and lua_luacheck_library checks the library as Redis loads it,
-- where these names are locals again.
local prelude_state = {"ARGV", "CNT", "QP", "ORGQ", "FIN", "DROPS", "FETCHED", "DONE", "SX", "SXL"}
local prelude = {
  "globals", "cmsgpack", "string", "table", "math", "tonumber", "unpack", "ipairs", "pairs",
  "setmetatable", "rawget", "rawset", "type", "select", "next", "P", "NOW", "GMAX", "WINDOW",
  "WAKE", "PENDING_ANY", "FINAL", "PRIO", "BANDS", "jkey", "qkey", "target_of", "ready_key",
  "STATUS", "ATTEMPT", "UPDATED", "WORKER", "LEASE", "EXIT", "DURATION", "ERR", "TAIL", "FLAKY",
  "RETRIES_USED", "FAILURES", "CANCEL", "MAXA", "NSTATE", "ORG", "APP", "TARGET", "PRIO_F",
  "PATH", "SUB", "CREATED", "RANK", "RETRIES", "MA0", "BUDGET", "NSPEC", "spec_rank", "skey",
  "SPEC_MT", "STATE_HDR", "PASSED_HDR", "EMPTY_P", "FRESH_REST", "ZEROS", "DIGIT", "FIXINT",
  "FIXINT_MT", "parse", "fresh", "spec_of", "max_attempts", "n2s", "NUM", "STR", "NUM_MT",
  "STR_MT", "grp", "DIRTY", "PACKED", "DIRTY_ORDER", "load", "write", "row", "count",
  "move", "variadic", "stat", "stat_run", "clear_call_state", "lease_ended", "commit", "begin", "pending_any", "gxkey",
  "queued_in", "full", "org_of", "org_ready", "drop_group", "make_ready", "refresh_group", "entered_empty_band",
  "claim_gate", "probe_claimed", "open_lease", "lease_drop", "finish", "make_dead", "requeue_now", "retry_due",
  "requeue_later",
}

local function body(extra)
  local options = {globals = prelude_state, read_globals = prelude}
  for k, v in pairs(extra or {}) do options[k] = v end
  return options
end
for _, name in ipairs({"cancel", "expire", "progress", "promote", "queue", "release", "renew",
                       "report", "retry_dead", "submit", "submit_sent", "sweep"}) do
  files["scheduler/lua/" .. name .. ".lua"] = body()
end
-- take()'s accept() copies the claim's running totals into locals of the same names on
-- purpose: the loop over a group's jobs then works on registers, not upvalues.
files["scheduler/lua/claim.lua"] = body({ignore = {"431"}})
-- The hand-off calls the submit's and the claim's bodies, which the library defines as
-- body_submit and body_claim before it.
local hand_off = body()
hand_off.read_globals = {"body_submit", "body_claim"}
for _, name in ipairs(prelude) do hand_off.read_globals[#hand_off.read_globals + 1] = name end
files["scheduler/lua/hand_off.lua"] = hand_off
-- Alone, the prelude's locals look unused (the bodies use them) or set and never read (begin()
-- sets the call's arguments for the bodies): the library check sees them in use.
files["scheduler/lua/prelude.lua"] = {ignore = {"211", "231"}}

-- The whole library as Redis loads it (`qg-scheduler --print-lua-library`), checked by the
-- lua_luacheck_library test under this name. A body may name a local like a prelude helper
-- it does not use (claim's `fresh`, report's `row`), and claim's accept() shadows on purpose
-- (above). PATH, SUB and RANK are never read: with the other field numbers they spell out the
-- spec's layout, ORG .. BUDGET, that SPEC_MT unpacks.
files["lua-library.lua"] = {ignore = {"431", "211/PATH", "211/SUB", "211/RANK"}}

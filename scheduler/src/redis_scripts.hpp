#pragma once
// The Lua scripts of the Redis JobStore. Each multi-key transition is one script: Redis runs
// it atomically, and every script checks all its preconditions before its first write (a
// script that fails half-way keeps the writes it made). docs/architecture.md lists the keys.
//
// Common ARGV: [1] key prefix, [2] now (unix ms), [3] group_max, [4] group_window ms;
// script-specific arguments start at ARGV[5].

#include <string_view>

namespace qg::sched::scripts {

inline constexpr std::string_view kPrelude = R"lua(
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local NOW_S = ARGV[2]  -- store times as given: a Lua number may be written in exponent form
local GMAX = tonumber(ARGV[3])
local WINDOW = tonumber(ARGV[4])
local WAKE = false
local FINAL = {passed=true, failed=true, timed_out=true, error=true, cancelled=true, dead=true}
local PRIO = {low=0, medium=1, high=2}
local function jkey(id) return P .. 'job:' .. id end
local function gkey(g) return P .. 'grp:' .. g end
local function target_of(g) return string.match(g, '([^/]+)$') end
local function ready_key(g) return P .. 'ready:' .. target_of(g) end
local function job_score(prio, created) return (2 - PRIO[prio]) * 1e13 + created end
local function load(id)
  local flat = redis.call('HGETALL', jkey(id))
  if #flat == 0 then return nil end
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
local function set_status(id, old, new, prio)
  redis.call('HSET', jkey(id), 'status', new, 'updated_at_ms', NOW_S)
  redis.call('HINCRBY', P .. 'counts', old, -1)
  redis.call('HINCRBY', P .. 'counts', new, 1)
  if old == 'queued' then redis.call('HINCRBY', P .. 'qprio', prio, -1) end
  if new == 'queued' then redis.call('HINCRBY', P .. 'qprio', prio, 1) end
end
local function group_rank(g)
  local head = redis.call('ZRANGE', gkey(g), 0, 0)
  return tonumber(redis.call('HGET', jkey(head[1]), 'rank_base'))
end
-- Puts a group where it belongs after jobs entered or left it: nowhere when empty, in
-- pending while its batching window is open, else in its target's ready set at its rank.
-- requeue: the jobs that entered had waited already (retries, promotions): no window.
local function refresh_group(g, requeue)
  local n = redis.call('ZCARD', gkey(g))
  local rk = ready_key(g)
  if n == 0 then
    redis.call('ZREM', rk, g)
    redis.call('ZREM', P .. 'pending', g)
    return
  end
  if redis.call('ZSCORE', P .. 'pending', g) then
    if requeue or n >= GMAX then
      redis.call('ZREM', P .. 'pending', g)
      redis.call('ZADD', rk, group_rank(g), g)
      WAKE = true
    end
    return
  end
  if requeue or WINDOW == 0 or n >= GMAX or redis.call('ZSCORE', rk, g) then
    redis.call('ZADD', rk, group_rank(g), g)
    WAKE = true
  else
    redis.call('ZADD', P .. 'pending', NOW + WINDOW, g)
  end
end
local function lease_drop(id, lease_id)
  redis.call('HSET', jkey(id), 'lease_id', '')
  if not lease_id or lease_id == '' then return end
  local lk = P .. 'lease:' .. lease_id
  if redis.call('HDEL', lk, 'j:' .. id) == 1 and redis.call('HLEN', lk) <= 2 then
    redis.call('DEL', lk)
    redis.call('ZREM', P .. 'leases', lease_id)
  end
end
local function finish(id, j, status)
  set_status(id, j.status, status, j.priority)
  lease_drop(id, j.lease_id)
  redis.call('SREM', P .. 'build:' .. j.org_id .. '/' .. j.app_version_id, id)
  local fk = P .. 'fin:' .. string.format('%d', math.floor(NOW / 1000))
  redis.call('INCR', fk)
  redis.call('EXPIRE', fk, 120)
end
local function make_dead(id, j)
  finish(id, j, 'dead')
  redis.call('ZADD', P .. 'dead', NOW, id)
end
local function requeue_now(id, j)
  set_status(id, j.status, 'queued', j.priority)
  lease_drop(id, j.lease_id)
  redis.call('ZADD', gkey(j.group), job_score(j.priority, tonumber(j.created_at_ms)), id)
  refresh_group(j.group, true)
end
local function requeue_later(id, j, due)
  set_status(id, j.status, 'queued', j.priority)
  lease_drop(id, j.lease_id)
  redis.call('ZADD', P .. 'delayed', due, id)
end
local function wake()
  if WAKE then redis.call('PUBLISH', P .. 'wakeup', '1') end
end
)lua";

// ARGV[5] org, [6] app, [7] target, [8] priority, [9] submission id, [10] idempotency key,
// [11] retries, [12] max attempts, [13] rank base, [14] n, [15] index member prefix,
// then n pairs (job id, test path) from [16].
// Returns {0, submission_id} or {1, first_submission_id, {job ids}} for a known key.
inline constexpr std::string_view kSubmit = R"lua(
local org, app, target, prio = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local sub, idem = ARGV[9], ARGV[10]
local n = tonumber(ARGV[14])
local ik = P .. 'idem:' .. org .. ':' .. idem
if idem ~= '' then
  local prev = redis.call('GET', ik)
  if prev then return {1, prev, redis.call('LRANGE', P .. 'sub:' .. prev, 0, -1)} end
end
for i = 0, n - 1 do
  if redis.call('EXISTS', jkey(ARGV[16 + 2 * i])) == 1 then
    return redis.error_reply('ERR job id already exists: ' .. ARGV[16 + 2 * i])
  end
end
local g = org .. '/' .. app .. '/' .. target
local build = org .. '/' .. app
local score = job_score(prio, NOW)
local mp = ARGV[15]
local zargs, iargs, ids = {}, {}, {}
local function flush()
  if #ids == 0 then return end
  redis.call('ZADD', gkey(g), unpack(zargs))
  redis.call('ZADD', P .. 'idx:all', unpack(iargs))
  redis.call('ZADD', P .. 'idx:org:' .. org, unpack(iargs))
  redis.call('ZADD', P .. 'idx:org:' .. org .. ':app:' .. app, unpack(iargs))
  redis.call('SADD', P .. 'build:' .. build, unpack(ids))
  redis.call('RPUSH', P .. 'sub:' .. sub, unpack(ids))
  zargs, iargs, ids = {}, {}, {}
end
for i = 0, n - 1 do
  local id, path = ARGV[16 + 2 * i], ARGV[17 + 2 * i]
  redis.call('HSET', jkey(id), 'id', id, 'org_id', org, 'app_version_id', app, 'test_path', path,
    'priority', prio, 'target', target, 'status', 'queued', 'attempt', 0, 'max_attempts', ARGV[12],
    'retries', ARGV[11], 'created_at_ms', ARGV[2], 'updated_at_ms', ARGV[2], 'submission_id', sub,
    'worker_id', '', 'lease_id', '', 'exit_code', 0, 'duration_ms', 0, 'last_error', '', 'log_tail', '',
    'flaky', 0, 'rank_base', ARGV[13], 'retries_used', 0, 'test_failures', 0, 'cancel_requested', 0,
    'budget', ARGV[12], 'group', g)
  zargs[#zargs + 1] = score
  zargs[#zargs + 1] = id
  iargs[#iargs + 1] = 0
  iargs[#iargs + 1] = mp .. id
  ids[#ids + 1] = id
  if #ids >= 500 then flush() end
end
flush()
redis.call('HINCRBY', P .. 'counts', 'queued', n)
redis.call('HINCRBY', P .. 'qprio', prio, n)
redis.call('HINCRBY', P .. 'orgcounts', org, n)
if idem ~= '' then redis.call('SET', ik, sub) end
refresh_group(g, false)
wake()
return {0, sub}
)lua";

// ARGV[5] lease id, [6] worker, [7] lease ms, [8] affinity slack ms, [9] candidates per target,
// [10] number of targets, targets, then number of installed builds, builds.
// Returns false (nil) or {group_key, {job hash}...}.
inline constexpr std::string_view kClaim = R"lua(
local lease_id, worker = ARGV[5], ARGV[6]
local per = tonumber(ARGV[9])
local nt = tonumber(ARGV[10])
local cands, seen = {}, {}
for i = 1, nt do
  local t = ARGV[10 + i]
  if not seen[t] then
    seen[t] = true
    local r = redis.call('ZRANGE', P .. 'ready:' .. t, 0, per - 1, 'WITHSCORES')
    for k = 1, #r, 2 do cands[#cands + 1] = {tonumber(r[k + 1]), r[k]} end
  end
end
if #cands == 0 then return false end
table.sort(cands, function(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  return a[2] < b[2]
end)
local ni = tonumber(ARGV[11 + nt])
local inst = {}
for i = 1, ni do inst[ARGV[11 + nt + i]] = true end
local chosen = cands[1][2]
local limit = cands[1][1] + tonumber(ARGV[8])
for _, c in ipairs(cands) do
  if c[1] > limit then break end
  if inst[string.match(c[2], '^(.*)/[^/]+$')] then
    chosen = c[2]
    break
  end
end
local popped = redis.call('ZPOPMIN', gkey(chosen), GMAX)
if #popped == 0 then
  refresh_group(chosen, false)
  return false
end
local lk = P .. 'lease:' .. lease_id
redis.call('HSET', lk, 'worker', worker, 'group', chosen)
local out = {chosen}
for k = 1, #popped, 2 do
  local id = popped[k]
  local jk = jkey(id)
  redis.call('HINCRBY', jk, 'attempt', 1)
  redis.call('HSET', jk, 'worker_id', worker, 'lease_id', lease_id)
  set_status(id, 'queued', 'assigned', redis.call('HGET', jk, 'priority'))
  redis.call('HSET', lk, 'j:' .. id, 1)
  out[#out + 1] = redis.call('HGETALL', jk)
end
redis.call('ZADD', P .. 'leases', NOW + tonumber(ARGV[7]), lease_id)
refresh_group(chosen, false)
return out
)lua";

// ARGV[5] job id, [6] lease id, [7] attempt, [8] status, [9] exit code, [10] duration ms,
// [11] log tail, [12] error text, [13..] back-off delays for attempts 1..n.
// Returns {0, reason} or {1, '', requeued, {job hash}}.
inline constexpr std::string_view kReport = R"lua(
local id = ARGV[5]
local j = load(id)
if not j then return {0, 'not_found'} end
if FINAL[j.status] then return {0, 'already_final'} end
if tonumber(j.attempt) ~= tonumber(ARGV[7]) then return {0, 'stale_attempt'} end
if j.lease_id == '' or j.lease_id ~= ARGV[6] then return {0, 'lost_lease'} end
local st = ARGV[8]
if not FINAL[st] or st == 'dead' then return {0, 'invalid_status'} end
local jk = jkey(id)
redis.call('HSET', jk, 'exit_code', ARGV[9], 'duration_ms', ARGV[10], 'log_tail', ARGV[11])
local requeued = 0
local attempt = tonumber(j.attempt)
local cancel = j.cancel_requested == '1'
local err = ARGV[12]
if st == 'passed' then
  local flaky = 0
  if tonumber(j.test_failures) > 0 then flaky = 1 end
  redis.call('HSET', jk, 'flaky', flaky, 'last_error', '')
  finish(id, j, 'passed')
elseif st == 'failed' or st == 'timed_out' then
  if err == '' then
    if st == 'timed_out' then err = 'timed out' else err = 'exit code ' .. ARGV[9] end
  end
  redis.call('HSET', jk, 'last_error', err)
  redis.call('HINCRBY', jk, 'test_failures', 1)
  if cancel then
    finish(id, j, 'cancelled')
  elseif tonumber(j.retries_used) < tonumber(j.retries) then
    redis.call('HINCRBY', jk, 'retries_used', 1)
    requeue_now(id, j)
    requeued = 1
  else
    finish(id, j, st)
  end
elseif st == 'error' then
  if err == '' then err = 'infrastructure error' end
  redis.call('HSET', jk, 'last_error', err)
  if cancel then
    finish(id, j, 'cancelled')
  elseif attempt < tonumber(j.max_attempts) then
    local slot = math.min(math.max(attempt, 1), #ARGV - 12)
    requeue_later(id, j, NOW + tonumber(ARGV[12 + slot]))
    requeued = 1
  else
    make_dead(id, j)
  end
else
  finish(id, j, 'cancelled')
end
wake()
return {1, '', requeued, redis.call('HGETALL', jk)}
)lua";

// ARGV[5] job id, [6] lease id, [7] attempt, [8] status (installing|running). Returns 1 or 0.
inline constexpr std::string_view kProgress = R"lua(
local j = load(ARGV[5])
if not j or FINAL[j.status] or tonumber(j.attempt) ~= tonumber(ARGV[7]) then return 0 end
if j.lease_id == '' or j.lease_id ~= ARGV[6] then return 0 end
if ARGV[8] ~= 'installing' and ARGV[8] ~= 'running' then return 0 end
set_status(ARGV[5], j.status, ARGV[8], j.priority)
return 1
)lua";

// ARGV[5] worker, [6] lease id, [7] lease ms. Returns 1 or 0.
inline constexpr std::string_view kRenew = R"lua(
if redis.call('HGET', P .. 'lease:' .. ARGV[6], 'worker') ~= ARGV[5] then return 0 end
redis.call('ZADD', P .. 'leases', 'XX', NOW + tonumber(ARGV[7]), ARGV[6])
return 1
)lua";

// ARGV[5] worker, [6] lease id, [7..] job ids. Returns how many were released.
inline constexpr std::string_view kRelease = R"lua(
local lid = ARGV[6]
if redis.call('HGET', P .. 'lease:' .. lid, 'worker') ~= ARGV[5] then return 0 end
local released = 0
for i = 7, #ARGV do
  local j = load(ARGV[i])
  if j and j.lease_id == lid and (j.status == 'assigned' or j.status == 'installing') then
    requeue_now(ARGV[i], j)
    released = released + 1
  end
end
wake()
return released
)lua";

// ARGV[5] lease id, [6..] back-off delays. Re-checks the expiry, so of several schedulers
// racing on one lease exactly one applies it. Returns false (nil) or {worker, {job hash}...}.
inline constexpr std::string_view kExpire = R"lua(
local lid = ARGV[5]
local sc = redis.call('ZSCORE', P .. 'leases', lid)
if not sc or tonumber(sc) > NOW then return false end
local lk = P .. 'lease:' .. lid
local out = {redis.call('HGET', lk, 'worker') or ''}
local fields = redis.call('HKEYS', lk)
for _, f in ipairs(fields) do
  if string.sub(f, 1, 2) == 'j:' then
    local id = string.sub(f, 3)
    local j = load(id)
    if j and j.lease_id == lid and not FINAL[j.status] then
      redis.call('HSET', jkey(id), 'last_error', 'lease expired')
      local attempt = tonumber(j.attempt)
      if j.cancel_requested == '1' then
        finish(id, j, 'cancelled')
      elseif attempt >= tonumber(j.max_attempts) then
        make_dead(id, j)
      else
        local slot = math.min(math.max(attempt, 1), #ARGV - 5)
        requeue_later(id, j, NOW + tonumber(ARGV[5 + slot]))
      end
      out[#out + 1] = redis.call('HGETALL', jkey(id))
    end
  end
end
redis.call('DEL', lk)
redis.call('ZREM', P .. 'leases', lid)
return out
)lua";

// ARGV[5] 'job' or 'build', [6] job id or "<org>/<app>". Returns {id, outcome, status}...
inline constexpr std::string_view kCancel = R"lua(
local function cancel(id)
  local j = load(id)
  if not j then return {id, 'not_found', 'cancelled'} end
  if FINAL[j.status] then return {id, 'already_final', j.status} end
  if j.status == 'queued' then
    if redis.call('ZREM', gkey(j.group), id) == 1 then refresh_group(j.group, false) end
    redis.call('ZREM', P .. 'delayed', id)
    finish(id, j, 'cancelled')
    return {id, 'cancelled', 'cancelled'}
  end
  redis.call('HSET', jkey(id), 'cancel_requested', 1, 'updated_at_ms', NOW_S)
  return {id, 'cancel_requested', j.status}
end
local out = {}
if ARGV[5] == 'job' then
  out[1] = cancel(ARGV[6])
else
  local ids = redis.call('SMEMBERS', P .. 'build:' .. ARGV[6])
  for _, id in ipairs(ids) do out[#out + 1] = cancel(id) end
end
return out
)lua";

// ARGV[5] job id. Returns nil (no such job), the unchanged status, or 'queued'.
inline constexpr std::string_view kRetryDead = R"lua(
local id = ARGV[5]
local j = load(id)
if not j then return false end
if j.status ~= 'dead' then return j.status end
redis.call('ZREM', P .. 'dead', id)
redis.call('HSET', jkey(id), 'max_attempts', tonumber(j.attempt) + tonumber(j.budget))
set_status(id, 'dead', 'queued', j.priority)
redis.call('SADD', P .. 'build:' .. j.org_id .. '/' .. j.app_version_id, id)
redis.call('ZADD', gkey(j.group), job_score(j.priority, tonumber(j.created_at_ms)), id)
refresh_group(j.group, true)
wake()
return 'queued'
)lua";

// ARGV[5] max. Returns how many groups and jobs were moved.
inline constexpr std::string_view kPromote = R"lua(
local max = tonumber(ARGV[5])
local moved = 0
local due = redis.call('ZRANGEBYSCORE', P .. 'pending', '-inf', NOW, 'LIMIT', 0, max)
for _, g in ipairs(due) do
  redis.call('ZREM', P .. 'pending', g)
  refresh_group(g, true)
  moved = moved + 1
end
if moved < max then
  local ids = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', NOW, 'LIMIT', 0, max - moved)
  for _, id in ipairs(ids) do
    redis.call('ZREM', P .. 'delayed', id)
    local j = load(id)
    if j and j.status == 'queued' then
      redis.call('ZADD', gkey(j.group), job_score(j.priority, tonumber(j.created_at_ms)), id)
      refresh_group(j.group, true)
    end
    moved = moved + 1
  end
end
wake()
return moved
)lua";

// ARGV[5] phase (0..2 ready per target, 3 pending), [6] offset, [7] limit, [8..10] target names.
// Returns {next_phase, next_offset, {key, claimable, depth, head_score, oldest_created}...};
// next_phase -1 when there is no further page.
inline constexpr std::string_view kQueue = R"lua(
local phase, offset, limit = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local groups = {}
local next_phase, next_offset = -1, 0
while phase < 4 do
  local key
  if phase < 3 then key = P .. 'ready:' .. ARGV[8 + phase] else key = P .. 'pending' end
  local want = limit - #groups
  local keys = redis.call('ZRANGE', key, offset, offset + want - 1)
  for _, g in ipairs(keys) do
    local gk = gkey(g)
    local head = redis.call('ZRANGE', gk, 0, 0, 'WITHSCORES')
    local oldest = NOW
    for band = 0, 2 do
      local r = redis.call('ZRANGEBYSCORE', gk, band * 1e13, '(' .. string.format('%d', (band + 1) * 1e13),
                           'WITHSCORES', 'LIMIT', 0, 1)
      if #r > 0 then oldest = math.min(oldest, tonumber(r[2]) - band * 1e13) end
    end
    local hs = 0
    if #head > 0 then hs = tonumber(head[2]) end
    local claimable = 0
    if phase < 3 then claimable = 1 end
    groups[#groups + 1] = {g, claimable, redis.call('ZCARD', gk), hs, oldest}
  end
  if #groups >= limit then
    next_phase, next_offset = phase, offset + #keys
    break
  end
  phase = phase + 1
  offset = 0
end
return {next_phase, next_offset, groups}
)lua";

}  // namespace qg::sched::scripts

#pragma once
// The Lua scripts of the Redis JobStore. Each multi-key transition is one script: Redis runs
// it atomically, and every script checks all its preconditions before its first write (a
// script that fails half-way keeps the writes it made). Scripts that take several items
// (submit, report) check each item's preconditions before that item's first write and answer
// per item, so one bad item changes nothing and does not hold back the others.
// docs/architecture.md lists the keys.
//
// Cost rules (docs/benchmarks.md): a job hash holds only the fields that differ from their
// defaults (DEFAULTS below; `id` and `group` are derived), each job is written with at most
// one HSET per script call, and the per-status counters, the finished-per-second counter and
// the wakeup PUBLISH are applied once per call by commit().
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
-- Fields a job hash leaves out while they hold their default.
local DEFAULTS = {worker_id='', lease_id='', exit_code='0', duration_ms='0', last_error='', log_tail='',
  flaky='0', retries_used='0', test_failures='0', cancel_requested='0'}
-- The job as returned to the store (job_from_row in redis_store.cpp): id, then these.
local FIELDS = {'org_id', 'app_version_id', 'test_path', 'priority', 'target', 'status', 'attempt',
  'max_attempts', 'retries', 'created_at_ms', 'updated_at_ms', 'submission_id', 'worker_id', 'lease_id',
  'exit_code', 'duration_ms', 'last_error', 'log_tail', 'flaky'}
local CNT, QP, FIN = {}, {}, 0
local DROPS, SREMS = {}, {}  -- lease id -> {'j:<id>'...}; build key -> {job id...}: applied by commit()
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
  for k, v in pairs(DEFAULTS) do
    if t[k] == nil then t[k] = v end
  end
  t.id = id
  t.group = t.org_id .. '/' .. t.app_version_id .. '/' .. t.target
  if t.budget == nil then t.budget = t.max_attempts end
  if t.updated_at_ms == nil then t.updated_at_ms = t.created_at_ms end
  t.__d, t.__n = {}, {}
  return t
end
local function row(j)
  local out = {j.id}
  for _, f in ipairs(FIELDS) do
    local v = j[f]
    if type(v) == 'number' then v = string.format('%d', v) end
    out[#out + 1] = v
  end
  return out
end
-- Field changes are collected on the loaded job and written by one HSET.
local function set(j, k, v)
  if not j.__d[k] then
    j.__d[k] = true
    j.__n[#j.__n + 1] = k
  end
  j[k] = v
end
local function write(j)
  if #j.__n == 0 then return end
  local args = {}
  for _, k in ipairs(j.__n) do
    args[#args + 1] = k
    args[#args + 1] = j[k]
  end
  redis.call('HSET', jkey(j.id), unpack(args))
  j.__d, j.__n = {}, {}
end
local function count(status, prio, d)
  CNT[status] = (CNT[status] or 0) + d
  if status == 'queued' then QP[prio] = (QP[prio] or 0) + d end
end
local function move(j, new)
  count(j.status, j.priority, -1)
  count(new, j.priority, 1)
  set(j, 'status', new)
  set(j, 'updated_at_ms', NOW_S)
end
-- Calls cmd key with the elements of list, at most 1000 at a time.
local function variadic(cmd, key, list)
  local i = 1
  while i <= #list do
    local k = math.min(#list, i + 999)
    redis.call(cmd, key, unpack(list, i, k))
    i = k + 1
  end
end
local function push(map, key, v)
  local l = map[key]
  if not l then
    l = {}
    map[key] = l
  end
  l[#l + 1] = v
end
-- Lease and build-set removals, counters, the finished-per-second counter and the wakeup,
-- once per call.
local function commit()
  for lid, fields in pairs(DROPS) do
    local lk = P .. 'lease:' .. lid
    local removed = 0
    local i = 1
    while i <= #fields do
      local k = math.min(#fields, i + 999)
      removed = removed + redis.call('HDEL', lk, unpack(fields, i, k))
      i = k + 1
    end
    if removed > 0 and redis.call('HLEN', lk) <= 2 then
      redis.call('DEL', lk)
      redis.call('ZREM', P .. 'leases', lid)
    end
  end
  for b, ids in pairs(SREMS) do variadic('SREM', b, ids) end
  for s, d in pairs(CNT) do
    if d ~= 0 then redis.call('HINCRBY', P .. 'counts', s, d) end
  end
  for p, d in pairs(QP) do
    if d ~= 0 then redis.call('HINCRBY', P .. 'qprio', p, d) end
  end
  if FIN > 0 then
    local fk = P .. 'fin:' .. string.format('%d', math.floor(NOW / 1000))
    redis.call('INCRBY', fk, FIN)
    redis.call('EXPIRE', fk, 120)
  end
  if WAKE then redis.call('PUBLISH', P .. 'wakeup', '1') end
  CNT, QP, FIN, WAKE, DROPS, SREMS = {}, {}, 0, false, {}, {}
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
-- The job leaves its lease; the lease hash loses its field at commit() and goes when empty.
local function lease_drop(j)
  local lid = j.lease_id
  if lid == '' then return end
  set(j, 'lease_id', '')
  push(DROPS, lid, 'j:' .. j.id)
end
-- The transitions below write the job (with any fields the caller set first).
local function finish(j, status)
  move(j, status)
  lease_drop(j)
  write(j)
  push(SREMS, P .. 'build:' .. j.org_id .. '/' .. j.app_version_id, j.id)
  FIN = FIN + 1
end
local function make_dead(j)
  finish(j, 'dead')
  redis.call('ZADD', P .. 'dead', NOW, j.id)
end
local function requeue_now(j)
  move(j, 'queued')
  lease_drop(j)
  write(j)
  redis.call('ZADD', gkey(j.group), job_score(j.priority, tonumber(j.created_at_ms)), j.id)
  refresh_group(j.group, true)
end
local function requeue_later(j, due)
  move(j, 'queued')
  lease_drop(j)
  write(j)
  redis.call('ZADD', P .. 'delayed', due, j.id)
end
)lua";

// ARGV[5] index member prefix (creation time), [6] number of submissions, then per submission
// from offset a: [a] org, [a+1] app, [a+2] target, [a+3] priority, [a+4] submission id,
// [a+5] idempotency key, [a+6] retries, [a+7] max attempts, [a+8] rank base, [a+9] n,
// then n pairs (job id, test path).
// Returns one entry per submission: {0, submission_id}, {1, first_submission_id, {job ids}}
// for a known idempotency key (nothing written), or {2, error} (nothing written).
// Job hashes, the submission list and the idempotency key are written per submission; the
// group queues, list indexes, build sets and counters once per batch (one command per key).
inline constexpr std::string_view kSubmit = R"lua(
local mp = ARGV[5]
local GZ, GORDER, IDX, BUILD, ORGN = {}, {}, {}, {}, {}
local function submit_one(a)
  local org, app, target, prio = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local sub, idem = ARGV[a + 4], ARGV[a + 5]
  local n = tonumber(ARGV[a + 9])
  local first = a + 10
  local ik = P .. 'idem:' .. org .. ':' .. idem
  if idem ~= '' then
    local prev = redis.call('GET', ik)
    if prev then return {1, prev, redis.call('LRANGE', P .. 'sub:' .. prev, 0, -1)} end
  end
  if n == 0 then
    if idem ~= '' then redis.call('SET', ik, sub) end
    return {0, sub}
  end
  local keys, ids = {}, {}
  for i = 0, n - 1 do
    ids[i + 1] = ARGV[first + 2 * i]
    keys[i + 1] = jkey(ids[i + 1])
  end
  local found = 0
  local i = 1
  while i <= n do
    local k = math.min(n, i + 999)
    found = found + redis.call('EXISTS', unpack(keys, i, k))
    i = k + 1
  end
  if found > 0 then
    for k = 1, n do
      if redis.call('EXISTS', keys[k]) == 1 then return {2, 'job id already exists: ' .. ids[k]} end
    end
  end
  local g = org .. '/' .. app .. '/' .. target
  local gk = gkey(g)
  if not GZ[gk] then
    GZ[gk] = {}
    GORDER[#GORDER + 1] = g
  end
  local score = job_score(prio, NOW)
  local ia = P .. 'idx:org:' .. org .. ':app:' .. app
  local io = P .. 'idx:org:' .. org
  local bk = P .. 'build:' .. org .. '/' .. app
  for k = 1, n do
    local id = ids[k]
    redis.call('HSET', keys[k], 'org_id', org, 'app_version_id', app, 'test_path', ARGV[first + 2 * k - 1],
      'priority', prio, 'target', target, 'status', 'queued', 'attempt', 0, 'max_attempts', ARGV[a + 7],
      'retries', ARGV[a + 6], 'created_at_ms', NOW_S, 'submission_id', sub, 'rank_base', ARGV[a + 8])
    local z = GZ[gk]
    z[#z + 1] = score
    z[#z + 1] = id
    local m = mp .. id
    push(IDX, P .. 'idx:all', 0)
    push(IDX, P .. 'idx:all', m)
    push(IDX, io, 0)
    push(IDX, io, m)
    push(IDX, ia, 0)
    push(IDX, ia, m)
    push(BUILD, bk, id)
  end
  variadic('RPUSH', P .. 'sub:' .. sub, ids)
  count('queued', prio, n)
  ORGN[org] = (ORGN[org] or 0) + n
  if idem ~= '' then redis.call('SET', ik, sub) end
  return {0, sub}
end
local out = {}
local a = 7
for _ = 1, tonumber(ARGV[6]) do
  out[#out + 1] = submit_one(a)
  a = a + 10 + 2 * tonumber(ARGV[a + 9])
end
for k, list in pairs(GZ) do variadic('ZADD', k, list) end
for k, list in pairs(IDX) do variadic('ZADD', k, list) end
for k, list in pairs(BUILD) do variadic('SADD', k, list) end
for org, n in pairs(ORGN) do redis.call('HINCRBY', P .. 'orgcounts', org, n) end
for _, g in ipairs(GORDER) do refresh_group(g, false) end
commit()
return out
)lua";

// ARGV[5] lease id, [6] worker, [7] lease ms, [8] affinity slack ms, [9] candidates per target,
// [10] number of targets, targets, then number of installed builds, builds.
// Returns false (nil) or {group_key, {job row}...} (row() in the prelude).
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
  commit()
  return false
end
local lk = P .. 'lease:' .. lease_id
local largs = {'worker', worker, 'group', chosen}
local out = {chosen}
for k = 1, #popped, 2 do
  local j = load(popped[k])
  if j then
    move(j, 'assigned')
    set(j, 'attempt', tostring(tonumber(j.attempt) + 1))
    set(j, 'worker_id', worker)
    set(j, 'lease_id', lease_id)
    write(j)
    largs[#largs + 1] = 'j:' .. j.id
    largs[#largs + 1] = 1
    out[#out + 1] = row(j)
  end
end
redis.call('HSET', lk, unpack(largs))
redis.call('ZADD', P .. 'leases', NOW + tonumber(ARGV[7]), lease_id)
refresh_group(chosen, false)
commit()
return out
)lua";

// ARGV[5] number of reports n, [6] number of back-off delays d, [7..6+d] delays for attempts
// 1..d, then per report 8 fields: job id, lease id, attempt, status, exit code, duration ms,
// log tail, error text. Each report is checked before its own first write.
// Returns per report {0, reason} or {1, '', requeued, {job row}}.
inline constexpr std::string_view kReport = R"lua(
local nd = tonumber(ARGV[6])
local function report(a)
  local id = ARGV[a]
  local j = load(id)
  if not j then return {0, 'not_found'} end
  if FINAL[j.status] then return {0, 'already_final'} end
  if tonumber(j.attempt) ~= tonumber(ARGV[a + 2]) then return {0, 'stale_attempt'} end
  if j.lease_id == '' or j.lease_id ~= ARGV[a + 1] then return {0, 'lost_lease'} end
  local st = ARGV[a + 3]
  if not FINAL[st] or st == 'dead' then return {0, 'invalid_status'} end
  set(j, 'exit_code', ARGV[a + 4])
  set(j, 'duration_ms', ARGV[a + 5])
  set(j, 'log_tail', ARGV[a + 6])
  local requeued = 0
  local attempt = tonumber(j.attempt)
  local cancel = j.cancel_requested == '1'
  local err = ARGV[a + 7]
  if st == 'passed' then
    if tonumber(j.test_failures) > 0 then set(j, 'flaky', '1') elseif j.flaky ~= '0' then set(j, 'flaky', '0') end
    if j.last_error ~= '' then set(j, 'last_error', '') end
    finish(j, 'passed')
  elseif st == 'failed' or st == 'timed_out' then
    if err == '' then
      if st == 'timed_out' then err = 'timed out' else err = 'exit code ' .. ARGV[a + 4] end
    end
    set(j, 'last_error', err)
    set(j, 'test_failures', tostring(tonumber(j.test_failures) + 1))
    if cancel then
      finish(j, 'cancelled')
    elseif tonumber(j.retries_used) < tonumber(j.retries) then
      set(j, 'retries_used', tostring(tonumber(j.retries_used) + 1))
      requeue_now(j)
      requeued = 1
    else
      finish(j, st)
    end
  elseif st == 'error' then
    if err == '' then err = 'infrastructure error' end
    set(j, 'last_error', err)
    if cancel then
      finish(j, 'cancelled')
    elseif attempt < tonumber(j.max_attempts) then
      local slot = math.min(math.max(attempt, 1), nd)
      requeue_later(j, NOW + tonumber(ARGV[6 + slot]))
      requeued = 1
    else
      make_dead(j)
    end
  else
    finish(j, 'cancelled')
  end
  return {1, '', requeued, row(j)}
end
local out = {}
for i = 0, tonumber(ARGV[5]) - 1 do out[#out + 1] = report(7 + nd + 8 * i) end
commit()
return out
)lua";

// ARGV[5] job id, [6] lease id, [7] attempt, [8] status (installing|running). Returns 1 or 0.
inline constexpr std::string_view kProgress = R"lua(
local j = load(ARGV[5])
if not j or FINAL[j.status] or tonumber(j.attempt) ~= tonumber(ARGV[7]) then return 0 end
if j.lease_id == '' or j.lease_id ~= ARGV[6] then return 0 end
if ARGV[8] ~= 'installing' and ARGV[8] ~= 'running' then return 0 end
move(j, ARGV[8])
write(j)
commit()
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
    requeue_now(j)
    released = released + 1
  end
end
commit()
return released
)lua";

// ARGV[5] lease id, [6..] back-off delays. Re-checks the expiry, so of several schedulers
// racing on one lease exactly one applies it. Returns false (nil) or {worker, {job row}...}.
inline constexpr std::string_view kExpire = R"lua(
local lid = ARGV[5]
local sc = redis.call('ZSCORE', P .. 'leases', lid)
if not sc or tonumber(sc) > NOW then return false end
local lk = P .. 'lease:' .. lid
local out = {redis.call('HGET', lk, 'worker') or ''}
local fields = redis.call('HKEYS', lk)
for _, f in ipairs(fields) do
  if string.sub(f, 1, 2) == 'j:' then
    local j = load(string.sub(f, 3))
    if j and j.lease_id == lid and not FINAL[j.status] then
      set(j, 'last_error', 'lease expired')
      local attempt = tonumber(j.attempt)
      if j.cancel_requested == '1' then
        finish(j, 'cancelled')
      elseif attempt >= tonumber(j.max_attempts) then
        make_dead(j)
      else
        local slot = math.min(math.max(attempt, 1), #ARGV - 5)
        requeue_later(j, NOW + tonumber(ARGV[5 + slot]))
      end
      out[#out + 1] = row(j)
    end
  end
end
redis.call('DEL', lk)
redis.call('ZREM', P .. 'leases', lid)
commit()
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
    finish(j, 'cancelled')
    return {id, 'cancelled', 'cancelled'}
  end
  set(j, 'cancel_requested', '1')
  set(j, 'updated_at_ms', NOW_S)
  write(j)
  return {id, 'cancel_requested', j.status}
end
local out = {}
if ARGV[5] == 'job' then
  out[1] = cancel(ARGV[6])
else
  local ids = redis.call('SMEMBERS', P .. 'build:' .. ARGV[6])
  for _, id in ipairs(ids) do out[#out + 1] = cancel(id) end
end
commit()
return out
)lua";

// ARGV[5] job id. Returns nil (no such job), the unchanged status, or 'queued'.
inline constexpr std::string_view kRetryDead = R"lua(
local id = ARGV[5]
local j = load(id)
if not j then return false end
if j.status ~= 'dead' then return j.status end
redis.call('ZREM', P .. 'dead', id)
set(j, 'budget', j.budget)
set(j, 'max_attempts', tostring(tonumber(j.attempt) + tonumber(j.budget)))
move(j, 'queued')
write(j)
redis.call('SADD', P .. 'build:' .. j.org_id .. '/' .. j.app_version_id, id)
redis.call('ZADD', gkey(j.group), job_score(j.priority, tonumber(j.created_at_ms)), id)
refresh_group(j.group, true)
commit()
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
commit()
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

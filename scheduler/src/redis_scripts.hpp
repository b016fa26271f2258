#pragma once
// The Lua scripts of the Redis JobStore. Each multi-key transition is one script: Redis runs
// it atomically, and every script checks all its preconditions before its first write (a
// script that fails half-way keeps the writes it made). Scripts that take several items
// (submit, report) check each item's preconditions before that item's first write and answer
// per item, so one bad item changes nothing and does not hold back the others.
// docs/architecture.md lists the keys.
//
// The store loads them as one Redis function library (FUNCTION LOAD; redis_store.cpp puts it
// together): the prelude runs once, at load, and each script body becomes a function that
// begin() starts with the call's arguments. (As EVAL scripts, every call ran the prelude
// again: its closures and tables cost Redis more than a small call's own work.)
//
// Cost rules (docs/benchmark-notes.md), from profiles of Redis running these scripts: every string
// that enters Lua (an argument, a reply, a concatenation, a substring) costs a hash over all
// its bytes, a table grown one field at a time costs a resize at each power of two, and each
// redis.call costs about as much as a small command itself. So: a job is its spec (written
// once, packed by the store in C++) and its state (small, read and written by claims and
// reports); specs leave Redis beside the scripts, not through Lua; a job never claimed has no
// state and is claimed without unpacking anything; a group's queue is three lists (one per
// priority band), so entering and leaving it is RPUSH/LPOP; list indexes hold one entry per
// submission, not per job; per-status counters, lease counts, the finished-per-second counter
// and the wakeup PUBLISH are applied once per call by commit().
//
// Common ARGV: [1] key prefix, [2] now (unix ms), [3] group_max, [4] group_window ms;
// script-specific arguments start at ARGV[5].

#include <string_view>

namespace qg::sched::scripts {

inline constexpr std::string_view kPrelude = R"lua(
-- Globals are read into locals once, by the first call (each use of a global is a table
-- lookup); a library being loaded may read no global but redis. globals() is defined before
-- the locals of the same names, so its body names the globals.
local function globals()
  return cmsgpack, string, table, math, tonumber, unpack, ipairs, pairs, setmetatable, rawget, rawset, type, select, next
end
local cmsgpack, string, table, math, tonumber, unpack, ipairs, pairs, setmetatable, rawget, rawset, type, select, next
-- The call's arguments and what follows from them: set by begin() at the start of each call
-- (calls run one at a time, so the library's state is the running call's).
local ARGV, P, NOW, GMAX, WINDOW
local WAKE = false
-- Whether the pending set may hold groups: asked of Redis once per call, by pending_any().
-- Without a batching window nothing enters it, so once it is empty a group with jobs is in
-- its ready set, and no group needs looking for in it.
local PENDING_ANY
local FINAL = {passed=true, failed=true, timed_out=true, error=true, cancelled=true, dead=true}
local PRIO = {low=0, medium=1, high=2}
local BANDS = {'high', 'medium', 'low'}
local CNT, QP, FIN = {}, {}, 0
local DROPS = {}  -- lease id -> jobs that left it: applied by commit()
local function jkey(id) return P .. 'j:' .. id end
local function qkey(g, prio) return P .. 'q:' .. g .. ':' .. prio end
local function target_of(g) return string.match(g, '([^/]+)$') end
local function ready_key(g) return P .. 'ready:' .. target_of(g) end
-- A job is two strings: its spec at j:<id>, written once at submit (a fixarray of 12: the
-- fields ORG .. BUDGET below, then the id), and its state at st:<id> (a fixarray of 14, the
-- fields STATUS .. MAXA), rewritten on every transition and absent until the first: a job
-- without one is queued, attempt 0, updated at its creation. decode_job in redis_store.cpp
-- reads the same strings. Claims and reports thus read and write only the small state:
-- every long string that enters Lua costs Redis a hash over all its bytes.
-- In Lua a job is a table holding the state fields (1..14), `id` and, once any is read, the
-- spec fields (15..25) and `spec`: SPEC_MT reads and unpacks the spec on demand.
local STATUS, ATTEMPT, UPDATED, WORKER, LEASE, EXIT, DURATION, ERR, TAIL = 1, 2, 3, 4, 5, 6, 7, 8, 9
local FLAKY, RETRIES_USED, FAILURES, CANCEL, MAXA = 10, 11, 12, 13, 14  -- MAXA 0: the spec's MA0
local NSTATE = 14
local ORG, APP, TARGET, PRIO_F, PATH, SUB, CREATED, RANK, RETRIES, MA0, BUDGET = 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25
local NSPEC = 12  -- the spec's last field is the job id, kept as j.id
-- The rank of a packed spec: its eighth field, decoded alone.
local function spec_rank(spec) return select(9, cmsgpack.unpack_limit(spec, 8, 1)) end
local function skey(id) return P .. 'st:' .. id end
-- Spec and state are fixarrays (one header byte). They are unpacked from past that byte
-- (unpack_limit's offset, which also spares a substring), as the sequence of their values,
-- into locals or a table built at its size: cmsgpack.unpack of the array itself grows its
-- table one field at a time, which costs several times more.
local SPEC_MT = {__index = function(t, k)
  if type(k) ~= 'number' or k < ORG then return nil end
  local spec = rawget(t, 'spec') or redis.call('GET', jkey(rawget(t, 'id')))
  rawset(t, 'spec', spec)
  local f = {select(2, cmsgpack.unpack_limit(spec, NSPEC, 1))}
  for i = 1, NSPEC - 1 do rawset(t, ORG - 1 + i, f[i]) end
  return rawget(t, k)
end}
local STATE_HDR = '\158'  -- a fixarray of NSTATE (14): 0x90 + 14
-- Constants of reports (kReport), packed by the library's first call (a library being loaded
-- may not read cmsgpack; each cmsgpack.pack costs a call about 2,500 instructions): a passed
-- state's first field; the packed ''; a state's fields past LEASE as a claim leaves them for
-- a job that never failed (no exit code, duration, error or log; no retry used, no cancel
-- asked, no attempt limit raised), the rest of most states a pass meets, compared whole
-- rather than unpacked; and the five zeros a passed state of such a job ends in.
local PASSED_HDR, EMPTY_P, FRESH_REST, ZEROS
-- Report codes as strings: table.concat formats a number with sprintf (about 2,000 instructions).
local DIGIT = {[0] = '0', '1', '2'}
-- FIXINT[v]: the msgpack of each whole number 0..127, the byte v (as cmsgpack packs it),
-- filled by the first call; FIXINT_MT looks a table's misses up there.
local FIXINT = {}
local FIXINT_MT = {__index = FIXINT}
local function parse(id, st)
  return setmetatable({id = id, select(2, cmsgpack.unpack_limit(st, NSTATE, 1))}, SPEC_MT)
end
-- The job of a spec without a state.
local function fresh(id, spec)
  local _, o, a, t, pr, pa, su, cr, ra, re, m0, bu = cmsgpack.unpack_limit(spec, NSPEC, 1)
  return setmetatable({'queued', 0, cr, '', '', 0, 0, '', '', 0, 0, 0, 0, 0, o, a, t, pr, pa, su, cr, ra, re, m0, bu,
    id = id, spec = spec}, SPEC_MT)
end
-- The spec string of a job table (read once).
local function spec_of(j)
  local spec = rawget(j, 'spec')
  if not spec then
    spec = redis.call('GET', jkey(j.id))
    rawset(j, 'spec', spec)
  end
  return spec
end
local function max_attempts(j)
  if j[MAXA] > 0 then return j[MAXA] end
  return j[MA0]
end
local function n2s(v) return string.format('%d', v) end
-- NUM[s]: the number of a decimal count string s, each string converted once (tonumber is a
-- strtod; a table lookup of a Lua string costs a fraction of it). STR[v]: the decimal string
-- of a count v, for redis.call (which formats a Lua number with %.17g, several times the
-- cost of a lookup). Counts are few and small. Their metatables are set by the first call.
local NUM, STR = {}, {}
local NUM_MT = {__index = function(t, s)
  local v = tonumber(s)
  rawset(t, s, v)
  return v
end}
local STR_MT = {__index = function(t, v)
  local s = string.format('%d', v)
  rawset(t, v, s)
  return s
end}
local function grp(j) return j[ORG] .. '/' .. j[APP] .. '/' .. j[TARGET] end
-- Jobs changed in this call: their states packed when written, stored by one MSET in commit()
-- (a SET per job costs several times an MSET entry), and read back from here until then.
local DIRTY, PACKED, DIRTY_ORDER = {}, {}, {}
local FETCHED = {}  -- id -> state (false: none) read ahead by a batch (REP); PACKED wins, commit() clears
local function load(id)
  local j = DIRTY[id]
  if j then return j end
  local st = PACKED[id]
  if st == nil then st = FETCHED[id] end
  if st == nil then st = redis.call('GET', skey(id)) end
  if st then return parse(id, st) end
  local spec = redis.call('GET', jkey(id))
  if not spec then return nil end
  return fresh(id, spec)
end
-- Stores a state packed by the caller (a job this call does not read again as a table).
local function put(id, st)
  if not PACKED[id] then DIRTY_ORDER[#DIRTY_ORDER + 1] = id end
  DIRTY[id] = nil
  PACKED[id] = st
end
local function write(j)
  local id = j.id
  if not PACKED[id] then DIRTY_ORDER[#DIRTY_ORDER + 1] = id end
  DIRTY[id] = j
  PACKED[id] = STATE_HDR .. cmsgpack.pack(unpack(j, 1, NSTATE))
end
-- The job as returned to the store: two reply entries, its spec and its state (written by
-- write() first), appended to out.
local function row(out, j)
  out[#out + 1] = spec_of(j)
  out[#out + 1] = PACKED[j.id]
end
local function count(status, d)
  CNT[status] = (CNT[status] or 0) + d
end
local function move(j, new)
  local old = j[STATUS]
  count(old, -1)
  count(new, 1)
  if old == 'queued' then QP[j[PRIO_F]] = (QP[j[PRIO_F]] or 0) - 1 end
  if new == 'queued' then QP[j[PRIO_F]] = (QP[j[PRIO_F]] or 0) + 1 end
  j[STATUS] = new
  j[UPDATED] = NOW
end
-- Calls cmd key with the elements of list, at most 1000 at a time (key may be nil: MSET).
local function variadic(cmd, key, list)
  local i = 1
  while i <= #list do
    local k = math.min(#list, i + 999)
    if key then redis.call(cmd, key, unpack(list, i, k)) else redis.call(cmd, unpack(list, i, k)) end
    i = k + 1
  end
end
-- Empties the per-call state. A table is made anew only when used: most calls use few of
-- them, and each new table costs an allocation and its share of a garbage collection.
local function clear_call_state()
  if next(CNT) ~= nil then CNT = {} end
  if next(QP) ~= nil then QP = {} end
  if next(DROPS) ~= nil then DROPS = {} end
  if next(DIRTY) ~= nil then DIRTY = {} end
  if next(PACKED) ~= nil then PACKED = {} end
  if next(DIRTY_ORDER) ~= nil then DIRTY_ORDER = {} end
  if next(FETCHED) ~= nil then FETCHED = {} end
  FIN, WAKE = 0, false
end
-- Job writes, lease bookkeeping, counters, the finished-per-second counter and the wakeup,
-- once per call.
local function commit()
  local mset = {}
  for _, id in ipairs(DIRTY_ORDER) do
    mset[#mset + 1] = skey(id)
    mset[#mset + 1] = PACKED[id]
  end
  variadic('MSET', nil, mset)
  for lid, k in pairs(DROPS) do
    -- A lease that is gone already comes back from HINCRBY as a negative count and goes again.
    local lk = P .. 'lease:' .. lid
    if redis.call('HINCRBY', lk, 'n', STR[-k]) <= 0 then
      redis.call('DEL', lk)
      redis.call('ZREM', P .. 'leases', lid)
    end
  end
  for s, d in pairs(CNT) do
    if d ~= 0 then redis.call('HINCRBY', P .. 'counts', s, STR[d]) end
  end
  for p, d in pairs(QP) do
    if d ~= 0 then redis.call('HINCRBY', P .. 'qprio', p, STR[d]) end
  end
  if FIN > 0 then
    local fk = P .. 'fin:' .. n2s(math.floor(NOW / 1000))
    if redis.call('INCRBY', fk, STR[FIN]) == FIN then redis.call('EXPIRE', fk, '120') end
  end
  if WAKE then redis.call('PUBLISH', P .. 'wakeup', '1') end
  clear_call_state()  -- for what comes next in this call: the hand-off's claim
end
-- Starts a call: its arguments, and the per-call state empty (a call that failed half-way may
-- have left some behind; commit() empties it after a call that did not).
local function begin(args)
  if not string then
    cmsgpack, string, table, math, tonumber, unpack, ipairs, pairs, setmetatable, rawget, rawset, type, select, next = globals()
    setmetatable(NUM, NUM_MT)
    setmetatable(STR, STR_MT)
    PASSED_HDR, EMPTY_P = STATE_HDR .. cmsgpack.pack('passed'), cmsgpack.pack('')
    FRESH_REST, ZEROS = cmsgpack.pack(0, 0, '', '', 0, 0, 0, 0, 0), cmsgpack.pack(0, 0, 0, 0, 0)
    for v = 0, 127 do FIXINT[v] = string.char(v) end
  end
  ARGV, P, NOW, GMAX, WINDOW = args, args[1], tonumber(args[2]), NUM[args[3]], NUM[args[4]]
  PENDING_ANY = nil
  clear_call_state()
end
local function pending_any()
  if PENDING_ANY == nil then PENDING_ANY = WINDOW ~= 0 or redis.call('EXISTS', P .. 'pending') == 1 end
  return PENDING_ANY
end
-- A group's queued jobs are the entries of its three band lists, less the entries that jobs
-- cancelled while queued left behind (take() skips and drops them), which gx:<g> counts
-- (absent: none). So jobs entering or leaving a group write no count of their own: only
-- cancels and the claims that drop their entries do.
local function gxkey(g) return P .. 'gx:' .. g end
local function queued_in(g)
  local n = redis.call('LLEN', qkey(g, 'high')) + redis.call('LLEN', qkey(g, 'medium')) +
    redis.call('LLEN', qkey(g, 'low'))
  if n == 0 then return 0 end
  local stale = redis.call('GET', gxkey(g))
  if stale then n = n - tonumber(stale) end
  return n
end
-- Whether group g (n: its queued jobs, nil when not counted yet) holds a full group's worth.
local function full(g, n)
  if n == nil then n = queued_in(g) end
  return n >= GMAX
end
-- Takes group g out of the queue: its lists, its count of entries left by cancels, its place.
-- emptied: a claim emptied every list (Redis deleted them) and took care of gx.
local function drop_group(g, rk, emptied)
  if not emptied then redis.call('DEL', gxkey(g), qkey(g, 'high'), qkey(g, 'medium'), qkey(g, 'low')) end
  redis.call('ZREM', rk, g)
  if pending_any() then redis.call('ZREM', P .. 'pending', g) end
end
-- Enters group g in its target's ready set (key rk) at its rank: the best rank of its bands'
-- first jobs (take() goes by rank across the bands, so that is the job a claim takes first).
-- A first entry may be one left behind by a cancel (see take()); it still carries its rank.
-- A group whose lists are all empty goes instead (a claim that took as many jobs as it
-- wanted does not know whether any are left).
local function make_ready(g, rk)
  local best, any
  for _, b in ipairs(BANDS) do
    local id = redis.call('LINDEX', qkey(g, b), 0)
    if id then
      any = true
      local spec = redis.call('GET', jkey(id))
      if spec then
        local r = spec_rank(spec)
        if best == nil or r < best then best = r end
      end
    end
  end
  if best then
    redis.call('ZADD', rk, best, g)
    WAKE = true
  elseif not any then
    drop_group(g, rk)
  end
end
-- Puts a group where it belongs after jobs entered or left it: nowhere when empty, in
-- pending while its batching window is open, else in its target's ready set at its head's
-- rank. n: its queued jobs, or nil when jobs just entered it (so it has some) and they are
-- counted only if the batching window needs the number. requeue: the jobs that entered had
-- waited already (retries, promotions). same_head: only jobs behind the head entered, so a
-- ready group keeps its rank.
local function refresh_group(g, requeue, n, same_head)
  -- Without a batching window a group with jobs is ready: when only jobs behind its head
  -- entered, nothing about it changed.
  if same_head and WINDOW == 0 and (n == nil or n > 0) then return end
  local rk = ready_key(g)
  if n ~= nil and n <= 0 then
    drop_group(g, rk)
    return
  end
  if pending_any() and redis.call('ZSCORE', P .. 'pending', g) then
    if requeue or full(g, n) then
      redis.call('ZREM', P .. 'pending', g)
      make_ready(g, rk)
    end
    return
  end
  if same_head and redis.call('ZSCORE', rk, g) then return end
  if requeue or WINDOW == 0 or full(g, n) or redis.call('ZSCORE', rk, g) then
    make_ready(g, rk)
  else
    redis.call('ZADD', P .. 'pending', NOW + WINDOW, g)
  end
end
-- refresh_group() for submitted jobs that entered a band of group g that was empty: the
-- first of them ranks `rank` (a submission's jobs share one, which the store sends), so that
-- without a batching window no job is read. A group with jobs in another band is in its
-- ready set at the best rank of those bands' first jobs, so its rank becomes the lower of
-- that and `rank` (ZADD LT; a group not there yet enters at `rank`). Workers are woken only
-- when that moved or added the group.
local function entered_empty_band(g, rank)
  if pending_any() then return refresh_group(g, false, nil, false) end
  if redis.call('ZADD', ready_key(g), 'LT', 'CH', rank, g) > 0 then WAKE = true end
end
-- A new lease on jobs ids (in run order) of group g, expiring lease_ms from now. REN, REL and
-- EXP read its fields; commit() counts `n` down as jobs leave it.
-- (ids[first .. last]; the whole list when they are not given).
local function open_lease(lease_id, worker, g, ids, lease_ms, first, last)
  first, last = first or 1, last or #ids
  redis.call('HSET', P .. 'lease:' .. lease_id, 'worker', worker, 'group', g, 'jobs',
    table.concat(ids, ' ', first, last), 'n', last - first + 1)
  redis.call('ZADD', P .. 'leases', NOW + lease_ms, lease_id)
end
-- The job leaves its lease; the lease's count drops at commit() and it goes when empty.
local function lease_drop(j)
  local lid = j[LEASE]
  if lid == '' then return end
  j[LEASE] = ''
  DROPS[lid] = (DROPS[lid] or 0) + 1
end
local function finish(j, status)
  move(j, status)
  lease_drop(j)
  write(j)
  FIN = FIN + 1
end
local function make_dead(j)
  finish(j, 'dead')
  redis.call('ZADD', P .. 'dead', NOW, j.id)
end
-- Back to the front of its band: it is older than the jobs queued behind it.
local function requeue_now(j)
  move(j, 'queued')
  lease_drop(j)
  write(j)
  redis.call('LPUSH', qkey(grp(j), j[PRIO_F]), j.id)
  refresh_group(grp(j), true, nil)
end
local function requeue_later(j, due)
  move(j, 'queued')
  lease_drop(j)
  write(j)
  redis.call('ZADD', P .. 'delayed', due, j.id)
end
)lua";

// ARGV[5] unused, [6] number of submissions, then per submission from offset a: [a] org,
// [a+1] app, [a+2] target, [a+3] priority, [a+4] submission id, [a+5] idempotency key, [a+6]
// n, then n pairs (spec key, spec) packed by the store (SpecPacker in redis_store.cpp), then
// the n job ids; the next submission starts at a + 7 + 3n. A job gets no state here (see the
// prelude). (A sent batch goes as kSubmitSent, below, and comes here only when that refused
// it.)
// Returns one entry per submission: {0, submission_id}, {1, first_submission_id, {job ids}}
// for a known idempotency key (nothing written), or {2, error} (nothing written).
// Idempotency keys and submission lists are written per submission; job specs (MSET),
// group lists, list indexes and counters once per batch (one command per key).
inline constexpr std::string_view kSubmit = R"lua(
local MSET, QL, QG, GSEEN, GORDER, IDX, ORGN, NEW = {}, {}, {}, {}, {}, {}, {}, {}  -- GSEEN, GORDER: the batch's groups
local NM = 0  -- entries in MSET
local HEAD = {}  -- group -> true when its head may have changed
local QF = {}  -- group list -> where in ARGV its first job's spec is
local ANY_EXISTS = false  -- some job id of the batch is taken already (set below)
local IDX_ALL, ALL_M = P .. 'idx:all', {}  -- ALL_M: the batch's idx:all entries
local ORG_IDX = {}  -- org -> its idx:org key (built once a batch)
-- Batched values per key: a lone value is kept as the string itself, a table only from the
-- second (most single-job submissions of a batch go to keys of their own).
local function add(map, key, v)
  local l = map[key]
  if l == nil then
    map[key] = v
  elseif type(l) == 'string' then
    map[key] = {l, v}
  else
    l[#l + 1] = v
  end
end
local function push_all(key, l)
  if type(l) == 'string' then return redis.call('RPUSH', key, l), 1 end
  local len = 0
  local i = 1
  while i <= #l do
    local e = math.min(#l, i + 999)
    len = redis.call('RPUSH', key, unpack(l, i, e))
    i = e + 1
  end
  return len, #l
end
local function submit_one(a, n)
  local org, app, target, prio = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local sub, idem = ARGV[a + 4], ARGV[a + 5]
  local pairs0, ids0 = a + 6, a + 6 + 2 * n  -- job k: spec key at pairs0 + 2k - 1; id at ids0 + k
  local ik
  if idem ~= '' then
    ik = P .. 'idem:' .. org .. ':' .. idem
    local prev = redis.call('GET', ik)
    if prev then
      local sid, one = string.match(prev, '^(%S+) (%S+)$')
      if one then return {1, sid, {one}} end
      return {1, prev, redis.call('LRANGE', P .. 's:' .. prev, 0, -1)}
    end
  end
  if n == 0 then
    if idem ~= '' then redis.call('SET', ik, sub) end
    return true
  end
  if ANY_EXISTS then
    for k = 1, n do
      if redis.call('EXISTS', ARGV[pairs0 + 2 * k - 1]) == 1 then
        return {2, 'job id already exists: ' .. ARGV[ids0 + k]}
      end
    end
  end
  -- Job specs are written at the end of the batch: ids taken earlier in it are in NEW
  -- (a submission that repeats one takes none of its own back out).
  for k = 1, n do
    local id = ARGV[ids0 + k]
    if NEW[id] then
      for r = 1, k - 1 do NEW[ARGV[ids0 + r]] = nil end
      return {2, 'job id already exists: ' .. id}
    end
    NEW[id] = true
  end
  local g = org .. '/' .. app .. '/' .. target
  if not GSEEN[g] then
    GSEEN[g] = true
    GORDER[#GORDER + 1] = g
  end
  for i = pairs0 + 1, pairs0 + 2 * n do
    NM = NM + 1
    MSET[NM] = ARGV[i]
  end
  local ql = qkey(g, prio)
  if not QG[ql] then QG[ql], QF[ql] = g, pairs0 + 2 end
  for k = 1, n do add(QL, ql, ARGV[ids0 + k]) end
  -- The list indexes hold one entry per submission, in submit order: "<job id>" for one
  -- job, "<first job id>:<submission id>" for a suite (its ids are in s:<submission id>).
  local m = ARGV[ids0 + 1]
  if n > 1 then
    m = m .. ':' .. sub
    local i = ids0 + 1
    while i <= ids0 + n do
      local e = math.min(ids0 + n, i + 999)
      redis.call('RPUSH', P .. 's:' .. sub, unpack(ARGV, i, e))
      i = e + 1
    end
  end
  ALL_M[#ALL_M + 1] = m
  local ok = ORG_IDX[org]
  if not ok then
    ok = P .. 'idx:org:' .. org
    ORG_IDX[org] = ok
  end
  add(IDX, ok, m)
  add(IDX, P .. 'idx:app:' .. org .. ':' .. app, m)
  count('queued', n)
  QP[prio] = (QP[prio] or 0) + n
  ORGN[org] = (ORGN[org] or 0) + n
  if idem ~= '' then
    if n == 1 then redis.call('SET', ik, sub .. ' ' .. ARGV[ids0 + 1]) else redis.call('SET', ik, sub) end
  end
  return true
end
-- One EXISTS over every job spec of the batch; only when one is taken does each submission
-- look for its own (and fail alone).
local ALL, NS = {}, {}  -- NS: each submission's number of jobs (tonumber once: it is a strtod)
local a = 7
for s = 1, NUM[ARGV[6]] do
  local n = NUM[ARGV[a + 6]]
  NS[s] = n
  local nall = #ALL
  for k = 1, n do ALL[nall + k] = ARGV[a + 5 + 2 * k] end
  a = a + 7 + 3 * n
end
local found = 0
local i = 1
while i <= #ALL do
  local k = math.min(#ALL, i + 999)
  found = found + redis.call('EXISTS', unpack(ALL, i, k))
  i = k + 1
end
ANY_EXISTS = found > 0
local out = {}
a = 7
for s = 1, #NS do
  local r = submit_one(a, NS[s])
  if r == true then r = {0, ARGV[a + 4]} end
  out[s] = r
  a = a + 7 + 3 * NS[s]
end
variadic('MSET', nil, MSET)
-- Jobs go behind those queued: a group's rank can change only where a band was empty before
-- (and then only when the new band's first job ranks before the group, which
-- entered_empty_band() works out).
local EMPTIED = {}
for k, list in pairs(QL) do
  local len, pushed = push_all(k, list)
  if len == pushed then
    HEAD[QG[k]] = true
    EMPTIED[#EMPTIED + 1] = k
  end
end
variadic('RPUSH', IDX_ALL, ALL_M)
for k, list in pairs(IDX) do push_all(k, list) end
for org, n in pairs(ORGN) do redis.call('HINCRBY', P .. 'orgcounts', org, n) end
for _, g in ipairs(GORDER) do
  if not HEAD[g] then refresh_group(g, false, nil, true) end
end
for _, k in ipairs(EMPTIED) do
  entered_empty_band(QG[k], spec_rank(ARGV[QF[k]]))
end
commit()
return out
)lua";

// A sent batch (RedisJobStore::send_submits): its writes worked out by the store, so that
// this script does no work per submission of its own. It runs in the batch's MULTI after the
// MSETNX that wrote a sentinel key and every job spec, all or nothing, and after the native
// writes that need no check: the list indexes' RPUSHes and the org counts' HINCRBYs (through
// Lua, each cost Redis about twice as much). When the batch is refused here those are taken
// back (undo_natives), so the transaction writes nothing but the refusal.
// ARGV[5] the sentinel key; [6] how to take the native writes back: '0' from the lists'
// tails (this call is in their transaction), '1' by value (the call was sent again after its
// transaction, so other writes may have come between); [7] the native writes, packed: {lists,
// orgs}, lists as {key, {entries}}, orgs as {org, jobs}; then the idempotency keys: their
// number k, then k (key, value) pairs; then the batch's jobs by group and band: the number of
// (group, band) pairs, and per pair the band's list (qkey(g, band), from which the script
// reads g only when it needs it), the rank of its jobs, the number of jobs c
// and their c ids; then the batch's jobs per band: high, medium, low. Every
// count is a decimal string. The store sends this form only for a batch that repeats no job
// id and no idempotency key.
// Returns an empty list (every submission written), or false with nothing written when the
// sentinel is missing (a job id was taken: MSETNX wrote nothing) or an idempotency key is
// known (its specs are deleted here): the store then sends the batch again as kSubmit,
// which refuses only the submissions concerned.
inline constexpr std::string_view kSubmitSent = R"lua(
local function undo_natives()
  local w = cmsgpack.unpack(ARGV[7])
  for _, l in ipairs(w[1]) do
    local key, entries = l[1], l[2]
    if ARGV[6] == '0' then
      redis.call('RPOP', key, #entries)
    else
      for i = #entries, 1, -1 do redis.call('LREM', key, -1, entries[i]) end
    end
  end
  for _, o in ipairs(w[2]) do
    if redis.call('HINCRBY', P .. 'orgcounts', o[1], -o[2]) == 0 then redis.call('HDEL', P .. 'orgcounts', o[1]) end
  end
end
if redis.call('DEL', ARGV[5]) == 0 then
  undo_natives()
  return false
end
-- Calls cmd key with ARGV[i..j], at most 1000 at a time; returns the last reply.
local function range(cmd, key, i, j)
  local r = 0
  while i <= j do
    local e = math.min(j, i + 999)
    r = redis.call(cmd, key, unpack(ARGV, i, e))
    i = e + 1
  end
  return r
end
local nk = NUM[ARGV[8]]
local a = 9 + 2 * nk  -- the (group, band) pairs
if nk > 0 then
  local keys = {}
  for k = 1, nk do keys[k] = ARGV[7 + 2 * k] end
  local known = 0
  local i = 1
  while i <= nk do
    local e = math.min(nk, i + 999)
    known = known + redis.call('EXISTS', unpack(keys, i, e))
    i = e + 1
  end
  if known > 0 then
    -- Undo the MSETNX: every spec of the batch goes (the job ids are the bands' entries).
    local specs = {}
    local np = NUM[ARGV[a]]
    a = a + 1
    for _ = 1, np do
      local c = NUM[ARGV[a + 2]]
      for k = a + 3, a + 2 + c do specs[#specs + 1] = jkey(ARGV[k]) end
      a = a + 3 + c
    end
    variadic('DEL', nil, specs)
    undo_natives()
    return false
  end
  local kv = {}
  for i = 9, 8 + 2 * nk do kv[i - 8] = ARGV[i] end
  variadic('MSET', nil, kv)
end
local np = NUM[ARGV[a]]
a = a + 1
-- The group of a band's list (qkey).
local at = #P + 1
local function group_of(qk) return string.match(qk, '^q:(.*):%a+$', at) end
for _ = 1, np do
  local qk, c = ARGV[a], NUM[ARGV[a + 2]]
  local pushed
  if c <= 1000 then
    pushed = redis.call('RPUSH', qk, unpack(ARGV, a + 3, a + 2 + c))
  else
    pushed = range('RPUSH', qk, a + 3, a + 2 + c)
  end
  -- The rank can change only where a band was empty before (see kSubmit); a group with jobs
  -- in several bands of the batch is refreshed once per band. Without a batching window,
  -- jobs entering behind the head change nothing (refresh_group).
  if pushed == c then
    entered_empty_band(group_of(qk), ARGV[a + 1])
  elseif WINDOW ~= 0 then
    refresh_group(group_of(qk), false, nil, true)
  end
  a = a + 3 + c
end
local queued = 0
for k, b in ipairs(BANDS) do
  local n = NUM[ARGV[a + k - 1]]
  if n > 0 then
    QP[b] = n
    queued = queued + n
  end
end
count('queued', queued)
commit()
return {}
)lua";
// Returns false (nil) or {group_key, s, n, then the n job ids in run order, then for each
// job that was claimed before its place (1..n) and its state}, s being the state of every
// other job (one never claimed: the same for all of them, sent once). The store reads the
// specs, which never change, after the call (bringing them into Lua would cost Redis a hash
// over each). Tries the chosen group, then the other candidates in rank order, until
// one yields a queued job.
inline constexpr std::string_view kClaim = R"lua(
-- ARGV[5] lease id, [6] worker, [7] lease ms, [8] affinity slack ms, [9] candidates per target,
-- [10] most jobs to take (0: group_max), [11] number of targets, targets, then number of
-- installed builds, builds, then the state of a job never claimed before once claimed
-- (assigned, attempt 1, now, worker, lease; the rest zeros and ''), packed by the store
-- (a cmsgpack.pack costs a call about 2,500 instructions).
local lease_id, worker = ARGV[5], ARGV[6]
local per = NUM[ARGV[9]]
local want = GMAX
if NUM[ARGV[10]] > 0 and NUM[ARGV[10]] < want then want = NUM[ARGV[10]] end
local nt = NUM[ARGV[11]]
local ni = NUM[ARGV[12 + nt]]
local cands  -- group keys, in the order they are tried
if nt == 1 and ni == 0 then
  -- One ready set and no installed build to prefer: its groups in its own order (rank, then
  -- name, as the sort below orders them).
  cands = redis.call('ZRANGE', P .. 'ready:' .. ARGV[12], 0, per - 1)
else
  local ranked, seen = {}, {}
  for i = 1, nt do
    local t = ARGV[11 + i]
    if not seen[t] then
      seen[t] = true
      local r = redis.call('ZRANGE', P .. 'ready:' .. t, 0, per - 1, 'WITHSCORES')
      for k = 1, #r, 2 do ranked[#ranked + 1] = {tonumber(r[k + 1]), r[k]} end
    end
  end
  if #ranked == 0 then return false end
  table.sort(ranked, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local inst = {}
  for i = 1, ni do inst[ARGV[12 + nt + i]] = true end
  local limit = ranked[1][1] + NUM[ARGV[8]]
  for i, c in ipairs(ranked) do
    if ni == 0 or c[1] > limit then break end
    if inst[string.match(c[2], '^(.*)/[^/]+$')] then
      table.insert(ranked, 1, table.remove(ranked, i))
      break
    end
  end
  cands = {}
  for i, c in ipairs(ranked) do cands[i] = c[2] end
end
if #cands == 0 then return false end
-- The state of every job this claim takes that was never claimed before (packed by the store).
local ASSIGNED1 = ARGV[13 + nt + ni]
-- The rank of each spec of specs (a missing one: -inf, so that its entry goes first and
-- leaves its list rather than hold the band up).
local function ranks_of(specs)
  local r = {}
  for k = 1, #specs do
    local s = specs[k]
    r[k] = s and spec_rank(s) or -math.huge
  end
  return r
end
-- Pops up to `want` queued jobs of group g in rank order; skips entries of jobs that were
-- cancelled while queued (a cancel leaves its entry behind rather than search the list).
-- Returns the claim's reply so far ({g, ASSIGNED1, n, then the n ids taken, in order}),
-- n, the job tables of those claimed before (by place), the MSET of the others' states (each
-- ASSIGNED1), per band how many jobs never claimed it gave, and how many entries it skipped.
local function take(g)
  local out, jobs, mset, fresh = {g, ASSIGNED1, 0}, {}, {}, {}
  local n, nm, skipped = 0, 0, 0
  -- Takes entries first..last of band b (ids, their state keys sk and states; a state false:
  -- never claimed), but not those of jobs cancelled while queued. (The loop works on locals:
  -- an upvalue costs the interpreter several times a register, once per job.)
  local function accept(b, ids, sk, states, first, last)
    local out, jobs, mset, n, nm, f, skipped = out, jobs, mset, n, nm, 0, skipped
    for k = first, last do
      local id, st = ids[k], states[k]
      if not st then
        n = n + 1
        out[3 + n] = id
        mset[nm + 1] = sk[k]
        mset[nm + 2] = ASSIGNED1
        nm = nm + 2
        f = f + 1
      else
        local j = parse(id, st)
        if j[STATUS] == 'queued' then
          n = n + 1
          out[3 + n] = id
          jobs[n] = j
        else
          skipped = skipped + 1
        end
      end
    end
    if f > 0 then fresh[b] = (fresh[b] or 0) + f end
    return n, nm, skipped
  end
  local qks = {qkey(g, 'high'), qkey(g, 'medium'), qkey(g, 'low')}
  local nb = redis.call('EXISTS', qks[1], qks[2], qks[3])
  if nb == 1 then
    -- One band holds the group's jobs, in rank order already: popped from its front, the band
    -- found by LMPOP (the first of the lists that has entries).
    local b
    while n < want do
      local asked = want - n
      local r = redis.call('LMPOP', 3, qks[1], qks[2], qks[3], 'LEFT', 'COUNT', asked)
      if not r then break end
      if not b then
        for i = 1, 3 do
          if r[1] == qks[i] then b = BANDS[i] end
        end
      end
      local popped, sk = r[2], {}
      for k = 1, #popped do sk[k] = skey(popped[k]) end
      n, nm, skipped = accept(b, popped, sk, redis.call('MGET', unpack(sk)), 1, #popped)
      if #popped < asked then break end  -- the band ran out
    end
  elseif nb > 1 then
    -- Several bands hold jobs. Each band is in rank order, and a job of a lower band that
    -- has waited longer than the higher band's head start ranks before that band's fresher
    -- jobs: the jobs go by rank across the bands (equal ranks: the higher band first), so
    -- ageing reaches the jobs inside a group too and a busy build cannot starve its own low
    -- jobs. Reads up to `want` entries of each band at a time, with their specs (for the
    -- rank) and states, merges them, then trims from each band what it took.
    local buf, used = {}, {0, 0, 0}
    local function fill(i)
      local ids = redis.call('LRANGE', qks[i], used[i], used[i] + want - 1)
      if #ids == 0 then
        buf[i] = nil
        return
      end
      local jk, sk = {}, {}
      for k = 1, #ids do
        jk[k] = jkey(ids[k])
        sk[k] = skey(ids[k])
      end
      buf[i] = {ids = ids, sk = sk, ranks = ranks_of(redis.call('MGET', unpack(jk))),
        states = redis.call('MGET', unpack(sk)), k = 1}
    end
    for i = 1, 3 do fill(i) end
    while n < want do
      local best, best_rank
      for i = 1, 3 do
        local e = buf[i]
        if e and (best == nil or e.ranks[e.k] < best_rank) then best, best_rank = i, e.ranks[e.k] end
      end
      if best == nil then break end
      local e = buf[best]
      n, nm, skipped = accept(BANDS[best], e.ids, e.sk, e.states, e.k, e.k)
      used[best] = used[best] + 1
      if e.k < #e.ids then
        e.k = e.k + 1
      elseif #e.ids < want then
        buf[best] = nil  -- the band ran out
      else
        fill(best)
      end
    end
    for i = 1, 3 do
      if used[i] > 0 then redis.call('LTRIM', qks[i], used[i], -1) end
    end
  end
  out[3] = n
  return out, n, jobs, mset, fresh, skipped
end
for _, g in ipairs(cands) do
  local out, n, jobs, mset, fresh, skipped = take(g)
  -- Fewer jobs than wanted: every band ran out and Redis deleted the lists, so no entry left
  -- by a cancel is left either.
  local emptied = n < want
  if skipped > 0 then
    if emptied then
      redis.call('DEL', gxkey(g))
    elseif redis.call('DECRBY', gxkey(g), STR[skipped]) <= 0 then
      redis.call('DEL', gxkey(g))
    end
  end
  if n == 0 then
    drop_group(g, ready_key(g), true)
  else
    -- The jobs claimed before: their new states follow the ids, each after its place.
    for k, j in pairs(jobs) do
      move(j, 'assigned')
      j[ATTEMPT] = j[ATTEMPT] + 1
      j[WORKER] = worker
      j[LEASE] = lease_id
      write(j)
      out[#out + 1] = k
      out[#out + 1] = PACKED[j.id]
    end
    variadic('MSET', nil, mset)
    for b, m in pairs(fresh) do
      count('queued', -m)
      count('assigned', m)
      QP[b] = (QP[b] or 0) - m
    end
    open_lease(lease_id, worker, g, out, NUM[ARGV[7]], 4, 3 + n)
    -- Jobs are left unless the group was emptied (make_ready() finds out if none are) or
    -- only entries left by cancels are, which gx counts.
    if emptied then
      drop_group(g, ready_key(g), true)
    elseif redis.call('EXISTS', gxkey(g)) == 1 then
      refresh_group(g, false, queued_in(g))
    else
      refresh_group(g, false, nil)
    end
    commit()
    return out
  end
end
commit()
return false
)lua";

// The submit script's arguments followed by one claim's from its ARGV[5] on: a submit batch
// and the claim of a waiting worker in one call: kSubmit's body (body_submit), then kClaim's
// (body_claim) on the claim's arguments. Returns {submit reply, claim reply (false: nothing
// claimed)}, or after a hand-off (below) only the number 1: the store knows the rest (the
// submission written, the claim's group, its jobs, their specs and the state they were
// written with, which it packed), and every table in a reply costs Redis several lookups and
// a deferred length.
//
// Hand-off: when the batch is one submission that the claim would take whole anyway (no
// batching window, the claim's targets hold no ready group, the group does not exist yet,
// the submission fits the claim), its jobs are written already assigned under the claim's
// lease: the state queue-then-claim ends in (spec, state, lease, counts, indexes) without the
// group's queue, ready entry, counts and wakeup that would be written and removed again
// within this call. Anything else runs submit_main then claim_main.
inline constexpr std::string_view kHandOff = R"lua(
local a = 7
for _ = 1, NUM[ARGV[6]] do a = a + 7 + 3 * NUM[ARGV[a + 6]] end
-- The claim's argument k (k >= 5) is ARGV[k + o]; its own ARGV (C) is made only for the way
-- without a hand-off.
local o = a - 5
local function hand_off()
  if WINDOW ~= 0 or ARGV[6] ~= '1' then return nil end
  local org, app, target, prio, sub, idem = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
  local n = NUM[ARGV[13]]
  local ids0 = 13 + 2 * n  -- job k: spec key at 12 + 2k, spec at 13 + 2k, id at ids0 + k
  local want = GMAX
  local asked = NUM[ARGV[10 + o]]
  if asked > 0 and asked < want then want = asked end
  if n == 0 or n > want then return nil end
  local nt = NUM[ARGV[11 + o]]
  local fits = false
  local g = org .. '/' .. app .. '/' .. target
  -- One EXISTS over the claim's ready sets (a sorted set exists while it holds a group), the
  -- group's lists, every spec key and the idempotency key: any of them taken sends the batch
  -- the slow way, which judges each.
  local ids, keys, seen = {}, {qkey(g, 'high'), qkey(g, 'medium'), qkey(g, 'low')}, {}
  for i = 1, nt do
    local t = ARGV[11 + i + o]
    if t == target then fits = true end
    keys[#keys + 1] = P .. 'ready:' .. t
  end
  if not fits then return nil end
  for k = 1, n do
    local id = ARGV[ids0 + k]
    if seen[id] then return nil end
    seen[id] = true
    ids[k] = id
    keys[#keys + 1] = ARGV[12 + 2 * k]
  end
  local ik
  if idem ~= '' then
    ik = P .. 'idem:' .. org .. ':' .. idem
    keys[#keys + 1] = ik
  end
  local i = 1
  while i <= #keys do
    local e = math.min(#keys, i + 999)
    if redis.call('EXISTS', unpack(keys, i, e)) > 0 then return nil end
    i = e + 1
  end
  -- No write above: the slow path below starts from the same state. The specs, the states
  -- and the idempotency key go in one MSET (the states are not left to commit()).
  local lease_id, worker = ARGV[5 + o], ARGV[6 + o]
  local assigned = ARGV[13 + nt + NUM[ARGV[12 + nt + o]] + o]  -- packed by the store (see kClaim)
  local mset = {}
  for k = 1, n do
    mset[4 * k - 3] = ARGV[12 + 2 * k]
    mset[4 * k - 2] = ARGV[13 + 2 * k]
    mset[4 * k - 1] = skey(ids[k])
    mset[4 * k] = assigned
  end
  if idem ~= '' then
    mset[4 * n + 1] = ik
    if n == 1 then mset[4 * n + 2] = sub .. ' ' .. ids[1] else mset[4 * n + 2] = sub end
  end
  variadic('MSET', nil, mset)
  local m = ids[1]
  if n > 1 then
    m = m .. ':' .. sub
    variadic('RPUSH', P .. 's:' .. sub, ids)
  end
  redis.call('RPUSH', P .. 'idx:all', m)
  redis.call('RPUSH', P .. 'idx:org:' .. org, m)
  redis.call('RPUSH', P .. 'idx:app:' .. org .. ':' .. app, m)
  redis.call('HINCRBY', P .. 'orgcounts', org, ARGV[13])
  open_lease(lease_id, worker, g, ids, NUM[ARGV[7 + o]])
  count('assigned', n)
  commit()
  return 1
end
local direct = hand_off()
if direct then return direct end
local submitted = body_submit()
local C = {ARGV[1], ARGV[2], ARGV[3], ARGV[4]}
for i = a, #ARGV do C[#C + 1] = ARGV[i] end
ARGV = C
return {submitted, body_claim()}
)lua";

// ARGV[5] number of reports n (the script reads the sequences below to their end; n is for
// anyone reading the call, e.g. in MONITOR), [6] number of back-off delays d, [7..6+d]
// delays for attempts 1..d (d is 0 when no report has the status error, the only one that
// needs them), [7+d] the reports' jobs: a msgpack sequence of their state keys (st:<id>,
// with the prefix: the script builds no key of its own), [8+d] the rest of the reports: a
// msgpack sequence of 4 values per report (lease id, attempt, status, outcome), numbers as
// numbers (one argument rather than 5n: each argument costs Redis a parse and a Lua string,
// and each number a strtod). The outcome is the msgpack of the exit code, the duration ms,
// the error text ('' for a pass, which keeps none) and the log tail: the state's fields
// EXIT .. TAIL as a pass writes them, packed by the store, so a pass copies it whole. [9+d]
// '1' when the caller wants the jobs back, else '0'; [10+d] '1' when some job has more than
// one report in the batch, else '0' (then no report needs to know which jobs the others
// judged); [11+d] now, packed by the store as cmsgpack packs it. Each report is checked
// before its own first write.
// Returns, with the jobs, two entries per report: 0 and the reason it was refused, or 1 (2
// when the job was requeued) and its state (the store reads the specs, which never change,
// beside the call). Without them: a string of one digit per report (the same codes), then
// the reason of each refused report, in order (an entry per report costs Redis a conversion
// of each into its reply).
inline constexpr std::string_view kReport = R"lua(
local nd = NUM[ARGV[6]]
local ROWS = ARGV[9 + nd] == '1'
local REPEATS = ARGV[10 + nd] == '1'
local IDAT = #P + 4  -- where the job id starts in a state key
local function report(id, lease, attempt, st, outcome)
  local _, exit, duration, err, tail = cmsgpack.unpack_limit(outcome, 4, 0)
  local j = load(id)
  if not j then return 0, 'not_found' end
  if FINAL[j[STATUS]] then return 0, 'already_final' end
  if j[ATTEMPT] ~= attempt then return 0, 'stale_attempt' end
  if j[LEASE] == '' or j[LEASE] ~= lease then return 0, 'lost_lease' end
  if not FINAL[st] or st == 'dead' then return 0, 'invalid_status' end
  j[EXIT] = exit
  j[DURATION] = duration
  j[TAIL] = tail
  local requeued = 0
  local cancel = j[CANCEL] == 1
  if st == 'passed' then
    if j[FAILURES] > 0 then j[FLAKY] = 1 else j[FLAKY] = 0 end
    j[ERR] = ''
    finish(j, 'passed')
  elseif st == 'failed' or st == 'timed_out' then
    if err == '' then
      if st == 'timed_out' then err = 'timed out' else err = 'exit code ' .. n2s(exit) end
    end
    j[ERR] = err
    j[FAILURES] = j[FAILURES] + 1
    if cancel then
      finish(j, 'cancelled')
    elseif j[RETRIES_USED] < j[RETRIES] then
      j[RETRIES_USED] = j[RETRIES_USED] + 1
      requeue_now(j)
      requeued = 1
    else
      finish(j, st)
    end
  elseif st == 'error' then
    if err == '' then err = 'infrastructure error' end
    j[ERR] = err
    if cancel then
      finish(j, 'cancelled')
    elseif j[ATTEMPT] < max_attempts(j) then
      local slot = math.min(math.max(j[ATTEMPT], 1), nd)
      requeue_later(j, NOW + tonumber(ARGV[6 + slot]))
      requeued = 1
    else
      make_dead(j)
    end
  else
    finish(j, 'cancelled')
  end
  return 1 + requeued, PACKED[j.id]
end
-- A pass of a job whose state this call has not touched yet is judged and written here,
-- without the job table of load()/report() (most reports of a batch are such passes); any
-- other report goes through report(). Both judge alike.
-- The new state is put together from packed fields (cmsgpack.pack of 14 values packs each
-- into a string of its own and then joins them): those that repeat across a batch (attempt,
-- worker, counters) are packed once each.
-- The constant parts (PASSED_HDR, EMPTY_P, FRESH_REST, ZEROS) are packed once, by the
-- library's first call; the time is packed by the store; small counts are their own packing
-- (FIXINT).
local NOW_P = ARGV[11 + nd]
local PK = setmetatable({}, FIXINT_MT)
local function pk(v)
  local p = cmsgpack.pack(v)
  PK[v] = p
  return p
end
local codes, mset = {}, {}
local out = {''}  -- with the jobs: two entries per report; without: the codes, then reasons
local passed, nm = 0, 0
-- The reports are unpacked 100 at a time (a sequence unpacked whole would put all its values
-- on Lua's stack at once), their states read by one MGET per 100 (the keys' table is made
-- whole by its constructor, not grown a key at a time).
local koff, roff, k = 0, 0, 0
while koff >= 0 do
  local K = {cmsgpack.unpack_limit(ARGV[7 + nd], 100, koff)}  -- K[1]: the next offset
  local R = {cmsgpack.unpack_limit(ARGV[8 + nd], 400, roff)}
  koff, roff = K[1], R[1]
  local m = #K - 1
  local vals = m > 0 and redis.call('MGET', unpack(K, 2)) or {}
  for c = 1, m do
    k = k + 1
    local b = 4 * c - 2  -- R[b .. b+3]: lease, attempt, status, outcome
    local key, v = K[c + 1], vals[c]
    local id = REPEATS and string.sub(key, IDAT) or nil
    local code, row
    -- With repeats, FETCHED[id] is set once a report of the job was judged: a later one goes
    -- to report().
    if v and R[b + 2] == 'passed' and not (REPEATS and FETCHED[id] ~= nil) then
      -- The state's fields STATUS .. LEASE, then the rest (see FRESH_REST).
      local o, status, attempt, _, worker, lid = cmsgpack.unpack_limit(v, LEASE, 1)
      if FINAL[status] then
        code, row = 0, 'already_final'
      elseif attempt ~= R[b + 1] then
        code, row = 0, 'stale_attempt'
      elseif lid == '' or lid ~= R[b] then
        code, row = 0, 'lost_lease'
      else
        local rest = ZEROS
        if o <= 0 or string.sub(v, o + 1) ~= FRESH_REST then
          local _, _, _, _, _, _, used, failures, cancel, maxa = cmsgpack.unpack_limit(v, NSTATE - LEASE, o)
          local flaky = 0
          if failures > 0 then flaky = 1 end
          rest = (PK[flaky] or pk(flaky)) .. (PK[used] or pk(used)) .. (PK[failures] or pk(failures)) ..
            (PK[cancel] or pk(cancel)) .. (PK[maxa] or pk(maxa))
        end
        CNT[status] = (CNT[status] or 0) - 1
        passed = passed + 1
        DROPS[lid] = (DROPS[lid] or 0) + 1
        row = PASSED_HDR .. (PK[attempt] or pk(attempt)) .. NOW_P .. (PK[worker] or pk(worker)) .. EMPTY_P .. R[b + 3] ..
          rest
        code = 1
        mset[nm + 1] = key
        mset[nm + 2] = row
        nm = nm + 2
        v = row  -- what a later report of the same job in this batch reads
      end
      if REPEATS then FETCHED[id] = v end
    else
      id = id or string.sub(key, IDAT)
      if FETCHED[id] == nil then FETCHED[id] = v end
      code, row = report(id, R[b], R[b + 1], R[b + 2], R[b + 3])
    end
    if ROWS then
      out[2 * k - 1] = code
      out[2 * k] = row
    else
      codes[k] = DIGIT[code]
      if code == 0 then out[#out + 1] = row end
    end
  end
end
if passed > 0 then
  count('passed', passed)
  FIN = FIN + passed
end
variadic('MSET', nil, mset)
commit()
if not ROWS then out[1] = table.concat(codes) end
return out
)lua";

// ARGV[5] job id, [6] lease id, [7] attempt, [8] status (installing|running). Returns 1 or 0.
inline constexpr std::string_view kProgress = R"lua(
local j = load(ARGV[5])
if not j or FINAL[j[STATUS]] or j[ATTEMPT] ~= NUM[ARGV[7]] then return 0 end
if j[LEASE] == '' or j[LEASE] ~= ARGV[6] then return 0 end
if ARGV[8] ~= 'installing' and ARGV[8] ~= 'running' then return 0 end
move(j, ARGV[8])
write(j)
commit()
return 1
)lua";

// ARGV[5] worker, [6] lease id, [7] lease ms. Returns 1 or 0.
inline constexpr std::string_view kRenew = R"lua(
if redis.call('HGET', P .. 'lease:' .. ARGV[6], 'worker') ~= ARGV[5] then return 0 end
redis.call('ZADD', P .. 'leases', 'XX', NOW + NUM[ARGV[7]], ARGV[6])
return 1
)lua";

// ARGV[5] worker, [6] lease id, [7..] job ids. Returns how many were released.
inline constexpr std::string_view kRelease = R"lua(
local lid = ARGV[6]
if redis.call('HGET', P .. 'lease:' .. lid, 'worker') ~= ARGV[5] then return 0 end
local back = {}
for i = 7, #ARGV do
  local j = load(ARGV[i])
  if j and j[LEASE] == lid and (j[STATUS] == 'assigned' or j[STATUS] == 'installing') then back[#back + 1] = j end
end
-- Last first, so that the released jobs keep their order at the front of their bands.
for i = #back, 1, -1 do requeue_now(back[i]) end
commit()
return #back
)lua";

// ARGV[5] lease id, [6..] back-off delays. Re-checks the expiry, so of several schedulers
// racing on one lease exactly one applies it. Returns false (nil) or {worker, then per job
// its spec and its state}.
inline constexpr std::string_view kExpire = R"lua(
local lid = ARGV[5]
local sc = redis.call('ZSCORE', P .. 'leases', lid)
if not sc or tonumber(sc) > NOW then return false end
local lk = P .. 'lease:' .. lid
local info = redis.call('HMGET', lk, 'worker', 'jobs')
local out = {info[1] or ''}
for id in string.gmatch(info[2] or '', '%S+') do
  local j = load(id)
  if j and j[LEASE] == lid and not FINAL[j[STATUS]] then
    j[ERR] = 'lease expired'
    if j[CANCEL] == 1 then
      finish(j, 'cancelled')
    elseif j[ATTEMPT] >= max_attempts(j) then
      make_dead(j)
    else
      local slot = math.min(math.max(j[ATTEMPT], 1), #ARGV - 5)
      requeue_later(j, NOW + tonumber(ARGV[5 + slot]))
    end
    row(out, j)
  end
end
redis.call('DEL', lk)
redis.call('ZREM', P .. 'leases', lid)
commit()
return out
)lua";

inline constexpr std::string_view kCancel = R"lua(
-- ARGV[5] 'job' or 'build', [6] job id or org, [7] app version. Returns {id, outcome, status}...
local LEFT = {}  -- group -> entries left behind in its lists by this call's cancels
local function cancel(id)
  local j = load(id)
  if not j then return {id, 'not_found', 'cancelled'} end
  if FINAL[j[STATUS]] then return {id, 'already_final', j[STATUS]} end
  if j[STATUS] == 'queued' then
    -- A queued job waits in its group's list or, backing off, in delayed. Its list entry
    -- stays behind (take() skips it; gx:<g> counts it): removing it would mean searching
    -- the list. Its group is re-placed once, after every cancel of the call.
    if redis.call('ZREM', P .. 'delayed', id) == 0 then
      local g = grp(j)
      LEFT[g] = (LEFT[g] or 0) + 1
    end
    finish(j, 'cancelled')
    return {id, 'cancelled', 'cancelled'}
  end
  j[CANCEL] = 1
  j[UPDATED] = NOW
  write(j)
  return {id, 'cancel_requested', j[STATUS]}
end
local out = {}
if ARGV[5] == 'job' then
  out[1] = cancel(ARGV[6])
else
  -- Every job the build ever had, through its list index; final ones are left out.
  local function build_job(id)
    local r = cancel(id)
    if r[2] ~= 'already_final' then out[#out + 1] = r end
  end
  for _, m in ipairs(redis.call('LRANGE', P .. 'idx:app:' .. ARGV[6] .. ':' .. ARGV[7], 0, -1)) do
    local sub = string.match(m, '^[^:]+:(.+)$')
    if sub then
      for _, id in ipairs(redis.call('LRANGE', P .. 's:' .. sub, 0, -1)) do build_job(id) end
    else
      build_job(m)
    end
  end
end
for g, k in pairs(LEFT) do
  redis.call('INCRBY', gxkey(g), STR[k])
  refresh_group(g, false, queued_in(g))
end
commit()
return out
)lua";

inline constexpr std::string_view kRetryDead = R"lua(
-- ARGV[5] job id. Returns nil (no such job), the unchanged status, or 'queued'.
local id = ARGV[5]
local j = load(id)
if not j then return false end
if j[STATUS] ~= 'dead' then return j[STATUS] end
redis.call('ZREM', P .. 'dead', id)
j[MAXA] = j[ATTEMPT] + j[BUDGET]
requeue_now(j)
commit()
return 'queued'
)lua";

inline constexpr std::string_view kPromote = R"lua(
-- ARGV[5] max. Returns how many groups and jobs were moved.
local max = NUM[ARGV[5]]
local moved = 0
local due = redis.call('ZRANGEBYSCORE', P .. 'pending', '-inf', NOW, 'LIMIT', 0, max)
for _, g in ipairs(due) do
  redis.call('ZREM', P .. 'pending', g)
  refresh_group(g, true, queued_in(g))
  moved = moved + 1
end
if moved < max then
  local ids = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', NOW, 'LIMIT', 0, max - moved)
  -- Last due first, so that jobs promoted together (a lost lease's) keep their run order at
  -- the front of their bands.
  for k = #ids, 1, -1 do
    local id = ids[k]
    redis.call('ZREM', P .. 'delayed', id)
    local j = load(id)
    if j and j[STATUS] == 'queued' then
      redis.call('LPUSH', qkey(grp(j), j[PRIO_F]), id)
      refresh_group(grp(j), true, nil)
    end
    moved = moved + 1
  end
end
commit()
return moved
)lua";

inline constexpr std::string_view kQueue = R"lua(
-- ARGV[5] phase (0..2 ready per target, 3 pending), [6] offset, [7] limit, [8..10] target names.
-- Returns {next_phase, next_offset, {key, claimable, depth, head_score, oldest_created}...};
-- next_phase -1 when there is no further page.
local phase, offset, limit = NUM[ARGV[5]], NUM[ARGV[6]], NUM[ARGV[7]]
local groups = {}
local next_phase, next_offset = -1, 0
while phase < 4 do
  local key
  if phase < 3 then key = P .. 'ready:' .. ARGV[8 + phase] else key = P .. 'pending' end
  local want = limit - #groups
  local keys = redis.call('ZRANGE', key, offset, offset + want - 1)
  for _, g in ipairs(keys) do
    local hs, oldest = 0, NOW
    for _, b in ipairs(BANDS) do
      local id = redis.call('LINDEX', qkey(g, b), 0)
      local j = id and load(id)
      if j then
        if hs == 0 then hs = (2 - PRIO[b]) * 1e13 + j[CREATED] end
        oldest = math.min(oldest, j[CREATED])
      end
    end
    local claimable = 0
    if phase < 3 then claimable = 1 end
    groups[#groups + 1] = {g, claimable, queued_in(g), hs, oldest}
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

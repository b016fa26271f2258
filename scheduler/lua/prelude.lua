-- prelude.lua: what every store script shares; its locals are in scope in every script's body
-- (README.md here says how the files become one Redis function library, loaded once, and why
-- each file's header comment never reaches Redis). Each multi-key transition is one script,
-- run atomically; every script checks all its preconditions before its first write, and those
-- that take several items (submit, report) check and answer per item, so one bad item changes
-- nothing and holds back no other. docs/architecture.md lists the keys.
--
-- Cost rules (docs/benchmark-notes.md), from profiles of Redis running these scripts: every
-- string that enters Lua (an argument, a reply, a concatenation, a substring) costs a hash over
-- all its bytes, a table grown one field at a time a resize at each power of two, and each
-- redis.call about as much as a small command. So: a job is its spec (written once, packed by
-- the store in C++) and its state (small, read and written by claims and reports); specs leave
-- Redis beside the scripts, not through Lua; a job never claimed has no state and is claimed
-- without unpacking anything; a group's queue is three lists (one per priority band), so
-- entering and leaving it is RPUSH/LPOP; list indexes hold one entry per submission; counters,
-- lease counts and the wakeup PUBLISH are applied once per call by commit().
--
-- Common ARGV of every script: [1] key prefix, [2] now (unix ms), [3] group_max, [4]
-- group_window ms; its own from ARGV[5]. Keys are built from the prefix, not declared as KEYS:
-- fine on one Redis and with Sentinel, not on Redis Cluster. The prelude's helpers touch, for
-- the scripts that call them: <p>j:<id>, <p>st:<id> (load, commit); <p>q:<g>:<band>, <p>gx:<g>,
-- <p>ready:<target>[:<org>], <p>rorg:<target>, <p>reqsets:<target>, <p>pending (placing a
-- group, org_ready); <p>lease:<lease id>, <p>leases (open_lease, commit); <p>delayed, <p>dead
-- (requeue_later, make_dead); <p>rdue:<g>:<attempt> (retry_due); <p>quar (claim_gate,
-- probe_claimed); <p>orgrun (open_lease, lease_ended); <p>counts, <p>qprio, <p>orgq,
-- <p>fin:<unix second>, <p>done, <p>retention (GET), <p>fs:m:<minute>, <p>fs:f:<five minutes>,
-- <p>wakeup (commit). Running alone (at load) it touches no key.

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
-- DONE: jobs of this call that reached a final state other than dead (those are in <p>dead);
-- commit() enters them in <p>done, the finished-at index retention sweeps (sweep.lua).
-- TRIM_HINT: sweep.lua's list-index key -> entries found gone since its last trim, kept across
-- calls (a hint only: lost when the library reloads; <p>trim still names every such index).
local DONE, TRIM_HINT = {}, {}
-- Queued jobs per org (the org -> net change of this call), applied to <p>orgq by commit(): the
-- broker's quotas read that hash. Scripts that move jobs into or out of queued without move()
-- (submit, a claim of jobs never claimed before) add to it themselves, once per org.
local ORGQ = {}
local DROPS = {}  -- lease id -> jobs that left it: applied by commit()
-- Farm statistics (scheduler/src/redis/farm_stats.hpp): field '<org>/<target>|<what>' -> this
-- call's count, added by commit() to the bucket hashes of now; and lease id -> '<org>/<target>'.
local SX, SXL = {}, {}
local function stat(ot, what, d)
  local f = ot .. '|' .. what
  SX[f] = (SX[f] or 0) + d
end
-- A run reported under a lease still open: its duration's bin and its install's bin (-1: none);
-- passed when the report's own write (not finish()) made the job passed.
local function stat_run(lid, tbin, ibin, passed)
  local ot = SXL[lid]
  if not ot then
    local g = redis.call('HGET', P .. 'lease:' .. lid, 'group')
    if not g then return end
    ot = string.match(g, '^([^/]*)/') .. '/' .. string.match(g, '([^/?]+)[^/]*$')  -- the target, not its placement
    SXL[lid] = ot
  end
  stat(ot, 'r', 1)
  if passed then stat(ot, 's:passed', 1) end
  if tbin >= 0 then stat(ot, 't:' .. tbin, 1) end
  if ibin >= 0 then
    stat(ot, 'i', 1)
    stat(ot, 'n:' .. ibin, 1)
  end
end
local function jkey(id) return P .. 'j:' .. id end
local function qkey(g, prio) return P .. 'q:' .. g .. ':' .. prio end
local function target_of(g) return string.match(g, '([^/]+)$') end
local function ready_key(g) return P .. 'ready:' .. target_of(g) end
-- A job is two strings: its spec at j:<id>, written once at submit (a fixarray of 13: the
-- fields ORG .. BUDGET below, then the id), and its state at st:<id> (a fixarray of 14, the
-- fields STATUS .. MAXA), rewritten on every transition and absent until the first: a job
-- without one is queued, attempt 0, updated at its creation. decode_job in redis/job_codec.hpp
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
  if old == 'queued' then
    QP[j[PRIO_F]] = (QP[j[PRIO_F]] or 0) - 1
    ORGQ[j[ORG]] = (ORGQ[j[ORG]] or 0) - 1
  end
  if new == 'queued' then
    QP[j[PRIO_F]] = (QP[j[PRIO_F]] or 0) + 1
    ORGQ[j[ORG]] = (ORGQ[j[ORG]] or 0) + 1
  end
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
  if next(ORGQ) ~= nil then ORGQ = {} end
  if next(DROPS) ~= nil then DROPS = {} end
  if next(DIRTY) ~= nil then DIRTY = {} end
  if next(PACKED) ~= nil then PACKED = {} end
  if next(DIRTY_ORDER) ~= nil then DIRTY_ORDER = {} end
  if next(FETCHED) ~= nil then FETCHED = {} end
  if next(DONE) ~= nil then DONE = {} end
  if next(SX) ~= nil then SX = {} end
  if next(SXL) ~= nil then SXL = {} end
  FIN, WAKE = 0, false
end
-- A lease of group g ended (g false: the lease was gone already): its org holds one device
-- less. <p>orgrun counts the leases each org holds, for fair share (kClaim).
local function lease_ended(g) if g then redis.call('HINCRBY', P .. 'orgrun', string.match(g, '^[^/]+'), '-1') end end
-- Job writes, lease bookkeeping, counters (per status, priority and org), the
-- finished-per-second counter and the wakeup, once per call.
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
      lease_ended(redis.call('HGET', lk, 'group'))
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
  -- An org's field stays at 0 when its last queued job leaves (as in counts and qprio): a
  -- claim that empties an org's queue costs no HDEL, and orgs are few.
  for o, d in pairs(ORGQ) do
    if d ~= 0 then redis.call('HINCRBY', P .. 'orgq', o, STR[d]) end
  end
  if FIN > 0 then
    local fk = P .. 'fin:' .. n2s(math.floor(NOW / 1000))
    if redis.call('INCRBY', fk, STR[FIN]) == FIN then redis.call('EXPIRE', fk, '120') end
  end
  -- The finished-at index, unless the scheduler set retention of finished jobs off
  -- (<p>retention, "<finished ms> <dead ms>", starts with "0 "): one ZADD per call.
  if DONE[1] then
    local r = redis.call('GET', P .. 'retention')
    if not (r and string.sub(r, 1, 2) == '0 ') then
      local z, now = {}, ARGV[2]
      for i, id in ipairs(DONE) do
        z[2 * i - 1] = now
        z[2 * i] = id
      end
      variadic('ZADD', P .. 'done', z)
    end
  end
  if next(SX) ~= nil then
    local mk, fk = P .. 'fs:m:' .. n2s(math.floor(NOW / 60000)), P .. 'fs:f:' .. n2s(math.floor(NOW / 300000))
    for f, d in pairs(SX) do
      redis.call('HINCRBY', mk, f, STR[d])
      redis.call('HINCRBY', fk, f, STR[d])
    end
    redis.call('EXPIRE', mk, '3720')
    redis.call('EXPIRE', fk, '87000')
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
local function org_of(g) return string.match(g, '^[^/]+') end  -- an org id holds no '/'
-- Beside each target's ready set rk, each org's ready groups of it (<rk>:<org>) and each org's
-- best rank there (<p>rorg:<target>, member the org), so that fair share (kClaim) finds the
-- best group of every org, not only of the orgs whose groups lead the target. org_ready()
-- follows group g's entry in rk: score, or nil when it left.
local function org_ready(g, score)
  local org, t = org_of(g), target_of(g)
  local ork, rok = P .. 'ready:' .. t .. ':' .. org, P .. 'rorg:' .. t
  if score then
    redis.call('ZADD', ork, score, g)
  elseif redis.call('ZREM', ork, g) == 0 then
    return
  end
  local head = redis.call('ZRANGE', ork, 0, 0, 'WITHSCORES')
  if head[2] then redis.call('ZADD', rok, head[2], org) else redis.call('ZREM', rok, org) end
  if string.find(t, '?', 1, true) then  -- t "<target>?k=v,...": in <p>reqsets:<target> while it has ready groups
    redis.call(redis.call('EXISTS', rok) == 1 and 'SADD' or 'SREM', P .. 'reqsets:' .. string.match(t, '^[^?]+'), t)
  end
end
-- Takes group g out of the queue: its lists, its count of entries left by cancels, its place.
-- emptied: a claim emptied every list (Redis deleted them) and took care of gx.
local function drop_group(g, rk, emptied)
  if not emptied then redis.call('DEL', gxkey(g), qkey(g, 'high'), qkey(g, 'medium'), qkey(g, 'low')) end
  if redis.call('ZREM', rk, g) > 0 then org_ready(g, nil) end
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
    org_ready(g, best)
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
  if redis.call('ZADD', ready_key(g), 'LT', 'CH', rank, g) > 0 then
    WAKE = true
    local org = org_of(g)
    redis.call('ZADD', ready_key(g) .. ':' .. org, 'LT', rank, g)
    redis.call('ZADD', P .. 'rorg:' .. target_of(g), 'LT', rank, org)
  end
end
-- Device health: whether worker w may claim now. cooldown: the quarantine's, '' when
-- quarantine is off. Returns false (quarantined, cooling down), 1 (its cooldown is over: a
-- probe of one job; the claim that takes it calls probe_claimed) or 0 (no limit).
local function claim_gate(w, cooldown)
  if cooldown == nil or cooldown == '' then return 0 end
  local at = redis.call('HGET', P .. 'quar', w)
  if not at then return 0 end
  if tonumber(at) > NOW then return false end
  return 1
end
-- A probe was claimed: the next one after another cooldown, unless a sound report ends the
-- quarantine first.
local function probe_claimed(w, cooldown) redis.call('HSET', P .. 'quar', w, n2s(NOW + tonumber(cooldown))) end
-- A new lease on jobs ids (in run order) of group g, expiring lease_ms from now. REN, REL and
-- EXP read its fields; commit() counts `n` down as jobs leave it.
-- (ids[first .. last]; the whole list when they are not given).
local function open_lease(lease_id, worker, g, ids, lease_ms, first, last)
  first, last = first or 1, last or #ids
  redis.call('HSET', P .. 'lease:' .. lease_id, 'worker', worker, 'group', g, 'jobs',
    table.concat(ids, ' ', first, last), 'n', last - first + 1)
  redis.call('ZADD', P .. 'leases', NOW + lease_ms, lease_id)
  redis.call('HINCRBY', P .. 'orgrun', string.match(g, '^[^/]+'), '1')
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
  if status ~= 'dead' then DONE[#DONE + 1] = j.id end
  stat(j[ORG] .. '/' .. string.match(j[TARGET], '^[^?]+'), 's:' .. status, 1)  -- the target, not its placement
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
-- The due time of job j's infrastructure retry, `delay` ms from now: one per group and
-- attempt, so that a group whose install failed comes back whole, as one group, rather than
-- job by job as each report's delay (jittered per call) would bring it. The first job of the
-- group and attempt to back off sets it (<p>rdue:<g>:<attempt>, gone a second after it);
-- the others take it while it is still ahead.
local function retry_due(j, delay)
  local k = P .. 'rdue:' .. grp(j) .. ':' .. n2s(j[ATTEMPT])
  local due = tonumber(redis.call('GET', k) or '')
  if due and due >= NOW then return due end
  due = NOW + delay
  redis.call('SET', k, n2s(due), 'PX', n2s(delay + 1000))
  return due
end
local function requeue_later(j, due)
  move(j, 'queued')
  lease_drop(j)
  write(j)
  redis.call('ZADD', P .. 'delayed', due, j.id)
end

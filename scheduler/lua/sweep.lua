-- sweep.lua: retention. Deletes up to K jobs that reached a final state before their cutoff,
-- with every key and index entry that names them, oldest first: finished jobs from the
-- finished-at index <p>done, dead ones from <p>dead. Small batches keep each call short (the
-- scheduler calls again at once while there is more).
-- ARGV[5] cutoff of finished jobs (unix ms; 'off': keep them), [6] cutoff of dead jobs (or
-- 'off'), [7] K, the most jobs deleted per call, [8] the most list-index entries looked at
-- per index trimmed, [9] the most indexes due trimmed per call (besides idx:all and 2 at
-- random), [10] the entries gone that make an index due for a trim. Returns {jobs deleted,
-- 1 when more may be due at once else 0}.
--
-- A job's keys and entries: j:<id> and st:<id>; its entry in <p>done or <p>dead; the entry
-- a cancel while queued left in its group's list (counted in gx:<g>); its count in
-- <p>counts; for a one-job submission its idempotency key; for a suite, s:<submission id>
-- and the idempotency key once the suite's last job is gone; the list-index entries of its
-- submission, trimmed from the indexes' heads once every job they name is gone (entries
-- behind a job still kept wait for it; <p>idxoff counts how many entries each index lost
-- from its head, so list cursors stay valid).
--
-- Cost (docs/benchmarks.md, "Retention"): each redis.call costs about a microsecond, more
-- for a write (it goes to the AOF and replicas), and each string a reply brings into Lua a
-- few tenths of one, so the sweep writes and reads as little as it can. Whether the victims'
-- submissions are suites is one EXISTS over all their s: keys (each asked alone only when
-- one is). An index is trimmed once it has enough entries gone to pay for its calls:
-- TRIM_HINT (prelude.lua, kept between calls) counts the entries gone per index since its
-- last trim; idx:all is trimmed by every call that deleted jobs, another index when its
-- count reaches ARGV[10], at most ARGV[9] of them per call. <p>trim (a SET) names every
-- index that may have gone entries at its head, so none is forgotten when the hints are
-- lost or an index's count stays low: each call also trims 2 of them at random (SPOP), and a
-- call that deleted nothing trims ARGV[9] and goes on (more = 1) while <p>trim has any, so
-- an idle store ends with every index trimmed. A trim reads the head (LRANGE: 8 entries,
-- then as many as the count says, at most ITRIM) and asks which entries are gone by EXISTS
-- over their keys (a read: one call over a whole part, then a bisection in the part that
-- has a key still there).
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>done, <p>dead (ZRANGEBYSCORE), <p>j:<id>, <p>st:<id> (MGET), <p>s:<submission id>
--           (EXISTS, LINDEX, LRANGE), <p>idx:* (LRANGE, EXISTS), <p>trim (SPOP, SCARD),
--           <p>q:<g>:<band>, <p>gx:<g>
--   writes  <p>j:<id>, <p>st:<id>, <p>s:<submission id>, <p>idem:<org>:<key> (DEL), <p>done, <p>dead
--           (ZREM), <p>q:<g>:<band> (LREM), <p>gx:<g> (DECRBY, DEL), <p>ready:<target>,
--           <p>pending (re-placing a group whose head went), <p>idx:* (LTRIM), <p>idxoff (HINCRBY,
--           HDEL), <p>trim (SADD, SREM), <p>counts (HINCRBY)

local FCUT, DCUT, K, ITRIM = ARGV[5], ARGV[6], NUM[ARGV[7]], NUM[ARGV[8]]
local NTRIM, TDUE = NUM[ARGV[9] or '8'], NUM[ARGV[10] or '16']
local function due(zset, cutoff, limit)
  if cutoff == 'off' or limit <= 0 then return {} end
  return redis.call('ZRANGEBYSCORE', P .. zset, '-inf', cutoff, 'LIMIT', 0, limit)
end
local finished = due('done', FCUT, K)
local dead = due('dead', DCUT, K - #finished)
local more = #finished + #dead >= K
local del, indexes, left = {}, {}, {}
local subs, sub_order = {}, {}  -- submission id -> its idempotency key (false: none), in first-seen order
local sub_idx = {}  -- submission id -> {its org index, its build index}
local deleted = 0
-- The victims' specs and states, read by one MGET (a call per job would cost more).
local victims = {}
for _, id in ipairs(finished) do victims[#victims + 1] = id end
for _, id in ipairs(dead) do victims[#victims + 1] = id end
local rows, keys = {}, {}
if victims[1] then
  for i, id in ipairs(victims) do
    keys[2 * i - 1] = jkey(id)
    keys[2 * i] = skey(id)
  end
  rows = redis.call('MGET', unpack(keys))
end
local function sweep(i, id)
  local spec, st = rows[2 * i - 1], rows[2 * i]
  if not spec then return end
  local status = st and select(2, cmsgpack.unpack_limit(st, 1, 1)) or 'queued'
  if not FINAL[status] then return end  -- revived since: its index entry alone goes
  local _, org, app, target, prio, _, sub = cmsgpack.unpack_limit(spec, 6, 1)
  -- The idempotency key is the spec's last field: a spec ending in an empty string (0xa0)
  -- has none (an older spec ends with the id, never empty), so most are not unpacked whole.
  local idem_key = false
  if string.byte(spec, -1) ~= 160 then
    local f = {select(2, cmsgpack.unpack_limit(spec, NSPEC + 1, 1))}
    local idem = f[NSPEC + 1]
    if idem and idem ~= '' then idem_key = P .. 'idem:' .. org .. ':' .. idem end
  end
  del[#del + 1] = keys[2 * i - 1]
  del[#del + 1] = keys[2 * i]
  deleted = deleted + 1
  count(status, -1)
  if status == 'cancelled' then
    -- The entry a cancel while queued may have left in its group's list (claims drop such
    -- entries, so it is there only while the group still has jobs queued).
    local g = org .. '/' .. app .. '/' .. target
    local n = redis.call('LREM', qkey(g, prio), 0, id)
    if n > 0 then left[g] = (left[g] or 0) + n end
  end
  if subs[sub] == nil then sub_order[#sub_order + 1] = sub end
  subs[sub] = idem_key
  if not sub_idx[sub] then sub_idx[sub] = {'idx:org:' .. org, 'idx:app:' .. org .. ':' .. app} end
end
for i, id in ipairs(victims) do sweep(i, id) end
variadic('ZREM', P .. 'done', finished)
variadic('ZREM', P .. 'dead', dead)
variadic('DEL', nil, del)
-- Which submissions are suites (have s:<id>): one EXISTS over all of them; most are not.
local suites = {}
-- Counts an index entry of submission `sub` as gone, for the indexes naming it.
local function entry_gone(sub)
  indexes['idx:all'] = (indexes['idx:all'] or 0) + 1
  for _, k in ipairs(sub_idx[sub]) do indexes[k] = (indexes[k] or 0) + 1 end
end
if sub_order[1] then
  local sk = {}
  for i, sub in ipairs(sub_order) do sk[i] = P .. 's:' .. sub end
  local any = 0
  for i = 1, #sk, 1000 do any = any + redis.call('EXISTS', unpack(sk, i, math.min(#sk, i + 999))) end
  local idem_keys = {}  -- of one-job submissions: they go with their job
  for i, sub in ipairs(sub_order) do
    if any > 0 and redis.call('EXISTS', sk[i]) == 1 then
      suites[#suites + 1] = sub
    else
      entry_gone(sub)
      if subs[sub] then idem_keys[#idem_keys + 1] = subs[sub] end
    end
  end
  variadic('DEL', nil, idem_keys)
end
-- A suite's list and key go with its last job: looked for from the list's tail (the jobs run
-- last, likeliest still kept), 100 at a time, stopping at the first job still there.
for _, sub in ipairs(suites) do
  local idem_key = subs[sub]
  local sk = P .. 's:' .. sub
  local last = redis.call('LINDEX', sk, -1)
  local alive = last and redis.call('EXISTS', jkey(last)) == 1
  local len = alive and 0 or redis.call('LLEN', sk)
  local hi = len
  while not alive and hi > 0 do
    local ids = redis.call('LRANGE', sk, math.max(0, hi - 100), hi - 1)
    if #ids == 0 then break end
    for i = 1, #ids do ids[i] = jkey(ids[i]) end
    alive = redis.call('EXISTS', unpack(ids)) > 0
    hi = hi - 100
  end
  if not alive then
    entry_gone(sub)
    if idem_key then redis.call('DEL', sk, idem_key) else redis.call('DEL', sk) end
  end
end
for g, n in pairs(left) do
  local gk = gxkey(g)
  if redis.call('DECRBY', gk, STR[n]) <= 0 then redis.call('DEL', gk) end
  refresh_group(g, false, queued_in(g))
end
-- How many of the keys ks[from..to] still exist (EXISTS: a read, not written to the AOF).
local function alive_in(ks, from, to)
  return redis.call('EXISTS', unpack(ks, from, to))
end
-- Trims an index's head of entries whose jobs are all gone (a suite's entry goes with its
-- list), looking at up to ITRIM entries, about `expect` of them gone. Returns how many it
-- trimmed and what stopped it: 'kept' (an entry whose jobs are kept), 'empty' (the index
-- is gone) or 'more' (it read as many as expected, all gone).
local function trim(key, expect)
  expect = math.min(ITRIM, math.max(1, expect))
  local ks, n, want, stop = {}, 0, math.min(8, expect), 'more'
  while n < expect do
    local part = redis.call('LRANGE', key, n, n + want - 1)
    for i, m in ipairs(part) do
      local sub = string.match(m, '^[^:]+:(.+)$')
      ks[n + i] = sub and (P .. 's:' .. sub) or jkey(m)
    end
    local lo, hi = n, n + #part  -- ks[1..lo] are gone; ks[1..hi] has one kept, if any
    if #part > 0 and alive_in(ks, lo + 1, hi) > 0 then
      while hi - lo > 1 do
        local mid = math.floor((lo + hi) / 2)
        if alive_in(ks, lo + 1, mid) > 0 then hi = mid else lo = mid end
      end
      n, stop = lo, 'kept'
      break
    end
    n = hi
    if #part < want then
      stop = 'empty'
      break
    end
    want = expect - n
  end
  if n > 0 then
    redis.call('LTRIM', key, n, -1)
    if stop == 'more' and redis.call('EXISTS', key) == 0 then stop = 'empty' end
    if stop == 'empty' then
      redis.call('HDEL', P .. 'idxoff', key)  -- LTRIM deleted it
    else
      redis.call('HINCRBY', P .. 'idxoff', key, STR[n])
    end
  end
  return n, stop
end
local tk = P .. 'trim'
-- The counts of this call, and <p>trim for indexes that had none.
local fresh, due_now = {}, {}
for k, c in pairs(indexes) do
  local key = P .. k
  local h = TRIM_HINT[key] or 0
  if h == 0 then fresh[#fresh + 1] = key end
  TRIM_HINT[key] = h + c
  if h + c >= TDUE and key ~= P .. 'idx:all' then due_now[#due_now + 1] = key end
end
variadic('SADD', tk, fresh)
-- Trims key; `popped`: it came out of <p>trim (SPOP) and goes back only if more may be gone.
local function trim_index(key, popped)
  local h = TRIM_HINT[key] or 0
  -- Idle, or nothing counted: as far as it goes (a kept entry, the end, or ITRIM).
  local n, stop = trim(key, (h > 0 and deleted > 0) and h or ITRIM)
  if stop == 'more' then
    TRIM_HINT[key] = math.max(0, h - n)
    if popped then redis.call('SADD', tk, key) end
    if n >= ITRIM then more = true end
  else
    TRIM_HINT[key] = nil
    if not popped then redis.call('SREM', tk, key) end
  end
end
local budget = NTRIM
if deleted > 0 then trim_index(P .. 'idx:all', false) end
for _, key in ipairs(due_now) do
  if budget <= 0 then break end
  trim_index(key, false)
  budget = budget - 1
end
-- Indexes whose count stays low, and every index when the sweep is idle.
for _, key in ipairs(redis.call('SPOP', tk, deleted > 0 and '2' or STR[NTRIM])) do trim_index(key, true) end
-- Idle: go on while indexes wait to be trimmed (a busy sweep meets them in its next calls).
if deleted == 0 and not more and redis.call('SCARD', tk) > 0 then more = true end
commit()
return {deleted, more and 1 or 0}

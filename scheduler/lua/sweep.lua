-- sweep.lua: retention. Deletes up to K jobs that reached a final state before their cutoff,
-- with every key and index entry that names them, oldest first: finished jobs from the
-- finished-at index <p>done, dead ones from <p>dead. Small batches keep each call short (the
-- scheduler calls again at once while there is more).
-- ARGV[5] cutoff of finished jobs (unix ms; 'off': keep them), [6] cutoff of dead jobs (or
-- 'off'), [7] K, the most jobs deleted per call, [8] the most list-index entries looked at
-- per index trimmed. Returns {jobs deleted, 1 when more may be due at once else 0}.
--
-- A job's keys and entries: j:<id> and st:<id>; its entry in <p>done or <p>dead; the entry
-- a cancel while queued left in its group's list (counted in gx:<g>); its count in
-- <p>counts; for a one-job submission its idempotency key; for a suite, s:<submission id>
-- and the idempotency key once the suite's last job is gone; the list-index entries of its
-- submission, trimmed from the indexes' heads once every job they name is gone (entries
-- behind a job still kept wait for it; <p>trim remembers indexes to go on with, <p>idxoff
-- how many entries each index lost from its head, so list cursors stay valid).
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>done, <p>dead (ZRANGEBYSCORE), <p>j:<id>, <p>st:<id> (MGET), <p>s:<submission id>
--           (EXISTS, LINDEX, LRANGE), <p>idx:* (LRANGE), <p>trim (SPOP), <p>q:<g>:<band>, <p>gx:<g>
--   writes  <p>j:<id>, <p>st:<id>, <p>s:<submission id>, <p>idem:<org>:<key> (DEL), <p>done, <p>dead
--           (ZREM), <p>q:<g>:<band> (LREM), <p>gx:<g> (DECRBY, DEL), <p>ready:<target>,
--           <p>pending (re-placing a group whose head went), <p>idx:* (LTRIM), <p>idxoff (HINCRBY,
--           HDEL), <p>trim (SADD), <p>counts (HINCRBY)

local FCUT, DCUT, K, ITRIM = ARGV[5], ARGV[6], NUM[ARGV[7]], NUM[ARGV[8]]
local function due(zset, cutoff, limit)
  if cutoff == 'off' or limit <= 0 then return {} end
  return redis.call('ZRANGEBYSCORE', P .. zset, '-inf', cutoff, 'LIMIT', 0, limit)
end
local finished = due('done', FCUT, K)
local dead = due('dead', DCUT, K - #finished)
local more = #finished + #dead >= K
local del, indexes, suites, left = {}, {}, {}, {}
local gone_ids = {}  -- ids deleted by this call: index entries naming them need no EXISTS
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
  gone_ids[id] = true
  deleted = deleted + 1
  count(status, -1)
  if status == 'cancelled' then
    -- The entry a cancel while queued may have left in its group's list (claims drop such
    -- entries, so it is there only while the group still has jobs queued).
    local g = org .. '/' .. app .. '/' .. target
    local n = redis.call('LREM', qkey(g, prio), 0, id)
    if n > 0 then left[g] = (left[g] or 0) + n end
  end
  indexes[P .. 'idx:all'] = true
  indexes[P .. 'idx:org:' .. org] = true
  indexes[P .. 'idx:app:' .. org .. ':' .. app] = true
  if redis.call('EXISTS', P .. 's:' .. sub) == 1 then
    suites[sub] = idem_key
  elseif idem_key then
    del[#del + 1] = idem_key
  end
end
for i, id in ipairs(victims) do sweep(i, id) end
variadic('ZREM', P .. 'done', finished)
variadic('ZREM', P .. 'dead', dead)
variadic('DEL', nil, del)
-- A suite's list and key go with its last job: looked for from the list's tail (the jobs run
-- last, likeliest still kept), 100 at a time, stopping at the first job still there.
for sub, idem_key in pairs(suites) do
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
    if idem_key then redis.call('DEL', sk, idem_key) else redis.call('DEL', sk) end
  end
end
for g, n in pairs(left) do
  local gk = gxkey(g)
  if redis.call('DECRBY', gk, STR[n]) <= 0 then redis.call('DEL', gk) end
  refresh_group(g, false, queued_in(g))
end
-- Trims an index's head of entries whose jobs are all gone (a suite's entry goes with its
-- list), reading 4 entries, then 16, then 64 ... up to ITRIM (most calls find one or two).
-- True when it trimmed as many as it may look at (more may be gone).
local function gone(m)
  if gone_ids[m] then return true end
  local sub = string.match(m, '^[^:]+:(.+)$')
  if sub then return redis.call('EXISTS', P .. 's:' .. sub) == 0 end
  return redis.call('EXISTS', jkey(m)) == 0
end
local function trim(key)
  local n, want, emptied = 0, 4, false
  while n < ITRIM do
    want = math.min(want, ITRIM - n)
    local head = redis.call('LRANGE', key, n, n + want - 1)
    local k = 0
    while k < #head and gone(head[k + 1]) do k = k + 1 end
    n = n + k
    if k < #head then break end
    if #head < want then
      emptied = true
      break
    end
    want = want * 4
  end
  if n == 0 then return false end
  redis.call('LTRIM', key, n, -1)
  if emptied then
    redis.call('HDEL', P .. 'idxoff', key)
  else
    redis.call('HINCRBY', P .. 'idxoff', key, STR[n])
  end
  return n >= ITRIM
end
for _, key in ipairs(redis.call('SPOP', P .. 'trim', 4)) do indexes[key] = true end
for key in pairs(indexes) do
  if trim(key) then
    redis.call('SADD', P .. 'trim', key)
    more = true
  end
end
commit()
return {deleted, more and 1 or 0}

-- submit_sent.lua: a submit batch whose writes the store worked out (its fast form).
-- A sent batch (RedisJobStore::send_submits): its writes worked out by the store, so that
-- this script does no work per submission of its own. It runs in the batch's MULTI after the
-- MSETNX that wrote a sentinel key and every job spec, all or nothing, and after the native
-- writes that need no check: the list indexes' RPUSHes and the org counts' HINCRBYs (orgcounts
-- and orgq; through Lua, each cost Redis about twice as much). When the batch is refused here
-- those are taken back (undo_natives), so the transaction writes nothing but the refusal.
-- ARGV[5] the sentinel key; [6] how to take the native writes back: '0' from the lists'
-- tails (this call is in their transaction), '1' by value (the call was sent again after its
-- transaction, so other writes may have come between); [7] the native writes, packed: {lists,
-- orgs}, lists as {key, {entries}}, orgs as {org, jobs}; then the idempotency keys: their
-- number k, then k (key, value) pairs; then the batch's jobs by group and band: the number of
-- (group, band) pairs, and per pair the band's list (qkey(g, band), from which the script
-- reads g only when it needs it), the rank of its jobs, the number of jobs c
-- and their c ids; then the batch's jobs per band: high, medium, low. Every
-- count is a decimal string. The store sends this form only for a batch that repeats no job
-- id and no idempotency key.
-- Returns an empty list (every submission written), or false with nothing written when the
-- sentinel is missing (a job id was taken: MSETNX wrote nothing) or an idempotency key is
-- known (its specs are deleted here): the store then sends the batch again as kSubmit,
-- which refuses only the submissions concerned.
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>idem:<org>:<key> (EXISTS), <p>q:<g>:<band>, <p>gx:<g>, <p>ready:<target>, <p>pending
--   writes  <p>sx:<submission id> (DEL), <p>idem:<org>:<key> (MSET), <p>q:<g>:<band> (RPUSH),
--           <p>ready:<target>, <p>pending (ZADD), <p>reqsets:<target> (SADD), <p>counts, <p>qprio
--           (HINCRBY), <p>wakeup (PUBLISH);
--           when it refuses the batch: <p>j:<id> (DEL), <p>s:<submission id> and the list indexes
--           (RPOP or LREM), <p>orgcounts (HINCRBY, HDEL), <p>orgq (HINCRBY)

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
    redis.call('HINCRBY', P .. 'orgq', o[1], -o[2])
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
  for k = 9, 8 + 2 * nk do kv[k - 8] = ARGV[k] end
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
    local g = group_of(qk)
    entered_empty_band(g, ARGV[a + 1])
    -- A group with requirements lists its placement ("<target>?k=v,...") for claims (as org_ready).
    local t = target_of(g)
    if string.find(t, '?', 1, true) then redis.call('SADD', P .. 'reqsets:' .. string.match(t, '^[^?]+'), t) end
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

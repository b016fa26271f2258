-- hand_off.lua: a submit batch and a waiting worker's claim in one call.
-- The submit script's arguments followed by one claim's from its ARGV[5] on: a submit batch
-- and the claim of a waiting worker in one call: submit.lua's body (body_submit), then claim.lua's
-- (body_claim) on the claim's arguments. Returns {submit reply, claim reply (false: nothing
-- claimed)}, or after a hand-off (below) only the number 1: the store knows the rest (the
-- submission written, the claim's group, its jobs, their specs and the state they were
-- written with, which it packed), and every table in a reply costs Redis several lookups and
-- a deferred length.
--
-- Hand-off: when the batch is one submission that the claim would take whole anyway (no
-- batching window, the claim's targets hold no ready group, the group does not exist yet,
-- the submission fits the claim), its jobs are written already assigned under the claim's
-- lease: the state queue-then-claim ends in (spec, state, lease, counts, indexes) without the
-- group's queue, ready entry, counts and wakeup that would be written and removed again
-- within this call. Anything else runs body_submit then body_claim.
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   what submit.lua and claim.lua read; the hand-off: <p>q:<g>:<band>, <p>ready:<target>,
--           <p>reqsets:<target>, <p>j:<id> and <p>idem:<org>:<key> (one EXISTS)
--   writes  what submit.lua and claim.lua write; the hand-off: <p>j:<id>, <p>st:<id>,
--           <p>idem:<org>:<key> (MSET), <p>s:<submission id>, <p>idx:all, <p>idx:org:<org>,
--           <p>idx:app:<org>:<app> (RPUSH), <p>orgcounts, <p>counts (HINCRBY),
--           <p>lease:<lease id> (HSET), <p>leases (ZADD)

local a = 7
for _ = 1, NUM[ARGV[6]] do a = a + 7 + 3 * NUM[ARGV[a + 6]] end
-- The claim's argument k (k >= 5) is ARGV[k + o]; its own ARGV (C) is made only for the way
-- without a hand-off.
local o = a - 5
local function hand_off()
  if WINDOW ~= 0 or ARGV[6] ~= '1' then return nil end
  local org, app, target, sub, idem = ARGV[7], ARGV[8], ARGV[9], ARGV[11], ARGV[12]
  local n = NUM[ARGV[13]]
  local ids0 = 13 + 2 * n  -- job k: spec key at 12 + 2k, spec at 13 + 2k, id at ids0 + k
  local want = GMAX
  local asked = NUM[ARGV[10 + o]]
  if asked > 0 and asked < want then want = asked end
  if n == 0 or n > want then return nil end
  local nt = NUM[ARGV[11 + o]]
  -- A quarantined worker (or its probe) goes the slow way, whose claim judges it.
  if claim_gate(ARGV[6 + o], ARGV[15 + nt + NUM[ARGV[12 + nt + o]] + o]) ~= 0 then return nil end
  local fits = false
  local g = org .. '/' .. app .. '/' .. target
  -- One EXISTS over the claim's ready sets (a sorted set exists while it holds a group), the
  -- group's lists, every spec key and the idempotency key: any of them taken sends the batch
  -- the slow way, which judges each.
  local ids, keys, seen = {}, {qkey(g, 'high'), qkey(g, 'medium'), qkey(g, 'low')}, {}
  -- A worker with labels may also serve groups with requirements (claim.lua): while any of its
  -- targets lists such a placement, the slow way judges the ranks. A submission with
  -- requirements (target "<target>?k=v,...") never fits: the slow way matches the labels.
  local labelled = ARGV[16 + nt + NUM[ARGV[12 + nt + o]] + o] ~= '0'
  for i = 1, nt do
    local t = ARGV[11 + i + o]
    if t == target then fits = true end
    keys[#keys + 1] = P .. 'ready:' .. t
    if labelled then keys[#keys + 1] = P .. 'reqsets:' .. t end
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

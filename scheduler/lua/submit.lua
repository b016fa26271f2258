-- submit.lua: a batch of submissions enters the group queues.
-- ARGV[5] unused, [6] number of submissions, then per submission from offset a: [a] org,
-- [a+1] app, [a+2] target, [a+3] priority, [a+4] submission id, [a+5] idempotency key, [a+6]
-- n, then n pairs (spec key, spec) packed by the store (SpecPacker in redis/job_codec.hpp), then
-- the n job ids; the next submission starts at a + 7 + 3n. A job gets no state here (see the
-- prelude). (A sent batch goes as submit_sent.lua and comes here only when that refused
-- it.)
-- Returns one entry per submission: {0, submission_id}, {1, first_submission_id, {job ids}}
-- for a known idempotency key (nothing written), or {2, error} (nothing written).
-- Idempotency keys and submission lists are written per submission; job specs (MSET),
-- group lists, list indexes and counters once per batch (one command per key).
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>idem:<org>:<key> (GET), <p>s:<submission id> (a known key's jobs), <p>j:<id> (EXISTS),
--           <p>q:<g>:<band>, <p>gx:<g>, <p>ready:<target>, <p>pending (placing the groups)
--   writes  <p>j:<id> (MSET), <p>idem:<org>:<key> (SET), <p>s:<submission id>, <p>q:<g>:<band>,
--           <p>idx:all, <p>idx:org:<org>, <p>idx:app:<org>:<app> (RPUSH), <p>ready:<target>,
--           <p>pending (ZADD), <p>reqsets:<target> (SADD), <p>orgcounts, <p>counts, <p>qprio, <p>orgq
--           (HINCRBY), <p>wakeup (PUBLISH)

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
  ORGQ[org] = (ORGQ[org] or 0) + n
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
  local g = QG[k]
  entered_empty_band(g, spec_rank(ARGV[QF[k]]))
  -- A group with requirements lists its placement ("<target>?k=v,...") for claims (as org_ready).
  local t = target_of(g)
  if string.find(t, '?', 1, true) then redis.call('SADD', P .. 'reqsets:' .. string.match(t, '^[^?]+'), t) end
end
commit()
return out

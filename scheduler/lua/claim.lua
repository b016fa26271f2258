-- claim.lua: a worker claims a whole group (or as many of its jobs as it takes).
-- ARGV: see the comment at the head of the body, below.
-- Returns false (nil) or {group_key, s, n, then the n job ids in run order, then for each
-- job that was claimed before its place (1..n) and its state}, s being the state of every
-- other job (one never claimed: the same for all of them, sent once). The store reads the
-- specs, which never change, after the call (bringing them into Lua would cost Redis a hash
-- over each). Tries the chosen group, then the other candidates in rank order, until
-- one yields a queued job.
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/<placement>; docs/architecture.md, "Keys"):
--   reads   <p>ready:<placement> (ZRANGE), <p>reqsets:<target> (SMEMBERS; SREM of an empty one),
--           <p>q:<g>:<band> (EXISTS, LMPOP, LRANGE), <p>j:<id> (MGET, for ranks), <p>st:<id> (MGET),
--           <p>gx:<g>, <p>pending
--   writes  <p>q:<g>:<band> (LMPOP, LTRIM, DEL), <p>st:<id> (MSET), <p>gx:<g> (DECRBY, DEL),
--           <p>ready:<placement>, <p>pending (ZADD, ZREM), <p>lease:<lease id> (HSET), <p>leases (ZADD),
--           <p>counts, <p>qprio, <p>orgq, <p>orgrun (HINCRBY), <p>wakeup (PUBLISH)
--   reads   (fair share) <p>orgrun (HMGET); (device health) <p>quar (HGET; HSET for a probe)

-- ARGV[5] lease id, [6] worker, [7] lease ms, [8] affinity slack ms, [9] candidates per target,
-- [10] most jobs to take (0: group_max), [11] number of targets, targets, then number of
-- installed builds, builds, then the state of a job never claimed before once claimed
-- (assigned, attempt 1, now, worker, lease; the rest zeros and ''), packed by the store
-- (a cmsgpack.pack costs a call about 2,500 instructions), then fair share: '' (off) or the
-- msgpack of three values: slack ms, {org = weight}, {org = tier} (orgs not listed: weight 1,
-- tier 0), then the quarantine's cooldown ms ('' when quarantine is off; see claim_gate), then
-- the number of the worker's labels and each as "key=value" (values encoded as placements
-- spell them: detail::placement in store_common.hpp).
local lease_id, worker = ARGV[5], ARGV[6]
local per = NUM[ARGV[9]]
local want = GMAX
if NUM[ARGV[10]] > 0 and NUM[ARGV[10]] < want then want = NUM[ARGV[10]] end
local nt = NUM[ARGV[11]]
local ni = NUM[ARGV[12 + nt]]
local fair = ARGV[14 + nt + ni] or ''
local cooldown = ARGV[15 + nt + ni]
local gate = claim_gate(worker, cooldown)
if not gate then return false end  -- quarantined, cooling down
if gate > 0 and gate < want then want = gate end  -- a probe: one job
-- Capabilities: groups with requirements wait in ready sets of their own, one per placement
-- ("<target>?k=v,..."), listed per target in <p>reqsets:<target> while they hold groups. A
-- worker with labels also reads those of its targets' placements whose every pair its labels
-- hold; a worker without labels reads none (and pays nothing for them).
local served = {}
local nl = NUM[ARGV[16 + nt + ni] or '0'] or 0
if nl > 0 then
  local have, done = {}, {}
  for i = 1, nl do have[ARGV[16 + nt + ni + i]] = true end
  for i = 1, nt do
    local t = ARGV[11 + i]
    if not done[t] then
      done[t] = true
      for _, pl in ipairs(redis.call('SMEMBERS', P .. 'reqsets:' .. t)) do
        local ok = true
        for pair in string.gmatch(string.match(pl, '%?(.*)$') or '', '[^,]+') do
          if not have[pair] then
            ok = false
            break
          end
        end
        if ok then served[#served + 1] = pl end
      end
    end
  end
end
local cands  -- group keys, in the order they are tried
-- Fair share inside a tier (StoreSettings::fair_share_slack; the memory store's
-- fair_share_order does the same): among the candidates of the best one's tier within the
-- slack of its rank, the org holding the fewest leases (<p>orgrun) for its weight goes first
-- (ties: the better rank), its candidates moved to the front in their order. Returns that
-- org, or nil when there was no choice to make.
local function fair_order(ranked)
  local slack, weights, tiers = cmsgpack.unpack(fair)
  local tier = tiers[org_of(ranked[1][2])] or 0
  local limit = ranked[1][1] + slack
  local orgs, seen = {}, {}
  for _, c in ipairs(ranked) do
    if c[1] > limit then break end
    local o = org_of(c[2])
    if not seen[o] and (tiers[o] or 0) == tier then
      seen[o] = true
      orgs[#orgs + 1] = o
    end
  end
  if #orgs < 2 then return nil end
  local held = redis.call('HMGET', P .. 'orgrun', unpack(orgs))
  local pick, load
  for k, o in ipairs(orgs) do
    local l = math.max(tonumber(held[k]) or 0, 0) / (weights[o] or 1)
    if pick == nil or l < load then pick, load = o, l end
  end
  local front, back = {}, {}
  for _, c in ipairs(ranked) do
    if org_of(c[2]) == pick then front[#front + 1] = c else back[#back + 1] = c end
  end
  for _, c in ipairs(back) do front[#front + 1] = c end
  for i, c in ipairs(front) do ranked[i] = c end
  return pick
end
if nt == 1 and ni == 0 and fair == '' and #served == 0 then
  -- One ready set and no installed build to prefer: its groups in its own order (rank, then
  -- name, as the sort below orders them).
  cands = redis.call('ZRANGE', P .. 'ready:' .. ARGV[12], 0, per - 1)
else
  local ranked, seen = {}, {}
  for i = 1, nt + #served do
    local t = i <= nt and ARGV[11 + i] or served[i - nt]
    if not seen[t] then
      seen[t] = true
      local r = redis.call('ZRANGE', P .. 'ready:' .. t, 0, per - 1, 'WITHSCORES')
      for k = 1, #r, 2 do ranked[#ranked + 1] = {tonumber(r[k + 1]), r[k]} end
      -- A listed placement whose ready set is empty leaves the list (a group entering it again
      -- lists it again: org_ready, submit).
      if i > nt and #r == 0 then redis.call('SREM', P .. 'reqsets:' .. string.match(t, '^[^?]+'), t) end
    end
  end
  if fair ~= '' then
    -- Fair share looks at the best group of each of the best orgs too (<p>rorg:<target>,
    -- <p>ready:<target>:<org>), so that an org with more groups than the candidates read
    -- above, all ranked ahead, cannot hide the others.
    local has = {}
    for _, c in ipairs(ranked) do has[org_of(c[2])] = true end
    for t in pairs(seen) do
      local orgs = redis.call('ZRANGE', P .. 'rorg:' .. t, 0, per - 1)
      for _, o in ipairs(orgs) do
        if not has[o] then
          has[o] = true
          local r = redis.call('ZRANGE', P .. 'ready:' .. t .. ':' .. o, 0, 0, 'WITHSCORES')
          if r[2] then ranked[#ranked + 1] = {tonumber(r[2]), r[1]} end
        end
      end
    end
  end
  if #ranked == 0 then return false end
  table.sort(ranked, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local chosen = fair ~= '' and #ranked > 1 and fair_order(ranked) or nil
  local inst = {}
  for i = 1, ni do inst[ARGV[12 + nt + i]] = true end
  local limit = ranked[1][1] + NUM[ARGV[8]]
  for i, c in ipairs(ranked) do
    if ni == 0 or c[1] > limit or (chosen and org_of(c[2]) ~= chosen) then break end
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
    local nfresh = 0
    for b, m in pairs(fresh) do
      count('queued', -m)
      count('assigned', m)
      QP[b] = (QP[b] or 0) - m
      nfresh = nfresh + m
    end
    if nfresh > 0 then
      local org = org_of(g)
      ORGQ[org] = (ORGQ[org] or 0) - nfresh
    end
    open_lease(lease_id, worker, g, out, NUM[ARGV[7]], 4, 3 + n)
    if gate > 0 then probe_claimed(worker, cooldown) end
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

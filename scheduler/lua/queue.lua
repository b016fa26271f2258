-- queue.lua: one page of the queue's groups, for `qgjob queue`. Writes nothing.
-- ARGV and the reply: see the comment at the head of the body, below. Pages go through each
-- target's ready set, then the ready sets of groups with requirements (per target, in name
-- order), then the pending set.
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/<placement>; docs/architecture.md, "Keys"):
--   reads   <p>ready:<placement>, <p>pending (ZRANGE), <p>reqsets:<target> (SMEMBERS),
--           <p>q:<g>:<band> (LINDEX, LLEN), <p>gx:<g>, <p>st:<id>, <p>j:<id> (GET)
--   writes  nothing

-- ARGV[5] phase (the index of a set in the order above, pending last), [6] offset, [7] limit,
-- [8..10] target names.
-- Returns {next_phase, next_offset, {key, claimable, depth, head_score, oldest_created}...};
-- next_phase -1 when there is no further page.
local phase, offset, limit = NUM[ARGV[5]], NUM[ARGV[6]], NUM[ARGV[7]]
local groups = {}
local next_phase, next_offset = -1, 0
local sets = {}
for i = 8, 10 do sets[#sets + 1] = P .. 'ready:' .. ARGV[i] end
for i = 8, 10 do
  local placements = redis.call('SMEMBERS', P .. 'reqsets:' .. ARGV[i])
  table.sort(placements)
  for _, pl in ipairs(placements) do sets[#sets + 1] = P .. 'ready:' .. pl end
end
sets[#sets + 1] = P .. 'pending'
while phase < #sets do
  local key = sets[phase + 1]
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
    if phase < #sets - 1 then claimable = 1 end
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

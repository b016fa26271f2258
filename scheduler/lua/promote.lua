-- promote.lua: due work becomes claimable: groups whose batching window closed, jobs whose back-off ended.
-- ARGV and the reply: see the comment at the head of the body, below. At most `max` groups
-- and jobs a call, groups first.
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>pending, <p>delayed (ZRANGEBYSCORE), <p>st:<id>, <p>j:<id> (GET), <p>q:<g>:<band>,
--           <p>gx:<g>, <p>ready:<target>
--   writes  <p>pending, <p>delayed (ZREM), <p>q:<g>:<band> (LPUSH), <p>ready:<target> (ZADD),
--           <p>wakeup (PUBLISH)

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

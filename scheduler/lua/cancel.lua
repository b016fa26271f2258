-- cancel.lua: cancels one job, or every job of a build (org and app version).
-- ARGV and the reply: see the comment at the head of the body, below. A queued job ends
-- cancelled at once; a job a worker holds gets the cancel_requested flag, and its report
-- or its lease's expiry ends it cancelled.
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>st:<id>, <p>j:<id> (GET), <p>idx:app:<org>:<app>, <p>s:<submission id> (LRANGE, a
--           build), <p>q:<g>:<band>, <p>gx:<g>, <p>ready:<target>, <p>pending
--   writes  <p>st:<id> (MSET), <p>delayed (ZREM), <p>gx:<g> (INCRBY), <p>q:<g>:<band> (DEL),
--           <p>ready:<target>, <p>pending (ZADD, ZREM), <p>counts, <p>qprio, <p>orgq (HINCRBY),
--           <p>fin:<unix second> (INCRBY, EXPIRE), <p>done (ZADD), <p>wakeup (PUBLISH)

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

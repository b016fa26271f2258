-- retry_dead.lua: a dead-lettered job goes back to its group with a fresh attempt budget.
-- ARGV and the reply: see the comment at the head of the body, below.
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>st:<id>, <p>j:<id> (GET), <p>q:<g>:<band>, <p>gx:<g>, <p>ready:<target>, <p>pending
--   writes  <p>dead (ZREM), <p>st:<id> (MSET), <p>q:<g>:<band> (LPUSH), <p>ready:<target>,
--           <p>pending (ZADD, ZREM), <p>counts, <p>qprio, <p>orgq (HINCRBY), <p>wakeup (PUBLISH)

-- ARGV[5] job id. Returns nil (no such job), the unchanged status, or 'queued'.
local id = ARGV[5]
local j = load(id)
if not j then return false end
if j[STATUS] ~= 'dead' then return j[STATUS] end
redis.call('ZREM', P .. 'dead', id)
j[MAXA] = j[ATTEMPT] + j[BUDGET]
requeue_now(j)
commit()
return 'queued'

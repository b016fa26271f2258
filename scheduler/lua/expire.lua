-- expire.lua: one lease that ran out: its jobs back off, die or end cancelled.
-- ARGV[5] lease id, [6..] back-off delays. Re-checks the expiry, so of several schedulers
-- racing on one lease exactly one applies it. Returns false (nil) or {worker, then per job
-- its spec and its state}.
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>leases (ZSCORE), <p>lease:<lease id> (HMGET), <p>st:<id>, <p>j:<id> (GET)
--   writes  <p>rdue:<g>:<attempt> (GET, SET), <p>lease:<lease id> (DEL), <p>leases (ZREM),
--           <p>orgrun (HINCRBY), <p>st:<id> (MSET), <p>delayed, <p>dead (ZADD),
--           <p>counts, <p>qprio, <p>orgq (HINCRBY), <p>fin:<unix second> (INCRBY, EXPIRE), <p>done (ZADD)

local lid = ARGV[5]
local sc = redis.call('ZSCORE', P .. 'leases', lid)
if not sc or tonumber(sc) > NOW then return false end
local lk = P .. 'lease:' .. lid
local info = redis.call('HMGET', lk, 'worker', 'jobs', 'group')
local out = {info[1] or ''}
for id in string.gmatch(info[2] or '', '%S+') do
  local j = load(id)
  if j and j[LEASE] == lid and not FINAL[j[STATUS]] then
    j[ERR] = 'lease expired'
    if j[CANCEL] == 1 then
      finish(j, 'cancelled')
    elseif j[ATTEMPT] >= max_attempts(j) then
      make_dead(j)
    else
      local slot = math.min(math.max(j[ATTEMPT], 1), #ARGV - 5)
      requeue_later(j, retry_due(j, tonumber(ARGV[5 + slot])))
    end
    row(out, j)
  end
end
if redis.call('DEL', lk) == 1 then lease_ended(info[3]) end
redis.call('ZREM', P .. 'leases', lid)
commit()
return out

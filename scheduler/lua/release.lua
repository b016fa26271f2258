-- release.lua: a draining worker hands back the jobs of its lease it has not started.
-- ARGV[5] worker, [6] lease id, [7..] job ids. Returns how many were released.
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>lease:<lease id> (HGET worker), <p>st:<id>, <p>j:<id> (GET), <p>q:<g>:<band>,
--           <p>gx:<g>, <p>ready:<target>, <p>pending
--   writes  <p>st:<id> (MSET), <p>q:<g>:<band> (LPUSH), <p>ready:<target>, <p>pending (ZADD, ZREM),
--           <p>lease:<lease id> (HINCRBY n, DEL), <p>leases (ZREM), <p>counts, <p>qprio, <p>orgq (HINCRBY),
--           <p>wakeup (PUBLISH)

local lid = ARGV[6]
if redis.call('HGET', P .. 'lease:' .. lid, 'worker') ~= ARGV[5] then return 0 end
local back = {}
for i = 7, #ARGV do
  local j = load(ARGV[i])
  if j and j[LEASE] == lid and (j[STATUS] == 'assigned' or j[STATUS] == 'installing') then back[#back + 1] = j end
end
-- Last first, so that the released jobs keep their order at the front of their bands.
for i = #back, 1, -1 do requeue_now(back[i]) end
commit()
return #back

-- renew.lua: a worker's heartbeat extends its lease.
-- ARGV[5] worker, [6] lease id, [7] lease ms. Returns 1 or 0.
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>lease:<lease id> (HGET worker)
--   writes  <p>leases (ZADD XX)

if redis.call('HGET', P .. 'lease:' .. ARGV[6], 'worker') ~= ARGV[5] then return 0 end
redis.call('ZADD', P .. 'leases', 'XX', NOW + NUM[ARGV[7]], ARGV[6])
return 1

-- progress.lua: a worker says a job of its lease is installing or running, or, after its
-- group's install finished, assigned again (waiting its turn; only from installing).
-- ARGV[5] job id, [6] lease id, [7] attempt, [8] status (installing|running|assigned), [9] the
-- worker's id (the job must be held under the lease by this worker). Returns 1 or 0.
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>st:<id>, <p>j:<id> (GET)
--   writes  <p>st:<id> (MSET), <p>counts (HINCRBY)

local j = load(ARGV[5])
if not j or FINAL[j[STATUS]] or j[ATTEMPT] ~= NUM[ARGV[7]] then return 0 end
if j[LEASE] == '' or j[LEASE] ~= ARGV[6] or j[WORKER] ~= ARGV[9] then return 0 end
local st = ARGV[8]
if st ~= 'installing' and st ~= 'running' and not (st == 'assigned' and j[STATUS] == 'installing') then
  return 0
end
move(j, st)
write(j)
commit()
return 1

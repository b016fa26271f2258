-- report.lua: a batch of workers' final results.
-- ARGV[5] number of reports n (the script reads the sequences below to their end; n is for
-- anyone reading the call, e.g. in MONITOR), [6] number of back-off delays d, [7..6+d]
-- delays for attempts 1..d (d is 0 when no report has the status error, the only one that
-- needs them), [7+d] the reports' jobs: a msgpack sequence of their state keys (st:<id>,
-- with the prefix: the script builds no key of its own), [8+d] the rest of the reports: a
-- msgpack sequence of 7 values per report (lease id, attempt, status, outcome, worker id,
-- and for the farm statistics the bins of the test's and the install's durations, -1: none),
-- numbers as numbers (one argument rather than 6n: each argument costs Redis a parse and a Lua string,
-- and each number a strtod). The outcome is the msgpack of the exit code, the duration ms,
-- the error text ('' for a pass, which keeps none) and the log tail: the state's fields
-- EXIT .. TAIL as a pass writes them, packed by the store, so a pass copies it whole. [9+d]
-- '1' when the caller wants the jobs back, else '0'; [10+d] '1' when some job has more than
-- one report in the batch, else '0' (then no report needs to know which jobs the others
-- judged); [11+d] now, packed by the store as cmsgpack packs it; [12+d], [13+d] device health
-- (below); [14+d] the timing history's samples, a msgpack sequence of 2 numbers per report
-- (test ms, install ms; -1: none), or '' (or absent) to keep no history, [15+d] the most
-- fields per org, [16+d] their TTL ms ('0': none). Each report is checked before its own first write. A report for a job no lease
-- holds any more (its lease expired, or it was released) is refused as stale_attempt: that
-- attempt is over, whether or not the job has been claimed again. Otherwise it is refused as
-- lost_lease unless the job is held under its lease by the worker that sends it.
-- Returns, with the jobs, two entries per report: 0 and the reason it was refused, or 1 (2
-- when the job was requeued) and its state (the store reads the specs, which never change,
-- beside the call). Without them: a string of one digit per report (the same codes), then
-- the reason of each refused report, in order (an entry per report costs Redis a conversion
-- of each into its reply).
--
-- Keys (<p>: the key prefix, ARGV[1]; <g>: a group, org/app/target; docs/architecture.md, "Keys"):
--   reads   <p>st:<id> (MGET, GET), <p>j:<id> (GET, for a spec field), <p>q:<g>:<band>, <p>gx:<g>,
--           <p>ready:<target>, <p>pending (placing a group a retry went back to)
--   writes  <p>st:<id> (MSET), <p>lease:<lease id> (HINCRBY n, DEL), <p>leases (ZREM),
--           <p>q:<g>:<band> (LPUSH), <p>ready:<target>, <p>pending, <p>delayed, <p>dead (ZADD),
--           <p>counts, <p>qprio, <p>orgq (HINCRBY), <p>fin:<unix second> (INCRBY, EXPIRE), <p>done (ZADD),
--           <p>retention (GET), <p>wakeup (PUBLISH), <p>fs:m:<minute>, <p>fs:f:<five minutes> (HINCRBY,
--           EXPIRE: farm statistics), <p>rdue:<g>:<attempt> (GET, SET), <p>whealth (HMGET, HSET, HDEL),
--           <p>quar (HSET, HDEL), <p>j:<id> (MGET: an accepted report's org, build, target and test
--           path), <p>th:<org> (HMGET, HSET, HLEN, HRANDFIELD, HDEL, PEXPIRE: timing history)

local nd = NUM[ARGV[6]]
local ROWS = ARGV[9 + nd] == '1'
local REPEATS = ARGV[10 + nd] == '1'
local IDAT = #P + 4  -- where the job id starts in a state key
-- Device health: [12+d] quarantine after this many failed groups in a row ('0': never),
-- [13+d] the cooldown ms. SOUND[w]: true when worker w's last report in this call was of a
-- test it ran (its failures are forgotten at the end), false when it was an infrastructure
-- failure.
local QAFTER = NUM[ARGV[12 + nd] or '0']
local QCOOL = ARGV[13 + nd]
local SOUND = {}
local WH = P .. 'whealth'
-- An infrastructure failure on worker w under lease lid: counted once per lease (a failed
-- install fails every job of the group); the quarantine_after-th in a row quarantines w.
local function infra_failure(w, lid)
  local h = redis.call('HMGET', WH, w, w .. ':l')
  if h[2] == lid then return end
  local n = 1
  if SOUND[w] == nil then n = (tonumber(h[1]) or 0) + 1 end  -- after a sound report: from 0
  SOUND[w] = false
  redis.call('HSET', WH, w, STR[n], w .. ':l', lid)
  if n >= QAFTER then redis.call('HSET', P .. 'quar', w, n2s(NOW + tonumber(QCOOL))) end
end
-- Timing history: a summary "<mean> <p50> <p90> <samples> <seen s>" (nil: none, or older than
-- ttl ms) after one more sample x, as timing::update does in C++: doubles rounded half up.
local function hist_decode(v, ttl)
  if not v then return nil end
  local m, p5, p9, n, seen = string.match(v, '^(%d+) (%d+) (%d+) (%d+) (%d+)$')
  if not seen then return nil end
  seen = tonumber(seen)
  if ttl > 0 and seen * 1000 + ttl <= NOW then return nil end
  return {tonumber(m), tonumber(p5), tonumber(p9), tonumber(n), seen}
end
local function nudge(q, x, step, up)
  if x > q then return q + up * step end
  if x < q then return math.max(0, q - step) end
  return q
end
local function hist_update(s, x, span)
  if not s then return {x, x, x, 1} end
  local n = math.min(s[4] + 1, 1000000)
  local m = math.floor(s[1] + (x - s[1]) / math.min(n, span) + 0.5)
  local step = math.max(1, math.floor(m / 16 + 0.5))
  return {m, nudge(s[2], x, step, 1), nudge(s[3], x, step, 9), n}
end
-- Writes one org's new samples (o.order: its fields in first-seen order, o.add[f]: the
-- samples of f) into <p>th:<org>; past `cap` fields, evicts the oldest of a random sample
-- (fields written by this call last), and renews the hash's TTL (the retention of finished
-- jobs, which is far longer than the minute a renewal may wait).
local function hist_write(org, o, cap, ttl)
  local hk = P .. 'th:' .. org
  local now_s = math.floor(NOW / 1000)
  local seen = n2s(now_s)
  -- The TTL is renewed when a field is added or one written was last written a minute ago or
  -- more: at most about once a minute per org, however often it reports.
  local out, fresh, renew = {}, false, false
  for s = 1, #o.order, 1000 do
    local e = math.min(#o.order, s + 999)
    local vals = redis.call('HMGET', hk, unpack(o.order, s, e))
    for q = s, e do
      local f = o.order[q]
      local v = vals[q - s + 1]
      if not v then fresh = true end
      local sm = hist_decode(v, ttl)
      if not sm or sm[5] <= now_s - 60 then renew = true end
      -- The weighted mean's span: 100 for the fields that mix tests or builds (T, I, N), else 5.
      local span = string.find('TIN', string.sub(f, 1, 1), 1, true) and 100 or 5
      for _, x in ipairs(o.add[f]) do sm = hist_update(sm, x, span) end
      out[#out + 1] = f
      out[#out + 1] = n2s(sm[1]) .. ' ' .. n2s(sm[2]) .. ' ' .. n2s(sm[3]) .. ' ' .. n2s(sm[4]) .. ' ' .. seen
    end
  end
  variadic('HSET', hk, out)
  if fresh then
    local excess = redis.call('HLEN', hk) - cap
    if excess > 0 then
      local sample = redis.call('HRANDFIELD', hk, excess + 15, 'WITHVALUES')
      local cand = {}
      for q = 1, #sample, 2 do
        local f = sample[q]
        local age = tonumber(string.match(sample[q + 1], '(%d+)$')) or 0
        if o.add[f] then age = math.huge end
        cand[#cand + 1] = {age, f}
      end
      table.sort(cand, function(a, b)
        if a[1] ~= b[1] then return a[1] < b[1] end
        return a[2] < b[2]
      end)
      local gone = {}
      for q = 1, math.min(excess, #cand) do gone[q] = cand[q][2] end
      variadic('HDEL', hk, gone)
    end
  end
  if ttl > 0 and (fresh or renew) then redis.call('PEXPIRE', hk, n2s(ttl)) end
end
-- The history of the accepted reports (job ids, test ms, install ms, workers): each job's org,
-- build, target and test path read from its spec, one MGET per 100 jobs.
local function record_history(ids, tms, ims, workers, cap, ttl)
  local orgs = {}
  local function note(org, f, x)
    local o = orgs[org]
    if not o then
      o = {order = {}, add = {}}
      orgs[org] = o
    end
    local xs = o.add[f]
    if not xs then
      o.order[#o.order + 1] = f
      o.add[f] = {x}
    else
      xs[#xs + 1] = x
    end
  end
  for s = 1, #ids, 100 do
    local e = math.min(#ids, s + 99)
    local keys = {}
    for q = s, e do keys[q - s + 1] = P .. 'j:' .. ids[q] end
    local specs = redis.call('MGET', unpack(keys))
    for q = s, e do
      local spec = specs[q - s + 1]
      if spec then
        local _, org, app, target, _, path = cmsgpack.unpack_limit(spec, 5, 1)
        target = string.match(target, '^[^?]+')  -- the placement's target: history is per target
        if tms[q] >= 0 then
          note(org, 't|' .. target .. '|' .. path, tms[q])
          note(org, 'T|' .. target, tms[q])
        end
        if ims[q] >= 0 then
          note(org, 'i|' .. app .. '|' .. workers[q], ims[q])
          note(org, 'I|' .. target .. '|' .. app, ims[q])
          note(org, 'N|' .. target, ims[q])
        end
      end
    end
  end
  for org, o in pairs(orgs) do hist_write(org, o, cap, ttl) end
end
local function report(id, lease, attempt, st, outcome, worker)
  local _, exit, duration, err, tail = cmsgpack.unpack_limit(outcome, 4, 0)
  local j = load(id)
  if not j then return 0, 'not_found' end
  if FINAL[j[STATUS]] then return 0, 'already_final' end
  if j[ATTEMPT] ~= attempt or j[LEASE] == '' then return 0, 'stale_attempt' end
  if j[LEASE] ~= lease or j[WORKER] ~= worker then return 0, 'lost_lease' end
  if not FINAL[st] or st == 'dead' then return 0, 'invalid_status' end
  if QAFTER > 0 then
    if st == 'error' then infra_failure(worker, lease) elseif st ~= 'cancelled' then SOUND[worker] = true end
  end
  j[EXIT] = exit
  j[DURATION] = duration
  j[TAIL] = tail
  local requeued = 0
  local cancel = j[CANCEL] == 1
  if st == 'passed' then
    if j[FAILURES] > 0 then j[FLAKY] = 1 else j[FLAKY] = 0 end
    j[ERR] = ''
    finish(j, 'passed')
  elseif st == 'failed' or st == 'timed_out' then
    if err == '' then
      if st == 'timed_out' then err = 'timed out' else err = 'exit code ' .. n2s(exit) end
    end
    j[ERR] = err
    j[FAILURES] = j[FAILURES] + 1
    if cancel then
      finish(j, 'cancelled')
    elseif j[RETRIES_USED] < j[RETRIES] then
      j[RETRIES_USED] = j[RETRIES_USED] + 1
      requeue_now(j)
      requeued = 1
    else
      finish(j, st)
    end
  elseif st == 'error' then
    if err == '' then err = 'infrastructure error' end
    j[ERR] = err
    if cancel then
      finish(j, 'cancelled')
    elseif j[ATTEMPT] < max_attempts(j) then
      local slot = math.min(math.max(j[ATTEMPT], 1), nd)
      requeue_later(j, retry_due(j, tonumber(ARGV[6 + slot])))
      requeued = 1
    else
      make_dead(j)
    end
  else
    finish(j, 'cancelled')
  end
  return 1 + requeued, PACKED[j.id]
end
-- A pass of a job whose state this call has not touched yet is judged and written here,
-- without the job table of load()/report() (most reports of a batch are such passes); any
-- other report goes through report(). Both judge alike.
-- The new state is put together from packed fields (cmsgpack.pack of 14 values packs each
-- into a string of its own and then joins them): those that repeat across a batch (attempt,
-- worker, counters) are packed once each.
-- The constant parts (PASSED_HDR, EMPTY_P, FRESH_REST, ZEROS) are packed once, by the
-- library's first call; the time is packed by the store; small counts are their own packing
-- (FIXINT).
local NOW_P = ARGV[11 + nd]
local PK = setmetatable({}, FIXINT_MT)
local function pk(v)
  local p = cmsgpack.pack(v)
  PK[v] = p
  return p
end
local codes, mset = {}, {}
local out = {''}  -- with the jobs: two entries per report; without: the codes, then reasons
local passed, nm = 0, 0
-- The reports are unpacked 100 at a time (a sequence unpacked whole would put all its values
-- on Lua's stack at once), their states read by one MGET per 100 (the keys' table is made
-- whole by its constructor, not grown a key at a time).
local koff, roff, k = 0, 0, 0
-- Timing history (qg/scheduler/timing_history.hpp): the samples of the accepted reports, by
-- report: job id, test ms, install ms, worker.
local HIST = ARGV[14 + nd]
if HIST == '' then HIST = nil end
local hoff, HJ, HT, HI, HW = 0, {}, {}, {}, {}
while koff >= 0 do
  local K = {cmsgpack.unpack_limit(ARGV[7 + nd], 100, koff)}  -- K[1]: the next offset
  local R = {cmsgpack.unpack_limit(ARGV[8 + nd], 700, roff)}
  koff, roff = K[1], R[1]
  local H
  if HIST then
    H = {cmsgpack.unpack_limit(HIST, 200, hoff)}
    hoff = H[1]
  end
  local m = #K - 1
  local vals = m > 0 and redis.call('MGET', unpack(K, 2)) or {}
  for c = 1, m do
    k = k + 1
    local b = 7 * c - 5  -- R[b .. b+6]: lease, attempt, status, outcome, worker, test bin, install bin
    local key, v = K[c + 1], vals[c]
    local id = REPEATS and string.sub(key, IDAT) or nil
    local code, row, fast
    -- With repeats, FETCHED[id] is set once a report of the job was judged: a later one goes
    -- to report().
    if v and R[b + 2] == 'passed' and not (REPEATS and FETCHED[id] ~= nil) then
      -- The state's fields STATUS .. LEASE, then the rest (see FRESH_REST).
      local o, status, attempt, _, worker, lid = cmsgpack.unpack_limit(v, LEASE, 1)
      if FINAL[status] then
        code, row = 0, 'already_final'
      elseif attempt ~= R[b + 1] or lid == '' then
        code, row = 0, 'stale_attempt'
      elseif lid ~= R[b] or worker ~= R[b + 4] then
        code, row = 0, 'lost_lease'
      else
        local rest = ZEROS
        if o <= 0 or string.sub(v, o + 1) ~= FRESH_REST then
          local _, _, _, _, _, _, used, failures, cancel, maxa = cmsgpack.unpack_limit(v, NSTATE - LEASE, o)
          local flaky = 0
          if failures > 0 then flaky = 1 end
          rest = (PK[flaky] or pk(flaky)) .. (PK[used] or pk(used)) .. (PK[failures] or pk(failures)) ..
            (PK[cancel] or pk(cancel)) .. (PK[maxa] or pk(maxa))
        end
        CNT[status] = (CNT[status] or 0) - 1
        passed = passed + 1
        DROPS[lid] = (DROPS[lid] or 0) + 1
        DONE[#DONE + 1] = id or string.sub(key, IDAT)
        row = PASSED_HDR .. (PK[attempt] or pk(attempt)) .. NOW_P .. (PK[worker] or pk(worker)) .. EMPTY_P .. R[b + 3] ..
          rest
        code, fast = 1, true
        if QAFTER > 0 then SOUND[worker] = true end
        mset[nm + 1] = key
        mset[nm + 2] = row
        nm = nm + 2
        v = row  -- what a later report of the same job in this batch reads
      end
      if REPEATS then FETCHED[id] = v end
    else
      id = id or string.sub(key, IDAT)
      if FETCHED[id] == nil then FETCHED[id] = v end
      code, row = report(id, R[b], R[b + 1], R[b + 2], R[b + 3], R[b + 4])
    end
    if code ~= 0 then
      stat_run(R[b], R[b + 5], R[b + 6], fast)
      if H and (H[2 * c] >= 0 or H[2 * c + 1] >= 0) then
        local n = #HJ + 1
        HJ[n], HT[n], HI[n], HW[n] = id or string.sub(key, IDAT), H[2 * c], H[2 * c + 1], R[b + 4]
      end
    end
    if ROWS then
      out[2 * k - 1] = code
      out[2 * k] = row
    else
      codes[k] = DIGIT[code]
      if code == 0 then out[#out + 1] = row end
    end
  end
end
if passed > 0 then
  count('passed', passed)
  FIN = FIN + passed
end
variadic('MSET', nil, mset)
-- Workers whose last report was sound: their failures and quarantine end (one EXISTS while
-- no worker has failures, the usual case).
if QAFTER > 0 and next(SOUND) ~= nil and redis.call('EXISTS', WH, P .. 'quar') > 0 then
  local fields, ws = {}, {}
  for w, sound in pairs(SOUND) do
    if sound then
      fields[#fields + 1] = w
      fields[#fields + 1] = w .. ':l'
      ws[#ws + 1] = w
    end
  end
  if #ws > 0 then
    variadic('HDEL', WH, fields)
    variadic('HDEL', P .. 'quar', ws)
  end
end
if HJ[1] then record_history(HJ, HT, HI, HW, NUM[ARGV[15 + nd]], NUM[ARGV[16 + nd]]) end
commit()
if not ROWS then out[1] = table.concat(codes) end
return out

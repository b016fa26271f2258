// BullMQ peer benchmark: the same measurements qgjob's benches make, taken with BullMQ on the
// same Redis in the same run, so the ratios printed by bench/run cancel out machine noise.
//
//   node bullmq_bench.mjs --redis-url redis://127.0.0.1:PORT [--quick] [--results FILE]
//                         [--only addbulk,add_c1,add_c50,process,latency]
//
// --only runs the named parts alone (process includes its own add phase, recorded as
// bullmq.process_c50.add.* when run this way, as add_c50 in the default run); bench/run uses
// it to measure one BullMQ figure right beside the matching qgjob figure (paired rounds).
// Prints a table; with --results appends "key<TAB>value" lines (read by bench/check-targets).
// Every loop is bounded by a job count and by a wall-clock deadline.
import { Queue, Worker, QueueEvents } from 'bullmq';
import IORedis from 'ioredis';
import { appendFileSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const quick = args.includes('--quick');
const redisUrl = opt('--redis-url', 'redis://127.0.0.1:6379');
const resultsFile = opt('--results', '');
const N = Number(opt('--jobs', quick ? 1000 : 20000));        // jobs per throughput test
const LAT_N = Number(opt('--latency-jobs', quick ? 200 : 2000));
const BULK = 100;                                             // jobs per addBulk call (= a 100-test suite)
const CONC = 50;                                              // concurrent adds / worker concurrency
const DEADLINE_MS = Number(opt('--deadline-s', 120)) * 1000;  // per phase
const PARTS = ['addbulk', 'add_c1', 'add_c50', 'process', 'latency'];
const only = opt('--only', '') === '' ? [] : opt('--only', '').split(',');
for (const p of only) {
  if (!PARTS.includes(p)) {
    console.error(`bullmq_bench: unknown part '${p}' in --only (parts: ${PARTS.join(', ')})`);
    process.exit(2);
  }
}
// The default run measures every part but add_c50, which process measures on its way.
const wants = (part) => (only.length === 0 ? part !== 'add_c50' : only.includes(part));

const u = new URL(redisUrl);
const connection = { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
const admin = new IORedis(connection);

const results = [];
const record = (key, value, unit, what) => results.push({ key, value, unit, what });

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
async function info(section) {
  const text = await admin.info(section);
  const out = {};
  for (const line of text.split('\r\n')) {
    const j = line.indexOf(':');
    if (j > 0) out[line.slice(0, j)] = line.slice(j + 1);
  }
  return out;
}
async function cpuSeconds() {
  const i = await info('cpu');
  return Number(i.used_cpu_sys) + Number(i.used_cpu_user);
}
async function usedMemory() {
  return Number((await info('memory')).used_memory);
}
function payload(i) {
  // The same fields a qgjob job carries from its submit request.
  return { org_id: 'org-' + (i % 7), app_version_id: 'app-' + Math.floor(i / BULK), test_path: `tests/t${i}.spec.ts` };
}
function checkDeadline(start, what) {
  if (performance.now() - start > DEADLINE_MS) throw new Error(`${what}: over the ${DEADLINE_MS / 1000} s deadline`);
}
async function fresh() {
  await admin.flushall();
}

async function benchAddBulk() {
  await fresh();
  const queue = new Queue('bench-bulk', { connection });
  await queue.waitUntilReady();
  const mem0 = await usedMemory();
  const t0 = performance.now();
  const lat = [];
  for (let i = 0; i < N; i += BULK) {
    checkDeadline(t0, 'addBulk');
    const batch = [];
    for (let j = i; j < Math.min(N, i + BULK); ++j) batch.push({ name: 'test', data: payload(j) });
    const s = performance.now();
    await queue.addBulk(batch);
    lat.push(performance.now() - s);
  }
  const secs = (performance.now() - t0) / 1000;
  const mem1 = await usedMemory();
  lat.sort((a, b) => a - b);
  record('bullmq.addbulk.jobs_per_s', N / secs, 'jobs/s', `addBulk of ${BULK}, 1 client`);
  record('bullmq.addbulk.p50_ms', pct(lat, 50), 'ms', 'addBulk call latency p50');
  record('bullmq.addbulk.p99_ms', pct(lat, 99), 'ms', 'addBulk call latency p99');
  record('bullmq.mem_per_queued_job_bytes', (mem1 - mem0) / N, 'bytes', `used_memory delta / ${N} waiting jobs`);
  await queue.close();
}

// Records its figures as bullmq.add_c<concurrency>.*, or under `key` when given.
async function benchConcurrentAdds(concurrency, count, key = `bullmq.add_c${concurrency}`) {
  await fresh();
  const queue = new Queue('bench-add', { connection });
  await queue.waitUntilReady();
  const lat = [];
  let next = 0;
  const t0 = performance.now();
  async function client() {
    while (true) {
      const i = next++;
      if (i >= count) return;
      checkDeadline(t0, 'add');
      const s = performance.now();
      await queue.add('test', payload(i));
      lat.push(performance.now() - s);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  record(`${key}.jobs_per_s`, count / secs, 'jobs/s', `add(), ${concurrency} concurrent`);
  record(`${key}.p50_ms`, pct(lat, 50), 'ms', 'add latency p50');
  record(`${key}.p99_ms`, pct(lat, 99), 'ms', 'add latency p99');
  return queue;
}

async function benchProcessing() {
  // Whole life on Redis: add (50 concurrent) + process (concurrency 50, no-op) of N jobs,
  // Redis CPU from INFO cpu before and after.
  await fresh();
  const cpu0 = await cpuSeconds();
  // In the default run this add phase is the add_c50 figure. Run alone (--only, as in
  // bench/run's paired rounds) it is kept apart, so that it does not replace the add_c50
  // figure taken beside qgjob's submit figure earlier in the same round.
  const queue = await benchConcurrentAdds(CONC, N, only.length === 0 ? `bullmq.add_c${CONC}` : 'bullmq.process_c50.add');
  let done = 0;
  let finish;
  const allDone = new Promise((r) => (finish = r));
  const t0 = performance.now();
  const worker = new Worker('bench-add', async () => {}, { connection, concurrency: CONC, autorun: false });
  worker.on('completed', () => {
    if (++done === N) finish();
  });
  worker.on('failed', () => {
    if (++done === N) finish();
  });
  worker.run();
  const timer = setTimeout(() => finish(), DEADLINE_MS);
  await allDone;
  clearTimeout(timer);
  const secs = (performance.now() - t0) / 1000;
  const cpu1 = await cpuSeconds();
  await worker.close();
  await queue.close();
  if (done < N) throw new Error(`processing: only ${done}/${N} jobs completed before the deadline`);
  record('bullmq.process_c50.jobs_per_s', N / secs, 'jobs/s', 'queued -> completed, concurrency 50, no-op');
  record('bullmq.redis_cpu_per_job_us', ((cpu1 - cpu0) * 1e6) / N, 'us', 'Redis CPU per job: add + process');
}

async function benchLatency() {
  // Idle system: one job at a time, time from the add() call to the processor holding it.
  await fresh();
  const queue = new Queue('bench-lat', { connection });
  await queue.waitUntilReady();
  let resolveJob;
  const worker = new Worker(
    'bench-lat',
    async (job) => {
      const held = performance.now();
      resolveJob?.(held);
    },
    { connection, concurrency: CONC },
  );
  await worker.waitUntilReady();
  await new Promise((r) => setTimeout(r, 200));
  const lat = [];
  const t0 = performance.now();
  for (let i = 0; i < LAT_N; ++i) {
    checkDeadline(t0, 'latency');
    const got = new Promise((r) => (resolveJob = r));
    const s = performance.now();
    await queue.add('test', payload(i));
    const held = await Promise.race([got, new Promise((r) => setTimeout(() => r(NaN), 5000))]);
    if (!Number.isNaN(held)) lat.push(held - s);
    await new Promise((r) => setTimeout(r, 1)); // let the worker settle back to idle
  }
  lat.sort((a, b) => a - b);
  await worker.close();
  await queue.close();
  record('bullmq.latency.p50_ms', pct(lat, 50), 'ms', `add -> processor, idle, ${lat.length} jobs`);
  record('bullmq.latency.p99_ms', pct(lat, 99), 'ms', 'add -> processor p99');
}

async function main() {
  const version = JSON.parse(readFileSync(new URL('./node_modules/bullmq/package.json', import.meta.url))).version;
  const t0 = performance.now();
  if (wants('addbulk')) await benchAddBulk();
  if (wants('add_c1')) await (await benchConcurrentAdds(1, Math.min(N, quick ? 500 : 5000))).close();
  if (wants('add_c50')) await (await benchConcurrentAdds(CONC, N)).close();
  if (wants('process')) await benchProcessing();
  if (wants('latency')) await benchLatency();
  await fresh();
  await admin.quit();

  const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(3));
  console.log(`\n## BullMQ ${version} (node ${process.version}), Redis ${redisUrl}, ${N} jobs per test\n`);
  console.log('| measurement | value | unit |');
  console.log('|---|---:|---|');
  for (const r of results) console.log(`| ${r.what} | ${fmt(r.value)} | ${r.unit} |`);
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  if (resultsFile) {
    appendFileSync(resultsFile, `bullmq.version\t${version}\n` + results.map((r) => `${r.key}\t${r.value}\n`).join(''));
  }
  process.exit(0);
}

main().catch((e) => {
  console.error('bullmq_bench:', e);
  process.exit(1);
});

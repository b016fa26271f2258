// The dashboard: opens the event stream first, then reads the state (workers, queue, recent
// jobs), so that nothing falls between the two; events that arrive while the state is being read
// are held and applied after it. A `resync` event reads the state again; a dropped stream comes
// back with Last-Event-ID by itself (event_stream.js). The queue is read again at most once a
// second while jobs move, the workers and statistics every 10 s as a safety net.

import { getJson, setToken, takeTokenFromFragment, Unauthorized } from "./api.js";
import { EventStream } from "./event_stream.js";
import { FarmState } from "./farm_state.js";
import { MAX_QUEUE_ROWS, Views } from "./views.js";

const RECENT_JOB_PAGES = 3;  // of 1000 jobs, newest first: what the builds and failures start from
const QUEUE_GROUPS = MAX_QUEUE_ROWS;
const RECORDS_PER_TASK = 250;  // job records applied per task, so a big snapshot never blocks input
const QUEUE_MIN_INTERVAL_MS = 1000;
const SAFETY_NET_MS = 10000;
const LOG_TAIL_FETCHES = 2;  // at once

const state = new FarmState();
const views = new Views(state);
const $ = (id) => document.getElementById(id);

// How long renders take, for the console and the browser tests: count, total and longest in ms
// (performance.now() around each). A state load puts two marks on the page's timeline, each by
// the first render after it (one of each name at a time: the previous one is cleared):
// "qg-farm-shown" once the devices and the queue are on screen, "qg-state-shown" once the
// recent jobs (builds, failures) are in too.
const renderStats = { count: 0, totalMs: 0, maxMs: 0, lastMs: 0 };
window.qgDashboardStats = { render: renderStats };
const marksDue = new Set();

let framePending = false;
function schedule() {
  if (framePending) return;
  framePending = true;
  requestAnimationFrame(() => {
    framePending = false;
    const start = performance.now();
    views.render(Date.now());
    const took = performance.now() - start;
    renderStats.count += 1;
    renderStats.totalMs += took;
    renderStats.lastMs = took;
    renderStats.maxMs = Math.max(renderStats.maxMs, took);
    for (const name of marksDue) {
      performance.clearMarks(name);
      performance.mark(name);
    }
    marksDue.clear();
    const d = state.dirty;
    if (d.deviceOrder || d.devices.size > 0) schedule();
  });
}

function setConnection(kind, text) {
  const node = $("connection");
  node.dataset.state = kind;
  node.textContent = text;
}

// --- Reading the state
let loading = null;     // the running load, if any
let held = null;        // events received during a load
let reloadAgain = false;

async function recentJobs() {
  const jobs = [];
  let cursor = "";
  for (let page = 0; page < RECENT_JOB_PAGES; ++page) {
    const reply = await getJson(`/jobs?limit=1000${cursor ? "&cursor=" + encodeURIComponent(cursor) : ""}`);
    jobs.push(...reply.jobs);
    if (!reply.next_cursor) break;
    cursor = reply.next_cursor;
  }
  return jobs;
}

async function loadState(reason) {
  if (loading) {
    reloadAgain = true;
    return loading;
  }
  held = [];
  setConnection("loading", `reading the state (${reason})…`);
  loading = (async () => {
    try {
      // The devices and the queue go on screen as soon as they are read; the recent jobs (a few
      // thousand records on a big farm) follow, applied a slice per task.
      const jobsRead = recentJobs();
      jobsRead.catch(() => {});  // awaited below; this keeps an early failure from being unhandled
      const [workers, queue] = await Promise.all([getJson("/workers"), getJson(`/queue?limit=${QUEUE_GROUPS}`)]);
      state.applyWorkers(workers);
      state.applyQueue(queue, Date.now());
      marksDue.add("qg-farm-shown");
      schedule();
      const jobs = await jobsRead;
      state.resetJobs();
      for (let end = jobs.length; end > 0; end -= RECORDS_PER_TASK) {
        state.applyJobRecords(jobs.slice(Math.max(0, end - RECORDS_PER_TASK), end));  // oldest slice first
        schedule();
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      state.applyWorkers(workers);  // the registry's word on each device's state outranks old job records
      for (const [type, data] of held) applyEvent(type, data);
      setConnection("live", "live");
      marksDue.add("qg-state-shown");
      for (const f of state.failures) if (f.log_tail === null) fetchLogTail(f.job_id);
    } catch (err) {
      handleError(err, "reading the state");
      if (!(err instanceof Unauthorized)) setTimeout(() => loadState("retry"), 2000);
    } finally {
      held = null;
      loading = null;
      schedule();
      if (reloadAgain) {
        reloadAgain = false;
        loadState("resync during a load");
      }
    }
  })();
  return loading;
}

function handleError(err, what) {
  if (err instanceof Unauthorized) {
    showTokenForm("");
    return;
  }
  setConnection("reconnecting", `${what}: ${err.message}`);
}

// --- Events
let queueTimer = null;
let lastQueueRead = 0;
function refreshQueueSoon() {
  if (queueTimer) return;
  const wait = Math.max(0, lastQueueRead + QUEUE_MIN_INTERVAL_MS - Date.now());
  queueTimer = setTimeout(async () => {
    lastQueueRead = Date.now();
    try {
      state.applyQueue(await getJson(`/queue?limit=${QUEUE_GROUPS}`), Date.now());
      schedule();
    } catch (err) {
      handleError(err, "reading the queue");
    } finally {
      queueTimer = null;
    }
  }, wait);
}

function applyEvent(type, data) {
  if (type === "job" && data && data.job_id) {
    const known = state.jobs.get(data.job_id);
    if (state.applyJob(data)) {
      if (!known || data.status === "queued" || known.status === "queued") refreshQueueSoon();
      const f = state.failures.find((x) => x.job_id === data.job_id);
      if (f && f.log_tail === null) fetchLogTail(data.job_id);
    }
  } else if (type === "worker" && data && data.worker_id) {
    state.applyWorker(data);
  }
}

function onEvent(type, data) {
  if (type === "resync") {
    loadState("resync");
    return;
  }
  if (held) held.push([type, data]);
  else applyEvent(type, data);
  schedule();
}

let opened = false;
const stream = new EventStream({
  onEvent,
  onState(kind, detail) {
    if (kind === "open") {
      if (!opened) {
        opened = true;
        loadState("first open");
      } else if (!loading) {
        setConnection("live", "live");
      }
    } else if (kind === "unauthorized") {
      showTokenForm("");
    } else {
      setConnection("reconnecting", `reconnecting: ${detail}`);
    }
  },
});

// --- Log tails of failures, a few requests at a time
const tailQueue = [];
const tailTries = new Map();  // job id -> reads that found it not final yet
const FINAL_STATES = new Set(["passed", "failed", "timed_out", "error", "cancelled", "dead"]);
const LOG_TAIL_TRIES = 10;
const LOG_TAIL_RETRY_MS = 300;
let tailFetches = 0;
function fetchLogTail(jobId) {
  if (!tailQueue.includes(jobId)) tailQueue.push(jobId);
  while (tailFetches < LOG_TAIL_FETCHES && tailQueue.length > 0) {
    const id = tailQueue.shift();
    tailFetches += 1;
    getJson(`/jobs/${encodeURIComponent(id)}`)
      .then((job) => {
        // A failure can be shown from an event that arrives before the store holds the
        // report (a worker publishes its own events): read again shortly, a few times.
        const tries = (tailTries.get(id) || 0) + 1;
        if (!FINAL_STATES.has(job.status) && tries < LOG_TAIL_TRIES) {
          tailTries.set(id, tries);
          setTimeout(() => fetchLogTail(id), LOG_TAIL_RETRY_MS);
          return;
        }
        tailTries.delete(id);
        state.setLogTail(id, job.log_tail || "");
      })
      .catch((err) => state.setLogTail(id, `(could not read: ${err.message})`))
      .finally(() => {
        tailFetches -= 1;
        schedule();
        if (tailQueue.length > 0) fetchLogTail(tailQueue[0]);
      });
  }
}

// --- Token
function showTokenForm(message) {
  stream.stop();
  setConnection("unauthorized", "a bearer token is needed");
  $("token-form").hidden = false;
  $("token-error").textContent = message;
  $("token-input").focus();
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  setToken($("token-input").value.trim());
  $("token-input").value = "";
  $("token-form").hidden = true;
  opened = false;
  stream.start();
});

// --- Filters, periodic reads, the clock
function applyFilter() {
  views.setDeviceFilter($("device-filter").value, $("device-search").value);
  schedule();
}
$("device-filter").addEventListener("change", applyFilter);
$("device-search").addEventListener("input", applyFilter);

setInterval(async () => {
  if (loading || !opened) return;
  try {
    const [workers, stats] = await Promise.all([getJson("/workers"), getJson("/stats")]);
    state.applyWorkers(workers);
    state.jobsPerSec = typeof stats.jobs_per_sec === "number" ? stats.jobs_per_sec : null;
    state.forgetFinishedBuilds(Date.now());
    refreshQueueSoon();
    schedule();
  } catch (err) {
    handleError(err, "reading the workers");
  }
}, SAFETY_NET_MS);

setInterval(() => {
  if (!document.hidden) views.tick(Date.now());
}, 1000);

takeTokenFromFragment();
stream.start();
schedule();

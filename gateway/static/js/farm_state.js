// What the dashboard knows about the farm: devices, jobs by build, the queue, recent failures and
// finished jobs per 10 s. Filled from the REST answers (the state) and the event stream (the
// changes since); no DOM here. Every change marks what it touched in `dirty`, which the view
// reads and clears once per animation frame.
//
// Events are hints and can arrive before a snapshot that is older than they are, so an event
// older than what is known of its job (at_ms < updated_ms) is ignored.

export const FINAL = new Set(["passed", "failed", "timed_out", "error", "cancelled", "dead"]);
export const FAILED = new Set(["failed", "timed_out", "error", "dead"]);
export const ACTIVE = new Set(["assigned", "installing", "running"]);
export const STATUS_ORDER = ["passed", "failed", "timed_out", "error", "dead", "cancelled", "running", "installing",
  "assigned", "queued"];

const MAX_FAILURES = 20;
const MAX_JOBS = 60000;               // past it, finished builds are forgotten, oldest first
const FINISHED_BUILD_KEEP_MS = 10 * 60 * 1000;
export const BUCKET_MS = 10000;
export const BUCKETS = 30;            // 5 minutes of 10 s buckets

export class FarmState {
  constructor() {
    this.devices = new Map();   // worker_id -> device
    this.jobs = new Map();      // job_id -> {status, build, test_path, worker_id, updated_ms}
    this.jobsByStatus = {};     // status -> jobs in this.jobs, kept as they change (summary() reads it)
    this.builds = new Map();    // "org/app" -> {org_id, app_version_id, counts, total, last_ms, finished_ms}
    this.queue = { groups: [], by_status: {}, fetched_ms: 0, more: false };
    this.failures = [];         // newest first
    this.finished = new Map();  // bucket index -> jobs finished in it
    this.jobsPerSec = null;     // from /stats
    this.dirty = { devices: new Set(), deviceOrder: true, builds: true, queue: true, failures: true, summary: true };
  }

  device(workerId) {
    let d = this.devices.get(workerId);
    if (!d) {
      d = { worker_id: workerId, device_id: "", targets: [], state: "", installed: new Set(), group_key: "",
            last_seen_ms: 0, state_ms: 0, job: null };
      this.devices.set(workerId, d);
      this.dirty.deviceOrder = true;
    }
    this.dirty.devices.add(workerId);
    this.dirty.summary = true;
    return d;
  }

  // GET /workers. Devices the broker no longer lists stay on the page, marked lost (or left).
  applyWorkers(reply) {
    const seen = new Set();
    for (const w of reply.workers || []) {
      seen.add(w.worker_id);
      const d = this.device(w.worker_id);
      d.device_id = w.device_id || "";
      d.targets = w.targets || [];
      // A lost or left event newer than the worker's last sign of life outranks this answer.
      const goneSince = d.state === "lost" || d.state === "left" ? d.state_ms : 0;
      if (!(goneSince > (w.last_seen_ms || 0))) d.state = w.state || "";
      d.installed = new Set(w.installed || []);
      d.group_key = w.group_key || "";
      d.last_seen_ms = Math.max(d.last_seen_ms, w.last_seen_ms || 0);
      if (d.state !== "busy") d.job = null;
    }
    for (const [id, d] of this.devices) {
      if (seen.has(id) || d.state === "lost" || d.state === "left") continue;
      d.state = "lost";
      d.job = null;
      this.dirty.devices.add(id);
    }
  }

  applyQueue(reply, now) {
    this.queue = { groups: reply.groups || [], by_status: reply.by_status || {}, fetched_ms: now,
                   more: !!reply.next_cursor };
    this.dirty.queue = true;
    this.dirty.summary = true;
  }

  // Forgets every job and build: a snapshot of recent jobs follows (after a resync).
  resetJobs() {
    this.jobs.clear();
    this.jobsByStatus = {};
    this.builds.clear();
    for (const d of this.devices.values()) {
      if (d.job) {
        d.job = null;
        this.dirty.devices.add(d.worker_id);
      }
    }
    this.dirty.builds = true;
  }

  // GET /jobs records (newest first).
  applyJobRecords(records) {
    for (let i = records.length - 1; i >= 0; --i) {
      const j = records[i];
      this.applyJob({ job_id: j.id, org_id: j.org_id, app_version_id: j.app_version_id, status: j.status,
                      worker_id: j.worker_id, test_path: j.test_path, at_ms: j.updated_at_ms,
                      message: j.last_error, log_tail: j.log_tail, snapshot: true });
    }
  }

  // A JOB event (or a record from a snapshot). Returns true when it changed what is known.
  applyJob(e) {
    const prev = this.jobs.get(e.job_id);
    if (prev && (prev.updated_ms > e.at_ms || (prev.status === e.status && prev.worker_id === e.worker_id))) {
      return false;
    }
    const build = `${e.org_id}/${e.app_version_id}`;
    const job = { status: e.status, build, test_path: e.test_path || (prev && prev.test_path) || "",
                  worker_id: e.worker_id || "", updated_ms: e.at_ms };
    this.jobs.set(e.job_id, job);
    if (prev) this.jobsByStatus[prev.status] -= 1;
    this.jobsByStatus[e.status] = (this.jobsByStatus[e.status] || 0) + 1;
    this.countInBuild(build, e, prev);
    this.moveDevice(e, job, prev);
    if (FINAL.has(e.status) && !(prev && FINAL.has(prev.status))) {
      const bucket = Math.floor(e.at_ms / BUCKET_MS);
      this.finished.set(bucket, (this.finished.get(bucket) || 0) + 1);
      this.dirty.summary = true;
      if (FAILED.has(e.status)) this.addFailure(e, job);
    }
    if (this.jobs.size > MAX_JOBS) this.forgetFinishedBuilds(Date.now());
    return true;
  }

  countInBuild(build, e, prev) {
    let b = this.builds.get(build);
    if (!b) {
      b = { org_id: e.org_id, app_version_id: e.app_version_id, counts: {}, total: 0, last_ms: 0, finished_ms: 0 };
      this.builds.set(build, b);
    }
    if (prev && prev.build === build) b.counts[prev.status] -= 1;
    else b.total += 1;
    b.counts[e.status] = (b.counts[e.status] || 0) + 1;
    b.last_ms = Math.max(b.last_ms, e.at_ms);
    let done = 0;
    for (const s of FINAL) done += b.counts[s] || 0;
    b.finished_ms = done === b.total ? b.last_ms : 0;
    this.dirty.builds = true;
  }

  moveDevice(e, job, prev) {
    if (prev && prev.worker_id && prev.worker_id !== job.worker_id) this.releaseDevice(prev.worker_id, e.job_id);
    if (!job.worker_id) return;
    if (ACTIVE.has(e.status)) {
      const d = this.device(job.worker_id);
      d.job = { job_id: e.job_id, build: job.build, test_path: job.test_path, status: e.status };
      d.group_key = "";
      if (d.state !== "draining") d.state = "busy";
      if (e.status === "running") d.installed.add(job.build);
      if (!e.snapshot) d.last_seen_ms = Math.max(d.last_seen_ms, e.at_ms);
    } else {
      this.releaseDevice(job.worker_id, e.job_id);
    }
  }

  releaseDevice(workerId, jobId) {
    const d = this.devices.get(workerId);
    if (!d || !d.job || d.job.job_id !== jobId) return;
    d.job = null;
    if (d.state === "busy") d.state = "idle";
    this.dirty.devices.add(workerId);
    this.dirty.summary = true;
  }

  addFailure(e, job) {
    if (this.failures.some((f) => f.job_id === e.job_id)) return;
    this.failures.unshift({ job_id: e.job_id, build: job.build, test_path: job.test_path, status: e.status,
                            worker_id: job.worker_id, at_ms: e.at_ms, message: e.message || "",
                            log_tail: e.log_tail === undefined ? null : e.log_tail });
    this.failures.sort((a, b) => b.at_ms - a.at_ms);
    this.failures.length = Math.min(this.failures.length, MAX_FAILURES);
    this.dirty.failures = true;
  }

  setLogTail(jobId, tail) {
    const f = this.failures.find((x) => x.job_id === jobId);
    if (f) {
      f.log_tail = tail;
      this.dirty.failures = true;
    }
  }

  // A WORKER event: joined, lost, left.
  applyWorker(e) {
    const d = this.device(e.worker_id);
    d.last_seen_ms = Math.max(d.last_seen_ms, e.at_ms);
    if (e.state === "joined") {
      if (d.state === "" || d.state === "lost" || d.state === "left") d.state = "idle";
    } else if (e.state === "lost" || e.state === "left") {
      d.state = e.state;
      d.state_ms = e.at_ms;
      d.job = null;
    }
  }

  // Finished builds past their keeping time are dropped, with their jobs; over MAX_JOBS jobs, the
  // older half of the finished builds goes too.
  forgetFinishedBuilds(now) {
    const finished = [...this.builds.entries()].filter(([, b]) => b.finished_ms > 0)
      .sort((x, y) => x[1].finished_ms - y[1].finished_ms);
    const half = this.jobs.size > MAX_JOBS ? Math.ceil(finished.length / 2) : 0;
    const drop = new Set();
    for (let i = 0; i < finished.length; ++i) {
      const [key, b] = finished[i];
      if (i >= half && now - b.finished_ms < FINISHED_BUILD_KEEP_MS) break;
      drop.add(key);
    }
    if (drop.size === 0) return;
    for (const key of drop) this.builds.delete(key);
    for (const [id, j] of this.jobs) {
      if (!drop.has(j.build)) continue;
      this.jobs.delete(id);
      this.jobsByStatus[j.status] -= 1;
    }
    this.dirty.builds = true;
  }

  finishedPerMinute(now) {
    const last = Math.floor(now / BUCKET_MS);
    let n = 0;
    for (let b = last - 5; b <= last; ++b) n += this.finished.get(b) || 0;
    return n;
  }

  // Finished jobs per bucket, oldest first, over the last BUCKETS buckets.
  throughput(now) {
    const last = Math.floor(now / BUCKET_MS);
    for (const b of this.finished.keys()) if (b <= last - BUCKETS) this.finished.delete(b);
    const out = [];
    for (let b = last - BUCKETS + 1; b <= last; ++b) out.push(this.finished.get(b) || 0);
    return out;
  }

  // Jobs by status over what is known: the queue's figures when the caller may see them.
  summary(now) {
    let busy = 0;
    let lost = 0;
    for (const d of this.devices.values()) {
      if (d.state === "busy") busy += 1;
      else if (d.state === "lost" || d.state === "left") lost += 1;
    }
    const counts = this.jobsByStatus;
    const q = this.queue.by_status;
    const queued = q.queued !== undefined ? q.queued : counts.queued || 0;
    const running = (counts.running || 0) + (counts.installing || 0) + (counts.assigned || 0);
    return { devices: this.devices.size, busy, lost, queued, running, perMinute: this.finishedPerMinute(now) };
  }
}

// The page's views of FarmState. render() runs at most once per animation frame and touches only
// what `state.dirty` names: device rows are kept by worker id and rewritten one by one, lists are
// capped, so 500 devices and 10,000 queued jobs cost a few hundred cell writes per frame at most.
// Everything from the wire goes in through textContent or attributes, never as markup.

import { BUCKETS, FAILED, FINAL, STATUS_ORDER } from "./farm_state.js";

const MAX_DEVICE_ROWS = 100;
export const MAX_QUEUE_ROWS = 100;
const MAX_BUILDS = 30;

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

export function age(ms) {
  if (!(ms >= 0)) return "–";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const byNumber = new Intl.Collator(undefined, { numeric: true });

export class Views {
  constructor(state) {
    this.state = state;
    this.deviceRows = new Map();  // worker_id -> {tr, cells}, for the devices on screen only
    this.passes = new Map();      // worker_id -> whether the filter passed it at the last ordering
    this.buildItems = new Map();  // build -> li
    this.failureItems = new Map();
    this.queueRows = [];
    this.bars = [];
    this.deviceFilter = "all";
    this.deviceSearch = "";
    for (let i = 0; i < BUCKETS; ++i) this.bars.push($("throughput-bars").appendChild(el("span")));
  }

  setDeviceFilter(filter, search) {
    this.deviceFilter = filter;
    this.deviceSearch = search.trim().toLowerCase();
    this.state.dirty.deviceOrder = true;
  }

  render(now) {
    const dirty = this.state.dirty;
    if (dirty.deviceOrder) this.renderDeviceOrder();
    for (const id of dirty.devices) this.renderDevice(id, now);
    dirty.devices.clear();
    dirty.deviceOrder = false;
    if (dirty.builds) this.renderBuilds();
    if (dirty.queue) this.renderQueue(now);
    if (dirty.failures) this.renderFailures();
    if (dirty.summary) this.renderSummary(now);
    dirty.builds = dirty.queue = dirty.failures = dirty.summary = false;
  }

  // Once a second: ages and last-seen times move on.
  tick(now) {
    for (const id of this.deviceRows.keys()) this.renderLastSeen(id, now);
    this.renderQueueAges(now);
    this.renderSummary(now);
  }

  visible(d) {
    const lost = d.state === "lost" || d.state === "left";
    if (this.deviceFilter === "lost" && !lost) return false;
    if ((this.deviceFilter === "busy" || this.deviceFilter === "idle") && d.state !== this.deviceFilter) return false;
    if (!this.deviceSearch) return true;
    return d.worker_id.toLowerCase().includes(this.deviceSearch) || d.device_id.toLowerCase().includes(this.deviceSearch);
  }

  // The rows of the devices the filter and search pass, in worker-id order, at most
  // MAX_DEVICE_ROWS of them; rows exist only for devices on screen (a 500-device farm keeps a
  // hundred rows, not five hundred), and the note says how many more there are.
  renderDeviceOrder() {
    const ids = [...this.state.devices.keys()].sort(byNumber.compare);
    const fragment = document.createDocumentFragment();
    const onScreen = new Set();
    let matching = 0;
    this.passes.clear();
    for (const id of ids) {
      const passes = this.visible(this.state.devices.get(id));
      this.passes.set(id, passes);
      if (!passes) continue;
      matching += 1;
      if (onScreen.size >= MAX_DEVICE_ROWS) continue;
      let row = this.deviceRows.get(id);
      if (!row) {
        row = this.makeDeviceRow(id);
        this.state.dirty.devices.add(id);
      }
      onScreen.add(id);
      fragment.appendChild(row.tr);
    }
    for (const id of this.deviceRows.keys()) if (!onScreen.has(id)) this.deviceRows.delete(id);
    $("device-rows").replaceChildren(fragment);
    const total = ids.length;
    const shown = onScreen.size;
    let note = `${total} devices`;
    if (shown < matching) {
      note = `showing ${shown} of ${matching === total ? "" : `${matching} matching, `}${total} devices; ` +
        `${matching - shown} more: narrow them with the filter or the search`;
    } else if (matching < total) {
      note = `${matching} of ${total} devices match`;
    }
    setText($("devices-note"), note);
  }

  makeDeviceRow(id) {
    const tr = el("tr");
    tr.dataset.workerId = id;
    const cells = {};
    for (const name of ["worker", "device", "state", "build", "test", "installed", "seen"]) {
      cells[name] = tr.appendChild(el("td", name === "test" || name === "installed" ? "clip" : ""));
    }
    cells.badge = cells.state.appendChild(el("span", "state"));
    setText(cells.worker, id);
    const row = { tr, cells };
    this.deviceRows.set(id, row);
    return row;
  }

  renderDevice(id, now) {
    const d = this.state.devices.get(id);
    if (!d) return;
    if (this.visible(d) !== (this.passes.get(id) || false)) this.state.dirty.deviceOrder = true;  // next frame
    const row = this.deviceRows.get(id);
    if (!row) return;
    const c = row.cells;
    row.tr.dataset.state = d.state || "unknown";
    setText(c.device, d.device_id);
    setText(c.badge, d.state || "?");
    const build = d.job ? d.job.build : d.group_key;
    setText(c.build, build);
    row.tr.dataset.build = build;
    setText(c.test, d.job ? `${d.job.test_path} (${d.job.status})` : "");
    c.test.title = c.test.textContent;
    const installed = [...d.installed].sort();
    setText(c.installed, installed.length === 0 ? "" : `${installed.length}: ${installed.join(", ")}`);
    c.installed.title = installed.join("\n");
    this.renderLastSeen(id, now);
  }

  renderLastSeen(id, now) {
    const d = this.state.devices.get(id);
    const row = this.deviceRows.get(id);
    if (d && row && row.tr.isConnected) setText(row.cells.seen, d.last_seen_ms ? `${age(now - d.last_seen_ms)} ago` : "–");
  }

  renderBuilds() {
    const builds = [...this.state.builds.entries()]
      .sort((x, y) => (x[1].finished_ms > 0) - (y[1].finished_ms > 0) || y[1].last_ms - x[1].last_ms)
      .slice(0, MAX_BUILDS);
    const keep = new Set(builds.map(([key]) => key));
    for (const [key, li] of this.buildItems) {
      if (!keep.has(key)) {
        li.remove();
        this.buildItems.delete(key);
      }
    }
    const fragment = document.createDocumentFragment();
    for (const [key, b] of builds) fragment.appendChild(this.renderBuild(key, b));
    $("build-list").replaceChildren(fragment);
    const hidden = this.state.builds.size - builds.length;
    setText($("builds-note"), hidden > 0 ? `${hidden} more builds not shown` : "");
  }

  renderBuild(key, b) {
    let li = this.buildItems.get(key);
    if (!li) {
      li = el("li");
      li.dataset.build = key;
      const head = li.appendChild(el("div", "build-head"));
      head.appendChild(el("span", "build-name", key));
      head.appendChild(el("span", "build-done"));
      const bar = li.appendChild(el("div", "progress"));
      for (const s of STATUS_ORDER) bar.appendChild(el("span", `seg-${s}`)).title = s;
      li.appendChild(el("div", "build-counts"));
      this.buildItems.set(key, li);
    }
    let done = 0;
    const parts = [];
    for (const s of STATUS_ORDER) {
      const n = b.counts[s] || 0;
      if (FINAL.has(s)) done += n;
      if (n > 0) parts.push(`${n} ${s.replace("_", " ")}`);
    }
    li.dataset.done = String(done);
    li.dataset.total = String(b.total);
    li.dataset.finished = String(b.finished_ms > 0);
    li.dataset.failed = String(STATUS_ORDER.filter((s) => FAILED.has(s)).reduce((n, s) => n + (b.counts[s] || 0), 0));
    setText(li.querySelector(".build-done"), `${done}/${b.total} done`);
    const segments = li.querySelector(".progress").children;
    STATUS_ORDER.forEach((s, i) => {
      segments[i].style.flexGrow = String(b.counts[s] || 0);
    });
    setText(li.querySelector(".build-counts"), parts.join(" · "));
    return li;
  }

  renderQueue(now) {
    const q = this.state.queue;
    const groups = q.groups.slice(0, MAX_QUEUE_ROWS);
    const body = $("queue-rows");
    while (this.queueRows.length < groups.length) {
      const tr = el("tr");
      const cells = ["rank", "group", "target", "depth", "priority", "age"].map((n) =>
        tr.appendChild(el("td", n === "group" ? "wrap" : "")));
      this.queueRows.push({ tr, cells });
    }
    groups.forEach((g, i) => {
      const { tr, cells } = this.queueRows[i];
      tr.dataset.group = g.key;
      tr.dataset.claimable = String(g.claimable);
      setText(cells[0], String(i + 1));
      setText(cells[1], `${g.org_id}/${g.app_version_id}${g.claimable ? "" : " (batching)"}`);
      setText(cells[2], g.target);
      setText(cells[3], String(g.depth));
      setText(cells[4], g.highest_priority);
      if (!tr.isConnected) body.appendChild(tr);
    });
    for (let i = groups.length; i < this.queueRows.length; ++i) this.queueRows[i].tr.remove();
    this.renderQueueAges(now);
    // The rows name the first groups in claim order; the note says what lies beyond them.
    const queued = q.by_status.queued;
    const inRows = groups.reduce((n, g) => n + g.depth, 0);
    let note = `${groups.length} groups, ${inRows} queued jobs`;
    if (queued !== undefined && queued > inRows) {
      note = `first ${groups.length} groups shown (${inRows} jobs); ${queued - inRows} more queued jobs in further ` +
        `groups, ${queued} in all`;
    } else if (q.more) {
      note += "; more groups beyond these";
    }
    setText($("queue-note"), note);
  }

  renderQueueAges(now) {
    const q = this.state.queue;
    const n = Math.min(q.groups.length, this.queueRows.length);
    for (let i = 0; i < n; ++i) setText(this.queueRows[i].cells[5], age(q.groups[i].oldest_age_ms + (now - q.fetched_ms)));
  }

  renderFailures() {
    const list = $("failure-list");
    const keep = new Set(this.state.failures.map((f) => f.job_id));
    for (const [id, li] of this.failureItems) {
      if (!keep.has(id)) {
        li.remove();
        this.failureItems.delete(id);
      }
    }
    const fragment = document.createDocumentFragment();
    for (const f of this.state.failures) {
      let li = this.failureItems.get(f.job_id);
      if (!li) {
        li = el("li");
        li.dataset.jobId = f.job_id;
        const head = li.appendChild(el("div"));
        head.appendChild(el("span", `status-${f.status}`, f.status.replace("_", " ")));
        head.appendChild(document.createTextNode(` ${f.build} · ${f.test_path} · ${f.worker_id || "no worker"} · `));
        head.appendChild(el("time", "", new Date(f.at_ms).toLocaleTimeString()));
        if (f.message) li.appendChild(el("div", "note", f.message));
        const details = li.appendChild(el("details"));
        details.appendChild(el("summary", "", "log tail"));
        details.appendChild(el("pre", "log-tail"));
        this.failureItems.set(f.job_id, li);
      }
      setText(li.querySelector(".log-tail"), f.log_tail === null ? "loading…" : f.log_tail || "(no output)");
      fragment.appendChild(li);
    }
    list.replaceChildren(fragment);
  }

  renderSummary(now) {
    const s = this.state.summary(now);
    setText($("sum-devices"), String(s.devices));
    setText($("sum-busy"), String(s.busy));
    setText($("sum-lost"), String(s.lost));
    setText($("sum-queued"), String(s.queued));
    setText($("sum-running"), String(s.running));
    setText($("sum-rate"), String(s.perMinute));
    const counts = this.state.throughput(now);
    const max = Math.max(1, ...counts);
    counts.forEach((n, i) => {
      this.bars[i].style.height = `${(100 * n) / max}%`;
      this.bars[i].title = `${n} jobs`;
    });
    const rate = this.state.jobsPerSec;
    setText($("throughput-note"), `jobs finished per 10 s, last 5 min (max ${max})` +
      (rate === null ? "" : ` · broker: ${rate.toFixed(2)} jobs/s over the last minute`));
  }
}

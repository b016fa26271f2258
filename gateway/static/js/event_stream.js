// GET /api/v1/events read as Server-Sent Events over fetch() rather than EventSource, so that
// the bearer token travels in the Authorization header (EventSource cannot set headers) and the
// reconnection is ours: after any end or error the stream is opened again with Last-Event-ID,
// after a delay that grows from 250 ms to the server's `retry:` (2 s by default) and at most 10 s.
//
// Callbacks: onEvent(type, data, id) for every named event ("job", "worker", "resync"); data is
// the parsed JSON, or null when it is not JSON. onState(state, detail) with "open",
// "reconnecting" or "unauthorized". An id-only block (the server's keepalive) moves the resume
// point and calls nothing.

import { authHeaders } from "./api.js";

export class EventStream {
  constructor({ onEvent, onState, filter = "" }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.filter = filter;
    this.lastEventId = "";
    this.retryMs = 2000;
    this.controller = null;
    this.stopped = false;
    this.failures = 0;
  }

  start() {
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    while (!this.stopped) {
      let detail = "";
      try {
        await this.readOnce();
        detail = "the stream ended";
      } catch (err) {
        if (this.stopped) return;
        if (err && err.unauthorized) {
          this.onState("unauthorized", "");
          return;
        }
        detail = err && err.message ? err.message : String(err);
      }
      if (this.stopped) return;
      this.failures += 1;
      const delay = Math.min(250 * 2 ** (this.failures - 1), Math.max(this.retryMs, 250), 10000);
      this.onState("reconnecting", `${detail}; again in ${Math.round(delay)} ms`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  async readOnce() {
    this.controller = new AbortController();
    const headers = { Accept: "text/event-stream", ...authHeaders() };
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    const res = await fetch("/api/v1/events" + this.filter, {
      headers,
      signal: this.controller.signal,
      cache: "no-store",
    });
    if (res.status === 401) throw Object.assign(new Error("unauthorized"), { unauthorized: true });
    if (!res.ok || !res.body) throw new Error(`event stream: HTTP ${res.status}`);
    this.failures = 0;
    this.onState("open", "");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += value;
      // Blocks end at a blank line; "\r\n" and "\r" line ends are allowed by the format.
      buffered = buffered.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffered.indexOf("\n\n")) >= 0) {
        this.dispatch(buffered.slice(0, end));
        buffered = buffered.slice(end + 2);
      }
    }
  }

  dispatch(block) {
    let type = "message";
    let id = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
      else if (field === "id" && !value.includes("\0")) id = value;
      else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    if (id !== null) this.lastEventId = id;
    if (data.length === 0) return;
    let parsed = null;
    try {
      parsed = JSON.parse(data.join("\n"));
    } catch {
      parsed = null;
    }
    this.onEvent(type, parsed, id);
  }
}

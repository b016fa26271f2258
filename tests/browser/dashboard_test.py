#!/usr/bin/python3
"""The dashboard in a real browser: headless Chromium, driven through chromedriver (WebDriver),
opens the page of a running stack (qg-broker, three qg-workers, qg-gateway as separate
processes on loopback), three builds are submitted through the REST API, and the page must show

  - each device taking its group (its row names the build),
  - each build's progress reaching all its results,
  - a worker killed with SIGKILL marked lost,

each within 2 s of the event that says so (the event's at_ms, stamped by the broker on this
machine's clock, against the moment a DOM poll first sees it). Text from the wire must stay
text: a test path holding markup appears literally and runs nothing. A screenshot is saved.

Usage: dashboard_test.py --bin-dir build/bin --source-dir . [--screenshot docs/dashboard.png]
Exit status 0 when every check passes; the figures are printed either way."""

import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import EventRecorder, Stack, wait_until  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

LIMIT_S = 2.0
ORG = "acme"
BUILDS = ["build-101", "build-102", "build-103"]
HOSTILE = "tests/<img src=x onerror=window.__pwned=1>.spec.ts"
TESTS = ["tests/login.spec.ts", "tests/cart.spec.ts", "tests/fail-checkout.spec.ts", HOSTILE,
         "tests/search.spec.ts", "tests/profile.spec.ts"]

# One read of what the page shows, in one WebDriver round trip.
SNAPSHOT_JS = """
const rows = {};
for (const tr of document.querySelectorAll('#device-rows tr')) {
  rows[tr.dataset.workerId] = {state: tr.dataset.state, build: tr.dataset.build || ''};
}
const builds = {};
for (const li of document.querySelectorAll('#build-list li')) {
  builds[li.dataset.build] = {done: +li.dataset.done, total: +li.dataset.total};
}
return {connection: document.getElementById('connection').dataset.state, rows, builds,
        failures: [...document.querySelectorAll('#failure-list li')].map((li) => li.dataset.jobId),
        tails: [...document.querySelectorAll('#failure-list .log-tail')].map((p) => p.textContent),
        injected: document.querySelectorAll('main img').length, pwned: window.__pwned === 1,
        text: document.querySelector('main').innerText};
"""


def chrome(source_dir):
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class Watch:
    """Polls the page; remembers when each condition was first seen (time.time())."""

    def __init__(self, driver):
        self.driver = driver
        self.first_seen = {}
        self.last = None
        self.hostile_shown = False  # the markup-holding test path seen as text
        self.injected = False       # an element or script from the wire seen

    def poll(self):
        self.last = self.driver.execute_script(SNAPSHOT_JS)
        seen_at = time.time()  # after the answer: a latency measured with it is never too small
        self.hostile_shown |= HOSTILE in self.last["text"]
        self.injected |= self.last["injected"] > 0 or self.last["pwned"]
        for worker_id, row in self.last["rows"].items():
            if row["build"]:
                self.first_seen.setdefault(("takes", worker_id, row["build"]), seen_at)
            if row["state"] == "lost":
                self.first_seen.setdefault(("lost", worker_id), seen_at)
        for build, b in self.last["builds"].items():
            if b["total"] > 0 and b["done"] == b["total"]:
                self.first_seen.setdefault(("done", build, b["total"]), seen_at)
        return self.last


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--screenshot", default="dashboard.png")
    args = ap.parse_args()

    failures = []

    def check(ok, message):
        print(("ok   " if ok else "FAIL ") + message, flush=True)
        if not ok:
            failures.append(message)

    stack = Stack(args.bin_dir, args.source_dir, workers=3, test_seconds="1.5",
                  broker_args=["--lease-ms", "2000", "--heartbeat-ms", "500"])
    driver = None
    events = None
    try:
        events = EventRecorder(stack.port)
        driver = chrome(args.source_dir)
        driver.set_script_timeout(10)
        driver.get(stack.url + "/")
        watch = Watch(driver)
        wait_until(lambda: (s := watch.poll())["connection"] == "live" and len(s["rows"]) == 3, 20,
                   "the page to be live with 3 devices")

        job_ids = {}
        for build in BUILDS:
            status, reply = stack.request("POST", "/api/v1/jobs", {
                "org_id": ORG, "app_version_id": build, "tests": TESTS, "target": "emulator", "max_attempts": 3})
            check(status == 201, f"POST /api/v1/jobs for {build} answered {status}")
            job_ids[build] = reply["job_ids"]

        # Every device takes a group.
        def all_taken():
            watch.poll()
            taken = {k[1] for k in watch.first_seen if k[0] == "takes"}
            return len(taken) == 3
        wait_until(all_taken, 30, "every device to show a build", interval=0.05)

        # Kill a busy worker once it is into its group, then wait for the builds to finish.
        time.sleep(1.0)  # lets the victim get into its group's tests: not a synchronisation
        victim = next(w for w, r in watch.poll()["rows"].items() if r["state"] == "busy")
        stack.workers[victim].kill(signal.SIGKILL)
        killed_at = time.time()
        print(f"killed {victim} (SIGKILL)")

        shot = []

        def finished():
            s = watch.poll()
            lost = s["rows"].get(victim, {}).get("state") == "lost"
            if lost and not shot:  # the picture: a device lost, builds still moving
                driver.save_screenshot(args.screenshot)
                shot.append(args.screenshot)
            done = all(s["builds"].get(f"{ORG}/{b}", {}).get("done") == len(TESTS) for b in BUILDS)
            # A tail reads "loading…" until its STATUS answer is in.
            tails_in = not any(t.startswith("loading") for t in s["tails"])
            return lost and done and len(s["failures"]) >= len(BUILDS) and tails_in
        wait_until(finished, 60, "the builds to finish and the killed worker to be shown lost", interval=0.05)
        final = watch.poll()

        # Latencies: first DOM sighting against the event's at_ms.
        def first_event(pred):
            found = events.find(pred)
            return found[0][1] if found else None

        for worker_id in sorted(stack.workers):
            for build in BUILDS:
                key = ("takes", worker_id, f"{ORG}/{build}")
                if key not in watch.first_seen:
                    continue
                e = first_event(lambda t, d: t == "job" and d["worker_id"] == worker_id and
                                d["app_version_id"] == build and d["status"] in ("assigned", "installing", "running"))
                if e is None:
                    check(False, f"{worker_id} shown with {build} but no event says so")
                    continue
                lag = watch.first_seen[key] - e["at_ms"] / 1000
                check(lag <= LIMIT_S, f"{worker_id} shown taking {build} {lag * 1000:.0f} ms after the event")
        for build in BUILDS:
            finals = events.find(lambda t, d: t == "job" and d["app_version_id"] == build and
                                 d["status"] in ("passed", "failed", "timed_out", "error", "dead", "cancelled"))
            last_final = max(d["at_ms"] for _, d, _ in finals) / 1000 if finals else None
            key = ("done", f"{ORG}/{build}", len(TESTS))
            if last_final is None or key not in watch.first_seen:
                check(False, f"{build}: no final events ({len(finals)}) or never shown done")
                continue
            lag = watch.first_seen[key] - last_final
            check(lag <= LIMIT_S, f"{build} shown with all {len(TESTS)} results {lag * 1000:.0f} ms after the last")
        lost = first_event(lambda t, d: t == "worker" and d["worker_id"] == victim and d["state"] == "lost")
        check(lost is not None, f"a WORKER lost event for {victim} arrived")
        if lost is not None:
            lag = watch.first_seen[("lost", victim)] - lost["at_ms"] / 1000
            check(lag <= LIMIT_S, f"{victim} shown lost {lag * 1000:.0f} ms after the event "
                                  f"({lost['at_ms'] / 1000 - killed_at:.2f} s after the kill)")

        # What the page shows, beyond timing.
        check(len(final["failures"]) == len(BUILDS), f"{len(final['failures'])} failures listed (one per build)")
        check(all("expect(locator)" in t for t in final["tails"]), f"each failure shows its log tail {[t[:80] for t in final['tails']]}")
        check(watch.hostile_shown, "a test path holding markup is shown as text")
        check(not watch.injected, "no markup from the wire was run or inserted")
        logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        check(not logs, f"no errors in the browser console {logs[:3]}")

        print(f"screenshot: {args.screenshot}")
    except Exception as e:  # noqa: BLE001 - reported with the processes' logs
        failures.append(repr(e))
        print(f"FAIL {e!r}\n{stack.logs()}", flush=True)
    finally:
        if events:
            events.close()
        if driver:
            driver.quit()
        stack.close()
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

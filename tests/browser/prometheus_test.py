#!/usr/bin/python3
"""GET /metrics read by a real Prometheus: a stack (qg-broker, two qg-workers, qg-gateway with a
tokens file) runs a build submitted through the REST API; then

  - the scrape passes `promtool check metrics`, and holds the build's jobs by org, target and
    status, the test-duration, install and wait histograms, workers by state, broker latency;
  - only an admin token may scrape (an org token: 403 FORBIDDEN, none: 401);
  - Prometheus (Debian `prometheus`, on a free loopback port, scraping every second with the
    admin token from a file) answers a query for the finished jobs through /api/v1/query.

Every wait has a deadline. Usage: prometheus_test.py --bin-dir build/bin --source-dir ."""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Process, Stack, free_port, wait_until  # noqa: E402

ADMIN = "admin-token-for-prometheus-0123456789"
ORG = "org-token-for-acme-0123456789abcdef"
TESTS = ["tests/a.spec.ts", "tests/b.spec.ts", "tests/c.spec.ts", "tests/fail-d.spec.ts"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    failures = []

    def check(ok, message):
        print(("ok   " if ok else "FAIL ") + message, flush=True)
        if not ok:
            failures.append(message)

    work = tempfile.TemporaryDirectory(prefix="qg-prom-")
    tokens = os.path.join(work.name, "tokens")
    with open(tokens, "w") as f:
        f.write(f"{ADMIN} admin\n{ORG} org:acme\n")
    token_file = os.path.join(work.name, "scrape-token")
    with open(token_file, "w") as f:
        f.write(ADMIN)
    admin = {"Authorization": "Bearer " + ADMIN}

    stack = Stack(args.bin_dir, args.source_dir, workers=2, test_seconds="0.2",
                  gateway_args=["--tokens-file", tokens])
    prometheus = None
    try:
        status, reply = stack.request("POST", "/api/v1/jobs", {"org_id": "acme", "app_version_id": "v7",
                                                               "tests": TESTS, "target": "emulator"}, admin)
        check(status == 201, f"submit answered {status}")

        def finished():
            _, page = stack.request("GET", "/api/v1/jobs?org_id=acme&app_version_id=v7", headers=admin)
            return all(j["status"] in ("passed", "failed") for j in page["jobs"]) and len(page["jobs"]) == len(TESTS)
        wait_until(finished, 60, "the build to finish", interval=0.1)

        # The gateway counts from events, which may trail the jobs' records by a moment.
        def scrape_has_all():
            s, text = stack.request("GET", "/metrics", headers=admin)
            return s == 200 and 'qg_jobs_finished_total{org_id="acme",target="emulator",status="passed"} 3' in text \
                and text
        text = wait_until(scrape_has_all, 10, "the scrape to count the finished jobs", interval=0.1)
        scrape = os.path.join(work.name, "scrape.txt")
        with open(scrape, "w") as f:
            f.write(text)
        lint = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
        check(lint.returncode == 0, "promtool check metrics passes" +
              ("" if lint.returncode == 0 else ": " + (lint.stdout + lint.stderr).decode()))
        for pattern in [r'qg_jobs_finished_total\{org_id="acme",target="emulator",status="failed"\} 1\n',
                        r'qg_jobs_submitted_total\{org_id="acme",target="emulator"\} 4\n',
                        r'qg_test_duration_seconds_count\{target="emulator"\} 4\n',
                        r'qg_job_wait_seconds_count\{target="emulator"\} 4\n',
                        r'qg_install_duration_seconds_count\{target="emulator"\} [12]\n',
                        r'qg_tests_started_total\{target="emulator"\} 4\n',
                        r'qg_workers\{target="emulator",state="idle"\} 2\n',
                        r'qg_farm_jobs_finished\{org_id="acme",target="emulator",window="hour",status="passed"\} 3\n',
                        r'qg_farm_jobs_finished\{org_id="acme",target="emulator",window="day",status="failed"\} 1\n',
                        r'qg_farm_tests_run\{org_id="acme",target="emulator",window="hour"\} 4\n',
                        r'qg_farm_installs\{org_id="acme",target="emulator",window="hour"\} [12]\n',
                        r'qg_farm_success_ratio\{org_id="acme",target="emulator",window="hour"\} 0\.75\n',
                        r'qg_farm_test_duration_p50_seconds\{org_id="acme",target="emulator",window="hour"\} [0-9.]+\n',
                        r'qg_farm_oldest_queued_seconds\{org_id="acme",target="emulator"\} 0\n',
                        r'qg_gateway_broker_request_seconds_count\{command="LIST"\} [1-9]',
                        r'qg_gateway_event_gaps_total 0\n', r'qg_up 1\n']:
            check(re.search(pattern, text) is not None, f"the scrape holds /{pattern.strip()}/")
        s, _ = stack.request("GET", "/metrics", headers={"Authorization": "Bearer " + ORG})
        check(s == 403, f"an org token's scrape is refused ({s})")
        s, _ = stack.request("GET", "/metrics")
        check(s == 401, f"a scrape without a token is refused ({s})")

        port = free_port()
        config = os.path.join(work.name, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: qg-gateway
    static_configs:
      - targets: ["127.0.0.1:{stack.port}"]
    authorization:
      type: Bearer
      credentials_file: {token_file}
""")
        prometheus = Process("prometheus", [
            "prometheus", "--config.file", config, "--storage.tsdb.path", os.path.join(work.name, "tsdb"),
            "--web.listen-address", f"127.0.0.1:{port}", "--log.level", "warn"], work.name)

        def query(q):
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            try:
                with urllib.request.urlopen(url, timeout=5) as res:
                    body = json.load(res)
            except OSError:
                return None
            result = body.get("data", {}).get("result", [])
            return float(result[0]["value"][1]) if result else None

        passed = wait_until(lambda: query('qg_jobs_finished_total{org_id="acme",status="passed"}'), 30,
                            "Prometheus to hold the passed-jobs series", interval=0.2)
        check(passed == 3, f"Prometheus's query API answers qg_jobs_finished_total passed = {passed}")
        up = wait_until(lambda: query('up{job="qg-gateway"}') is not None and query('up{job="qg-gateway"}'), 10,
                        "up == 1", interval=0.2)
        check(up == 1, "Prometheus sees the gateway up")
    except Exception as e:  # noqa: BLE001 - reported with the processes' logs
        failures.append(repr(e))
        print(f"FAIL {e!r}\n{stack.logs()}\n{prometheus.text() if prometheus else ''}", flush=True)
    finally:
        if prometheus:
            prometheus.kill()
        stack.close()
        work.cleanup()
    print(f"{len(failures)} check(s) failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

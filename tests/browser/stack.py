"""A qgjob stack on loopback for the browser and Prometheus tests: qg-broker (memory store),
qg-worker processes and qg-gateway, each a separate process on free ports, with an SSE reader
that records every event the gateway streams and when it arrived. Everything started is
killed by close() (and by the context manager); every wait has a deadline."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what, interval=0.02):
    """Polls predicate until it returns something truthy; raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Process:
    def __init__(self, name, argv, log_dir, env=None, stdin=None):
        self.name = name
        self.log_path = os.path.join(log_dir, name + ".log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.popen = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=full_env,
                                      start_new_session=True, stdin=stdin)

    def tell(self, line):
        """Writes one line to the process's stdin (started with stdin=subprocess.PIPE)."""
        self.popen.stdin.write((line + "\n").encode())
        self.popen.stdin.flush()

    def running(self):
        return self.popen.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.popen.stdin:
            try:
                self.popen.stdin.close()
            except OSError:
                pass
        if self.running():
            self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)
        self.log.close()

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class EventRecorder:
    """Reads GET /api/v1/events on its own connection; keeps (type, data, received) in order."""

    def __init__(self, port, headers=None):
        self.events = []
        self.lock = threading.Lock()
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.conn.request("GET", "/api/v1/events", headers=headers or {})
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            raise RuntimeError(f"event stream: HTTP {self.response.status}")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        kind, data = "message", []
        try:
            for raw in self.response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data:
                        record = (kind, json.loads("\n".join(data)), time.time())
                        with self.lock:
                            self.events.append(record)
                    kind, data = "message", []
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return  # closed

    def find(self, predicate):
        with self.lock:
            return [e for e in self.events if predicate(e[0], e[1])]

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


class Stack:
    def __init__(self, bin_dir, source_dir, workers=3, test_seconds="1", broker_args=(), gateway_args=()):
        self.bin_dir = bin_dir
        self.source_dir = source_dir
        self.tmp = tempfile.TemporaryDirectory(prefix="qg-browser-")
        self.dir = self.tmp.name
        self.processes = []
        self.workers = {}
        self.test_seconds = test_seconds
        try:
            self._start_broker(list(broker_args))
            for i in range(workers):
                self.add_worker(f"worker-{i + 1}")
            self._start_gateway(list(gateway_args))
        except BaseException:
            self.close()
            raise

    def _start(self, name, argv, env=None, stdin=None):
        p = Process(name, argv, self.dir, env, stdin)
        self.processes.append(p)
        return p

    def _start_broker(self, extra):
        for attempt in range(5):
            self.ports = {k: free_port() for k in ("client", "worker", "events_in", "events_out")}
            ep = {k: f"tcp://127.0.0.1:{v}" for k, v in self.ports.items()}
            self.client_endpoint, self.events_out = ep["client"], ep["events_out"]
            self.worker_endpoint, self.events_in = ep["worker"], ep["events_in"]
            self.broker = self._start("broker", [
                os.path.join(self.bin_dir, "qg-broker"), "--store", "memory",
                "--client-endpoint", ep["client"], "--worker-endpoint", ep["worker"],
                "--events-in", ep["events_in"], "--events-out", ep["events_out"],
                "--broker-id", "broker-0", "--log-level", "debug"] + extra)
            if self._broker_answers():
                return
            if "Address already in use" not in self.broker.text() or attempt == 4:
                raise RuntimeError("broker did not come up:\n" + self.broker.text())

    def _broker_answers(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.broker.running():
            r = subprocess.run([os.path.join(self.bin_dir, "qgjob"), "--broker", self.client_endpoint, "health",
                                "--request-timeout", "1"], capture_output=True, timeout=10)
            if r.returncode == 0:
                return True
            time.sleep(0.05)
        return False

    def add_worker(self, worker_id, targets="emulator"):
        run = os.path.join(self.source_dir, "examples", "fake-appwright") + " test {test_path} --project {target}"
        install = "echo {app_version_id} {device_id} >> " + os.path.join(self.dir, "installs.log")
        p = self._start(worker_id, [
            os.path.join(self.bin_dir, "qg-worker"), "--broker", self.worker_endpoint, "--events", self.events_in,
            "--worker-id", worker_id, "--device-id", "dev-" + worker_id, "--targets", targets,
            "--workdir", os.path.join(self.dir, worker_id), "--install-cmd", install, "--run-cmd", run,
            "--job-timeout", "60", "--log-level", "debug"], env={"FAKE_APPWRIGHT_SLEEP": self.test_seconds})
        self.workers[worker_id] = p
        return p

    def add_sim_farm(self, devices, emulators, test_ms):
        """qg_sim_farm: `devices` simulated devices in one process on the broker's worker socket,
        the first `emulators` serving target emulator, the others target device; each test takes
        test_ms. Returns the process once every device's HELLO was answered; tell() it
        "silence <worker_id>" to make one device fall silent."""
        p = self._start("sim-farm", [
            os.path.join(self.bin_dir, "qg_sim_farm"), "--worker-endpoint", self.worker_endpoint,
            "--devices", str(devices), "--emulators", str(emulators), "--test-ms", str(test_ms)],
            stdin=subprocess.PIPE)

        def ready():
            if not p.running():
                raise RuntimeError("qg_sim_farm exited:\n" + p.text())
            return f"ready {devices}" in p.text()

        wait_until(ready, 60, "the simulated devices to say hello", interval=0.05)
        return p

    def _start_gateway(self, extra):
        self.gateway = self._start("gateway", [
            os.path.join(self.bin_dir, "qg-gateway"), "--listen", "127.0.0.1:0", "--broker", self.client_endpoint,
            "--events", self.events_out, "--log-level", "debug"] + extra)

        def port_line():
            m = re.search(r"qg-gateway: http://127\.0\.0\.1:(\d+)/", self.gateway.text())
            if not self.gateway.running():
                raise RuntimeError("gateway exited:\n" + self.gateway.text())
            return m and int(m.group(1))

        self.port = wait_until(port_line, 20, "the gateway's port line")
        self.url = f"http://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, headers=None, timeout=20):
        """(status, parsed JSON or text) of one request to the gateway."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            h = {"Content-Type": "application/json"} if data is not None else {}
            if method == "POST" and data is None:
                h["Content-Length"] = "0"
            h.update(headers or {})
            conn.request(method, path, body=data, headers=h)
            res = conn.getresponse()
            text = res.read().decode("utf-8", "replace")
            try:
                return res.status, json.loads(text)
            except ValueError:
                return res.status, text
        finally:
            conn.close()

    def logs(self):
        return "\n".join(f"--- {p.name}\n{p.text()[-4000:]}" for p in self.processes)

    def close(self):
        for p in reversed(self.processes):
            p.kill()
        self.processes = []
        self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

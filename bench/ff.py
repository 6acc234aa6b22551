"""Shared by the bench drivers: a small client of the fluidform API, process readings from
/proc, fleet seeding with concurrent PUTs, and medians with ranges."""
import base64
import concurrent.futures
import http.client
import json
import os
import statistics
import sys
import threading
import time
from datetime import datetime

CRED = {"registry": "registry.bench.example.com", "username": "bench", "password": "bench-password-0123456789"}


def die(msg):
    print(f"{os.path.basename(sys.argv[0])}: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def dockerconfigjson(cred=CRED):
    auth = base64.b64encode(f"{cred['username']}:{cred['password']}".encode()).decode()
    return json.dumps({"auths": {cred["registry"]: {"username": cred["username"], "password": cred["password"],
                                                     "auth": auth}}})


class Api:
    """One keep-alive connection; not shared between threads."""

    def __init__(self, addr, token, timeout=1800):
        self.addr, self.token, self.timeout = addr, token, timeout
        self.conn = http.client.HTTPConnection(addr, timeout=timeout)
        self.last_bytes = 0

    def call(self, method, path, body=None, accept="application/json", ok=(200, 201, 202, 204)):
        headers = {"Authorization": f"Bearer {self.token}", "Accept": accept}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, data, headers)
                r = self.conn.getresponse()
                raw = r.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # The daemon closes idle keep-alive connections; reconnect once.
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.addr, timeout=self.timeout)
        if r.status not in ok:
            die(f"{method} {path}: {r.status} {raw[:600]!r}")
        self.last_bytes = len(raw)
        if accept == "application/json":
            return json.loads(raw) if raw else None
        return raw.decode()


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def wait_run(api, run_id, t0=None, limit=3600):
    """Polls a run until it ends, backing off (20 ms up to 0.5 s) so polling does not steal
    the daemon's CPU; callers time the run from its own finishedAt."""
    t0 = t0 or time.time()
    while True:
        run = api.call("GET", f"/v1/runs/{run_id}")
        if run["status"] in ("succeeded", "failed"):
            return run
        elapsed = time.time() - t0
        if elapsed > limit:
            die(f"run {run_id} still {run['status']} after {limit} s")
        time.sleep(min(0.5, max(0.02, elapsed * 0.05)))


def cpu_seconds(pid):
    """User + system CPU seconds the process has used so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    """(VmRSS, VmHWM) of a process in kB."""
    with open(f"/proc/{pid}/status") as f:
        v = dict(line.split(":", 1) for line in f if ":" in line)
    return int(v["VmRSS"].split()[0]), int(v["VmHWM"].split()[0])


def runtime(name, labels=None, fleet=False):
    """The benchmark runtime: one global pull-secret layer on a managed credential (every
    component pulls with it), every component on the pod network, so that it takes no host
    ports from the cluster's range (5,000 ports, 9 per host-network runtime: a few hundred
    runtimes per cluster). `fleet` makes it one replica, many to a fake node."""
    spec = {
        "replicas": 1 if fleet else 2,
        "imagePullSecrets": [{"name": "global-secret"}],
        "tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "1Gi", "high": "0.95",
                                    "low": "0.7"}]},
        "properties": {"alluxio.user.file.writetype.default": "MUST_CACHE"},
    }
    for c in ("master", "worker", "fuse"):
        spec[c] = {"networkMode": "ContainerNetwork"}
    return {"apiVersion": "data.fluid.io/v1alpha1", "kind": "AlluxioRuntime",
            "metadata": {"name": name, "labels": labels or {"bench": "fluidform"}}, "spec": spec}


def shared_dataset(name):
    return {"apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset", "metadata": {"name": name},
            "spec": {"placement": "Shared"}}


def seed(addr, token, items, threads=8):
    """PUTs (path, body) items with `threads` concurrent keep-alive connections: every PUT is
    the API's own durable write; concurrency only keeps the single writer busy."""
    local = threading.local()

    def put(item):
        if not hasattr(local, "api"):
            local.api = Api(addr, token)
        local.api.call("PUT", item[0], item[1], ok=(200, 201))

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(put, items, chunksize=64):
            pass
    return time.perf_counter() - t0


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def mr(xs, fmt="{:.3f}"):
    """`median (min–max)` of a list."""
    if not xs:
        return "n/a"
    return f"{fmt.format(med(xs))} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)

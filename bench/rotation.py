"""Drives the rotation benchmark against a running daemon (started by bench/rotation.sh)."""
import argparse
import http.client
import json
import statistics
import subprocess
import sys
import time
from datetime import datetime


class Api:
    def __init__(self, addr, token):
        self.addr, self.token = addr, token
        self.conn = http.client.HTTPConnection(addr, timeout=900)

    def call(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body), "application/json"
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
                self.conn = http.client.HTTPConnection(self.addr, timeout=900)
        if r.status >= 300:
            sys.exit(f"{method} {path}: {r.status} {raw[:400]!r}")
        return json.loads(raw) if raw else None


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def wait_run(api, run_id):
    while True:
        r = api.call("GET", f"/v1/runs/{run_id}")
        if r["status"] in ("succeeded", "failed"):
            if r["status"] != "succeeded":
                sys.exit(f"run failed: {r.get('error')}")
            return r
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr"), ap.add_argument("--token"), ap.add_argument("--kubeconfig")
    ap.add_argument("--kubectl"), ap.add_argument("--n", type=int)
    a = ap.parse_args()
    api = Api(a.addr, a.token)
    api.call("PUT", "/v1/clusters/c1", {"kubeconfig": open(a.kubeconfig).read()})
    api.call("PUT", "/v1/credentials/global-secret", {"registry": "r.example.com", "username": "u", "password": "bench-v1"})
    for i in range(a.n):
        name, ns = f"rt{i}", f"bench-{i % 10}"
        spec = {"replicas": 1, "imagePullSecrets": [{"name": "global-secret"}],
                "tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "1Gi"}]},
                "master": {"networkMode": "ContainerNetwork"}, "worker": {"networkMode": "ContainerNetwork"},
                "fuse": {"networkMode": "ContainerNetwork"}}
        api.call("PUT", f"/v1/runtimes/{ns}/{name}?cluster=c1", {"apiVersion": "data.fluid.io/v1alpha1",
                 "kind": "AlluxioRuntime", "metadata": {"name": name}, "spec": spec})
    t0 = time.monotonic()
    plan = api.call("POST", "/v1/plans", {"all": True, "refresh": True, "createNamespaces": True})
    t1 = time.monotonic()
    run = api.call("POST", f"/v1/plans/{plan['id']}/apply")
    run = wait_run(api, run["id"])
    t2 = time.monotonic()
    base_per_rt = (t2 - t0) / a.n * 1000
    print(f"baseline: plan {t1 - t0:.1f} s + apply {t2 - t1:.1f} s for {a.n} runtimes = {base_per_rt:.1f} ms per runtime")
    # Wait for every pod (1 master + 1 worker per runtime) to be Ready.
    want = 2 * a.n
    deadline = time.monotonic() + 1800
    while True:
        out = subprocess.run([a.kubectl, "--kubeconfig", a.kubeconfig, "get", "pods", "-A", "--no-headers",
                              "-o", "custom-columns=R:.status.conditions[?(@.type=='Ready')].status"],
                             capture_output=True, text=True, check=True).stdout.split()
        if out.count("True") >= want:
            break
        if time.monotonic() > deadline:
            sys.exit(f"pods not ready: {out.count('True')} of {want}")
        time.sleep(2)
    api.call("POST", "/v1/credentials/global-secret/versions", {"registry": "r.example.com", "username": "u", "password": "bench-v2"})
    t3 = time.monotonic()
    rot = api.call("POST", "/v1/rotations", {"credential": "global-secret", "batches": [1, "10%", "50%", "100%"],
                                             "healthTimeout": 3600, "components": ["master", "worker"]})
    while True:
        r = api.call("GET", f"/v1/rotations/{rot['id']}")
        if r["state"] not in ("running",):
            break
        time.sleep(1)
    t4 = time.monotonic()
    if r["state"] != "succeeded":
        sys.exit(f"rotation ended {r['state']}: {r.get('error')}")
    conn = http.client.HTTPConnection(a.addr, timeout=60)
    conn.request("GET", f"/v1/rotations/{rot['id']}/events", headers={"Authorization": f"Bearer {a.token}"})
    text = conn.getresponse().read().decode()
    events = [json.loads(l[6:]) for l in text.splitlines() if l.startswith("data: ")]
    sizes = {}
    for rt in r["runtimes"]:
        sizes[rt["batch"]] = sizes.get(rt["batch"], 0) + 1
    print(f"rotation: {len(r['batches'])} batches, wall {t4 - t3:.1f} s")
    print(f"{'batch':>5} {'runtimes':>8} {'wall s':>8} {'driver ms':>10} {'apply ms':>9} {'fluidform ms/runtime':>21} {'ratio to baseline':>18}")
    ratios = []
    for b in r["batches"]:
        i = b["idx"]
        cost = next((e["data"]["driverStepMs"] for e in events if e["kind"] == "batch_cost" and e.get("batch") == i), 0)
        run = api.call("GET", f"/v1/runs/{b['runId']}")
        apply_ms = (ts(run["finishedAt"]) - ts(run["startedAt"])) * 1000
        wall = ts(b["finishedAt"]) - ts(b["startedAt"])
        per = (cost + apply_ms) / sizes[i]
        ratios.append(per / base_per_rt)
        print(f"{i:>5} {sizes[i]:>8} {wall:>8.1f} {cost:>10} {apply_ms:>9.0f} {per:>21.1f} {per / base_per_rt:>18.2f}")
    print(f"median ratio (fluidform time per rotated runtime / plan+apply time per runtime): {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()

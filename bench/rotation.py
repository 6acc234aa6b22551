"""Rotation benchmark (issue 8, target 4), driven by bench/rotation.sh, which owns every
process. N runtimes spread over three real control planes (kwok fake nodes: pods really
restart), each with a `placement: Shared` Dataset and its fuse label on one node, applied,
their pods awaited; then `global-secret` gets version 2 and is rotated in batches of BATCH
runtimes (cumulative counts), every component restarted (master, worker, fuse).

fluidform's own time per batch is the daemon's CPU time (user + system, /proc/<pid>/stat,
sampled every 50 ms) between the start of a batch and the start of the next: every step of
the driver, its reads of workloads and pods, its pod deletions, the batch's plan and run,
and its idle ticks while pods restart; the waits themselves cost no CPU. Nothing else
talks to the daemon meanwhile: the benchmark follows the rotation by reading the database
file (read-only), not through the API. Baseline in the same run: the daemon's CPU time
for the initial plan + apply of the fleet, per BATCH runtimes.

In-flight mutating requests per API server come from each kube-apiserver's audit log
(RequestReceived and ResponseComplete of every create, update, patch and delete), for
fluidform's requests (its user agent) and for every client together.
"""
import argparse
import json
import sqlite3
import subprocess
import threading
import time

import ff


def kubectl(args, kc, *a, inp=None):
    p = subprocess.run([args.kubectl, f"--kubeconfig={kc}", *a], input=inp, capture_output=True, text=True)
    if p.returncode != 0:
        ff.die(f"kubectl {' '.join(a)}: {p.stderr[-1000:]}")
    return p.stdout


def wait_pods(args, kcs, want, limit=3600):
    t0 = time.monotonic()
    while True:
        ready = []
        for kc in kcs:
            out = kubectl(args, kc, "get", "pods", "-A", "--no-headers", "-o",
                          "custom-columns=R:.status.conditions[?(@.type=='Ready')].status")
            ready.append(out.split().count("True"))
        if sum(ready) >= want:
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            ff.die(f"pods not ready: {ready} of {want}")
        time.sleep(2)


class Sampler(threading.Thread):
    """(wall time, daemon CPU seconds) every 50 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append((time.time(), ff.cpu_seconds(self.pid)))
            time.sleep(0.05)

    def at(self, t):
        """CPU seconds at wall time t (the first sample at or after t)."""
        for ts, cpu in self.samples:
            if ts >= t:
                return cpu
        return self.samples[-1][1]


def in_flight(path, t0, t1):
    """Max mutating requests in flight in [t0, t1] per user-agent group, and for all."""
    begin, end, ua = {}, {}, {}
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            if e.get("verb") not in ("create", "update", "patch", "delete", "deletecollection"):
                continue
            t = ff.ts(e["stageTimestamp"])
            if e["stage"] == "RequestReceived":
                begin[e["auditID"]] = t
                ua[e["auditID"]] = (e.get("userAgent") or "").split("/")[0].split(" ")[0]
            elif e["stage"] in ("ResponseComplete", "Panic"):
                end[e["auditID"]] = t
    edges = {}
    for k, b in begin.items():
        x = end.get(k, b)
        if x < t0 or b > t1:
            continue
        for g in (ua[k], "all"):
            edges.setdefault(g, []).extend([(b, 1), (x, -1)])
    out = {}
    for g, es in edges.items():
        es.sort(key=lambda e: (e[0], e[1]))  # a request that ends as another begins is not counted twice
        cur = peak = 0
        for _, d in es:
            cur += d
            peak = max(peak, cur)
        out[g] = {"max_in_flight": peak, "requests": len(es) // 2}
    return out


def reads(path, t0, t1):
    """fluidform's read requests received in [t0, t1], by verb and resource."""
    out = {}
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            if e["stage"] != "RequestReceived" or e.get("verb") not in ("list", "watch", "get"):
                continue
            ua = (e.get("userAgent") or "").split("/")[0].split(" ")[0]
            if fluid_ua({ua: 1}) != ua or not t0 <= ff.ts(e["stageTimestamp"]) <= t1:
                continue
            ref = e.get("objectRef") or {}
            what = f'{e["verb"]} {ref.get("resource", "?")}{"" if ref.get("namespace") else " (all namespaces)"}'
            out[what] = out.get(what, 0) + 1
    return out


def main():
    ap = argparse.ArgumentParser()
    for a in ("--addr", "--token", "--kubeconfigs", "--audits", "--kubectl", "--db", "--json"):
        ap.add_argument(a, required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--nodes", type=int, required=True)
    ap.add_argument("--daemon-pid", type=int, required=True)
    args = ap.parse_args()
    kcs, audits = args.kubeconfigs.split(","), args.audits.split(",")
    names = [chr(ord("a") + i) for i in range(len(kcs))]
    api = ff.Api(args.addr, args.token)
    for c, kc in zip(names, kcs):
        with open(kc) as f:
            api.call("PUT", f"/v1/clusters/{c}", {"kubeconfig": f.read(), "mode": "standalone"})
    api.call("PUT", "/v1/credentials/global-secret", ff.CRED, ok=(200, 201))
    items, labels = [], {c: [[] for _ in range(args.nodes)] for c in names}
    for i in range(args.n):
        c, ns, rt = names[i % len(names)], f"rot-{(i // len(names)) % 10}", f"r{i}"
        items.append((f"/v1/runtimes/{ns}/{rt}?cluster={c}", ff.runtime(rt, fleet=True)))
        items.append((f"/v1/datasets/{ns}/{rt}?cluster={c}", ff.shared_dataset(rt)))
        labels[c][(i // len(names)) % args.nodes].append(f"fluid.io/f-{ns}-{rt}=true")
    seed_s = ff.seed(args.addr, args.token, items)
    for c, kc in zip(names, kcs):
        for node, ls in enumerate(labels[c]):
            if ls:
                kubectl(args, kc, "label", "node", f"kwok-node-{node}", "--overwrite", *ls)
    print(f"seeded {args.n} runtimes and Datasets over {len(names)} clusters in {seed_s:.1f} s; fuse labels set",
          flush=True)

    pid = args.daemon_pid
    c0, t0 = ff.cpu_seconds(pid), time.time()
    plan = api.call("POST", "/v1/plans", {"all": True, "refresh": True, "createNamespaces": True}, ok=(201,))
    run = api.call("POST", f"/v1/plans/{plan['id']}/apply", {}, ok=(202,))
    run = ff.wait_run(api, run["id"], t0)
    if run["status"] != "succeeded":
        ff.die(f"initial run {run['status']}: {run.get('error')}")
    base_cpu, base_wall = ff.cpu_seconds(pid) - c0, ff.ts(run["finishedAt"]) - t0
    base_per_batch = base_cpu / args.n * args.batch
    print(f"baseline: plan + apply of {args.n} runtimes ({plan['summary']['create']} objects): {base_wall:.1f} s wall,"
          f" daemon CPU {base_cpu:.2f} s = {base_per_batch * 1000:.0f} ms per {args.batch} runtimes", flush=True)
    pods = 3 * args.n
    waited = wait_pods(args, kcs, pods)
    print(f"{pods} pods ready after {waited:.0f} s", flush=True)

    api.call("POST", "/v1/credentials/global-secret/versions",
             {"registry": ff.CRED["registry"], "username": "bench", "password": "bench-password-v2"}, ok=(201,))
    batches = list(range(args.batch, args.n, args.batch)) + [args.n]
    sampler = Sampler(pid)
    sampler.start()
    time.sleep(0.2)
    r0 = time.time()
    # Pods turn Ready before their StatefulSets' status says so; the rotation refuses to start
    # (422 workloads_unhealthy) until the workloads it restarts are healthy.
    while True:
        rot = api.call("POST", "/v1/rotations", {"credential": "global-secret", "batches": batches, "gate": "auto",
                                                 "healthTimeout": 3600, "verify": False}, ok=(201, 422))
        if "id" in rot:
            break
        if rot.get("code") != "workloads_unhealthy" or time.time() - r0 > 600:
            ff.die(f"POST /v1/rotations: {rot.get('code')}: {rot.get('detail', '')[:300]}")
        time.sleep(2)
    print(f"rotation started after {time.time() - r0:.0f} s of waiting for workload status", flush=True)
    r0 = time.time()
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    while True:
        (state,) = db.execute("SELECT state FROM rotations WHERE id = ?", (rot["id"],)).fetchone()
        if state not in ("running",):
            break
        if time.time() - r0 > 4 * 3600:
            ff.die("rotation still running after 4 h")
        time.sleep(0.5)
    time.sleep(0.3)
    sampler.stop.set()
    sampler.join()
    r1 = time.time()
    db.close()
    r = api.call("GET", f"/v1/rotations/{rot['id']}")
    if r["state"] != "succeeded":
        ff.die(f"rotation ended {r['state']}: {r.get('error')}")
    sizes = {}
    for x in r["runtimes"]:
        sizes[x["batch"]] = sizes.get(x["batch"], 0) + 1
    bs = sorted(r["batches"], key=lambda b: b["idx"])
    end = ff.ts(r["finishedAt"]) if r.get("finishedAt") else r1
    rows = []
    print(f"rotation {rot['id']}: {len(bs)} batches, {r1 - r0:.0f} s wall")
    print(f"{'batch':>5} {'runtimes':>8} {'wall s':>7} {'daemon CPU ms':>14} {'ratio to baseline':>18}")
    for k, b in enumerate(bs):
        s = ff.ts(b["startedAt"])
        e = ff.ts(bs[k + 1]["startedAt"]) if k + 1 < len(bs) else end
        cpu = sampler.at(e) - sampler.at(s)
        rows.append({"idx": b["idx"], "runtimes": sizes.get(b["idx"], 0), "wall_s": e - s, "cpu_s": cpu})
        print(f"{b['idx']:>5} {sizes.get(b['idx'], 0):>8} {e - s:>7.1f} {cpu * 1000:>14.0f}"
              f" {cpu / base_per_batch:>18.2f}", flush=True)
    total_cpu = sampler.at(r1) - sampler.at(r0)
    flight = {c: in_flight(a, r0, r1) for c, a in zip(names, audits)}
    flight_all = {c: in_flight(a, 0, float("inf")) for c, a in zip(names, audits)}
    cpus = [x["cpu_s"] for x in rows if x["runtimes"] == args.batch]
    print()
    print(f"daemon CPU per batch of {args.batch}: median {ff.mr([c * 1000 for c in cpus], '{:.0f}')} ms"
          f" (target ≤ 250 ms); whole rotation {total_cpu:.2f} s CPU in {r1 - r0:.0f} s;"
          f" baseline plan+apply {base_per_batch * 1000:.0f} ms per {args.batch} runtimes;"
          f" ratio {ff.med(cpus) / base_per_batch:.2f}")
    for c in names:
        during, whole = flight[c], flight_all[c]
        groups = ", ".join(f"{g or 'fluidform'} {v['max_in_flight']} ({v['requests']} requests)"
                           for g, v in sorted(during.items(), key=lambda kv: -kv[1]["requests"]))
        print(f"cluster {c}: max mutating requests in flight during the rotation: {groups};"
              f" over the whole run (initial apply included): fluidform"
              f" {max((v['max_in_flight'] for g, v in whole.items() if g not in ('all',) and g == fluid_ua(whole)), default=0)},"
              f" all {whole.get('all', {}).get('max_in_flight', 0)} (target ≤ 20 per API server)")
    metrics = api.call("GET", "/metrics", accept="text/plain")
    for line in metrics.splitlines():
        if line.startswith(("fluidform_rollout_reads_total", "fluidform_rollout_watch_events_total")):
            print(f"daemon metric: {line}")
    for c, a in zip(names, audits):
        got = reads(a, r0, r1)
        print(f"cluster {c}: fluidform's reads during the rotation: "
              + (", ".join(f"{v} {k}" for k, v in sorted(got.items())) or "none"))
    ff.write_json(args.json, {"n": args.n, "batch": args.batch, "baseline_cpu_s": base_cpu, "baseline_wall_s": base_wall,
                              "batches": rows, "rotation_wall_s": r1 - r0, "rotation_cpu_s": total_cpu,
                              "in_flight_rotation": flight, "in_flight_whole": flight_all,
                              "peak_rss_kb": ff.rss_kb(pid)[1]})


def fluid_ua(groups):
    """The user-agent group of fluidform's requests: kube-rs sends none (every other client of
    these servers names itself), or an agent starting with kube-rs or fluidform."""
    for g in groups:
        if g.startswith("kube-rs") or g.startswith("fluidform"):
            return g
    return "" if "" in groups else None


if __name__ == "__main__":
    main()

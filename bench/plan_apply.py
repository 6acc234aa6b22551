"""Drives the plan/apply benchmark against a running daemon and one real kube-apiserver.
Started by bench/plan-apply.sh, which owns every process; this only talks HTTP and runs
kubectl. Exits non-zero on any failure.

Per repetition and per N: PUT N runtimes into a fresh namespace, then
  fluidform: POST /v1/plans (refresh, createNamespaces) + apply + poll the run; then the
             same again on the unchanged state (must be all no-op, 0 writes);
  kubectl:   the same rendered manifests (GET .../manifests as YAML, namespace rewritten,
             credential Secret given its real data) applied with
             `kubectl apply --server-side` into another fresh namespace; then re-applied.
The two sides alternate which goes first from one repetition to the next.

Usage: plan_apply.py --addr HOST:PORT --token T --kubeconfig F --kubectl BIN --work DIR
                     [--sizes 10,100,500] [--reps 3] [--json OUT]
"""
import argparse
import base64
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime

CRED = {"registry": "registry.bench.example.com", "username": "bench", "password": "bench-password-0123456789"}
DOCKERCONFIG = json.dumps({"auths": {CRED["registry"]: {
    "username": CRED["username"], "password": CRED["password"],
    "auth": base64.b64encode(f"{CRED['username']}:{CRED['password']}".encode()).decode()}}})


def die(msg):
    print(f"plan_apply.py: {msg}", file=sys.stderr)
    sys.exit(1)


class Api:
    def __init__(self, addr, token):
        self.addr, self.token = addr, token
        self.conn = http.client.HTTPConnection(addr, timeout=900)

    def call(self, method, path, body=None, accept="application/json", ok=(200, 201, 202)):
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
                if attempt:
                    raise
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.addr, timeout=900)
        if r.status not in ok:
            die(f"{method} {path}: {r.status} {raw[:500]!r}")
        self.last_bytes = len(raw)
        if accept == "application/json":
            return json.loads(raw) if raw else None
        return raw.decode()


def runtime(name):
    return {
        "apiVersion": "data.fluid.io/v1alpha1", "kind": "AlluxioRuntime",
        "metadata": {"name": name, "labels": {"bench": "plan-apply"}},
        "spec": {
            "replicas": 2,
            "imagePullSecrets": [{"name": "global-secret"}],
            "tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "2Gi",
                                        "high": "0.95", "low": "0.7"}]},
            "properties": {"alluxio.user.file.writetype.default": "MUST_CACHE"},
        },
    }


def wait_run(api, run_id, t0, limit=1800):
    """Polls a run until it ends, backing off (20 ms up to 0.5 s, about 5% of the time so
    far) so polling a run with thousands of objects does not steal the daemon's CPU. The
    apply time is taken from the run's own finishedAt, so it does not depend on the poll."""
    while True:
        run = api.call("GET", f"/v1/runs/{run_id}")
        if run["status"] in ("succeeded", "failed"):
            return run
        elapsed = time.time() - t0
        if elapsed > limit:
            die(f"run {run_id} still {run['status']} after {limit} s")
        time.sleep(min(0.5, max(0.02, elapsed * 0.05)))


def cpu_seconds(pid):
    """User + system CPU seconds the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    """(VmRSS, VmHWM) of the daemon in kB."""
    with open(f"/proc/{pid}/status") as f:
        v = dict(line.split(":", 1) for line in f)
    return int(v["VmRSS"].split()[0]), int(v["VmHWM"].split()[0])


def plan_and_apply(args, api, names, expect_changes):
    """Returns timings and request counts of one plan (with refresh) + apply."""
    s0 = server_seconds(args)
    c0 = cpu_seconds(args.daemon_pid)
    t0 = time.perf_counter()
    plan = api.call("POST", "/v1/plans", {"runtimes": names, "refresh": True, "createNamespaces": True}, ok=(201,))
    plan_s = time.perf_counter() - t0
    plan_bytes = api.last_bytes
    s = plan["summary"]
    changes = s["create"] + s["update"] + s["delete"]
    if expect_changes is not None and changes != expect_changes:
        die(f"plan {plan['id']}: expected {expect_changes} changes, got summary {s}")
    t1 = time.time()  # wall clock, compared with the run's finishedAt (same machine)
    run = api.call("POST", f"/v1/plans/{plan['id']}/apply", {}, ok=(202,))
    run = wait_run(api, run["id"], t1)
    run_bytes = api.last_bytes
    apply_s = datetime.fromisoformat(run["finishedAt"]).timestamp() - t1
    if run["status"] != "succeeded":
        die(f"run {run['id']} {run['status']}: {run.get('error')}")
    req = run.get("requests", {}).get("c1", {"reads": 0, "writes": 0})
    return {
        "daemon_cpu_s": cpu_seconds(args.daemon_pid) - c0,
        "server_s": server_seconds(args) - s0,
        "plan_bytes": plan_bytes, "run_bytes": run_bytes,
        "plan_s": plan_s, "apply_s": apply_s, "total_s": plan_s + apply_s,
        "objects": len(plan["objects"]), "changes": changes, "summary": {k: s[k] for k in ("create", "update", "delete", "noOp")},
        "live_reads": s.get("liveReads", {}).get("c1", 0),
        "apply_reads": req["reads"], "apply_writes": req["writes"],
        "warnings": len(plan.get("warnings", [])),
    }


def split_docs(text):
    return [d for d in re.split(r"(?m)^---[ \t]*$", text) if d.strip()]


def baseline_files(api, ns, names, target_ns, out_dir):
    """Writes the rendered manifests of `names` (namespace `ns`) to out_dir, rewritten to
    target_ns: one file per runtime, the shared credential Secret once, with real data."""
    os.makedirs(out_dir, exist_ok=True)
    secrets = {}
    n_objects = 0
    for name in names:
        text = api.call("GET", f"/v1/runtimes/{ns}/{name}/manifests", accept="application/yaml")
        keep = []
        for doc in split_docs(text):
            doc = re.sub(r"(?m)^(\s*)namespace: .*$", rf"\1namespace: {target_ns}", doc)
            if re.search(r"(?m)^kind: Secret\s*$", doc):
                secret_name = re.search(r"(?m)^  name: (\S+)", doc).group(1)
                secrets[secret_name] = doc
            else:
                keep.append(doc.strip("\n"))
        n_objects += len(keep)
        with open(os.path.join(out_dir, f"rt-{name}.yaml"), "w") as f:
            f.write("\n---\n".join(keep) + "\n")
    data = base64.b64encode(DOCKERCONFIG.encode()).decode()
    docs = []
    for doc in secrets.values():
        # The API redacts credential data; give the baseline the real bytes, as fluidform sends.
        doc = re.sub(r"(?m)^  annotations:\n    fluidform.io/redacted: .*\n", "", doc.strip("\n") + "\n")
        if not re.search(r"(?m)^data:", doc):
            doc += f"data:\n  .dockerconfigjson: {data}\n"
        docs.append(doc.strip("\n"))
    with open(os.path.join(out_dir, "01-secrets.yaml"), "w") as f:
        f.write("\n---\n".join(docs) + "\n")
    with open(os.path.join(out_dir, "00-namespace.yaml"), "w") as f:
        f.write(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {target_ns}\n")
    return n_objects + len(secrets) + 1


def server_seconds(args):
    """Seconds the API server has spent serving requests so far (sum over
    apiserver_request_duration_seconds, watches excluded). Nothing but the benchmark talks
    to this API server, so the difference across a phase is the server's share of it."""
    p = subprocess.run([args.kubectl, f"--kubeconfig={args.kubeconfig}", "get", "--raw", "/metrics"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        die(f"reading API server metrics: {p.stderr[-500:]}")
    total = 0.0
    for line in p.stdout.splitlines():
        if line.startswith("apiserver_request_duration_seconds_sum{") and 'verb="WATCH"' not in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def kubectl_apply(args, out_dir, verbose=False):
    cmd = [args.kubectl, f"--kubeconfig={args.kubeconfig}", f"--cache-dir={args.work}/kube-cache",
           "apply", "--server-side", "--field-manager=bench", "-f", out_dir]
    if verbose:
        cmd.append("-v=6")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        die(f"{' '.join(cmd)} failed: {p.stderr[-2000:]}")
    counts = None
    if verbose:
        verbs = re.findall(r'verb="(\w+)"', p.stderr) or re.findall(r"\b(GET|PATCH|POST|PUT|DELETE) https://", p.stderr)
        counts = {"reads": sum(v == "GET" for v in verbs), "writes": sum(v != "GET" for v in verbs)}
    return dt, counts


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--sizes", default="10,100,500")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--daemon-pid", type=int, required=True)
    ap.add_argument("--json")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    api = Api(args.addr, args.token)

    with open(args.kubeconfig) as f:
        api.call("PUT", "/v1/clusters/c1", {"kubeconfig": f.read()})
    probe = api.call("POST", "/v1/clusters/c1/probe", {}, ok=(200, 201))
    print(f"cluster c1: kube-apiserver {probe.get('version')}, canManage {probe.get('canManage')}", flush=True)
    api.call("PUT", "/v1/credentials/global-secret", CRED)
    # Warm kubectl's discovery cache once, so the baseline is not charged for it per apply.
    subprocess.run([args.kubectl, f"--kubeconfig={args.kubeconfig}", f"--cache-dir={args.work}/kube-cache",
                    "api-resources"], stdout=subprocess.DEVNULL, check=True)

    results = {n: {"ff_first": [], "ff_again": [], "kc": [], "kc_again": [], "objects": None,
                   "kc_requests": None, "kc_again_requests": None} for n in sizes}
    for rep in range(1, args.reps + 1):
        for n in sizes:
            ns, kns = f"ff-{n}-r{rep}", f"kc-{n}-r{rep}"
            names = [f"rt-{i}" for i in range(n)]
            t0 = time.perf_counter()
            for name in names:
                api.call("PUT", f"/v1/runtimes/{ns}/{name}?cluster=c1", runtime(name), ok=(201,))
            put_s = time.perf_counter() - t0
            kdir = f"{args.work}/manifests/{kns}"
            n_kobjects = baseline_files(api, ns, names, kns, kdir)
            r = results[n]

            def ff():
                first = plan_and_apply(args, api, [f"{ns}/{x}" for x in names], None)
                again = plan_and_apply(args, api, [f"{ns}/{x}" for x in names], 0)
                if again["apply_writes"] != 0:
                    die(f"N={n}: re-apply of an unchanged state sent {again['apply_writes']} writes")
                r["ff_first"].append(first)
                r["ff_again"].append(again)
                r["objects"] = first["objects"]
                return first, again

            def kc():
                s0 = server_seconds(args)
                t, _ = kubectl_apply(args, kdir)
                s1 = server_seconds(args)
                t2, _ = kubectl_apply(args, kdir)
                s2 = server_seconds(args)
                r["kc"].append(t)
                r["kc_again"].append(t2)
                r.setdefault("kc_server_s", []).append(s1 - s0)
                r.setdefault("kc_again_server_s", []).append(s2 - s1)
                return t, t2

            if rep % 2:
                (first, again), (t, t2) = ff(), kc()
            else:
                (t, t2), (first, again) = kc(), ff()
            rss, hwm = rss_kb(args.daemon_pid)
            r.setdefault("rss_kb", []).append(rss)
            print(f"rep {rep} N={n:<4} put {put_s:6.2f}s | fluidform plan {first['plan_s']:6.2f}s apply "
                  f"{first['apply_s']:6.2f}s ({first['changes']} changes, {first['apply_writes']} writes, "
                  f"{first['apply_reads'] + first['live_reads']} reads) | again {again['total_s']:6.2f}s "
                  f"({again['apply_writes']} writes) | kubectl {t:6.2f}s again {t2:6.2f}s ({n_kobjects} objects) | "
                  f"daemon RSS {rss // 1024} MiB, peak {hwm // 1024} MiB",
                  flush=True)
            if rep == 1:
                # Count kubectl's requests once per N (untimed, -v=6), in a namespace of its own.
                cdir = f"{args.work}/manifests/kc-{n}-count"
                baseline_files(api, ns, names, f"kc-{n}-count", cdir)
                _, c1 = kubectl_apply(args, cdir, verbose=True)
                _, c2 = kubectl_apply(args, cdir, verbose=True)
                r["kc_requests"], r["kc_again_requests"] = c1, c2

    print()
    print(f"Medians of {args.reps} repetition(s). First = plan (refresh) + apply of N new runtimes into an empty")
    print("namespace; again = re-plan (refresh) + apply of the unchanged state. Requests per runtime: the")
    print("run's requests plus the plan's refresh reads, divided by N. Ratios are of the medians.")
    hdr = (f"{'N':>4} {'objects':>7} | {'ff plan':>8} {'ff apply':>8} {'ff total':>8} {'wr/rt':>5} {'rd/rt':>5} | "
           f"{'kubectl':>8} {'wr/rt':>5} | {'ff/kc':>5} || {'again plan':>10} {'apply':>6} {'total':>6} {'wr':>3} | "
           f"{'kc again':>8} | {'ff/kc':>5}")
    print(hdr)
    print("-" * len(hdr))
    summary = {}
    for n in sizes:
        r = results[n]
        f, a = r["ff_first"], r["ff_again"]
        row = {
            "objects": r["objects"],
            "ff_plan_s": med([x["plan_s"] for x in f]),
            "ff_apply_s": med([x["apply_s"] for x in f]),
            "ff_total_s": med([x["total_s"] for x in f]),
            "ff_writes_per_rt": med([x["apply_writes"] for x in f]) / n,
            "ff_reads_per_rt": med([x["apply_reads"] + x["live_reads"] for x in f]) / n,
            "kc_s": med(r["kc"]),
            "kc_requests": r["kc_requests"],
            "ff_noop_plan_s": med([x["plan_s"] for x in a]),
            "ff_noop_apply_s": med([x["apply_s"] for x in a]),
            "ff_noop_total_s": med([x["total_s"] for x in a]),
            "ff_noop_writes": max(x["apply_writes"] for x in a),
            "ff_noop_reads": med([x["apply_reads"] + x["live_reads"] for x in a]),
            "kc_again_s": med(r["kc_again"]),
            "kc_again_requests": r["kc_again_requests"],
            "daemon_rss_kb": r.get("rss_kb"),
            "ff_server_s": med([x["server_s"] for x in f]),
            "ff_daemon_cpu_s": med([x["daemon_cpu_s"] for x in f]),
            "ff_noop_daemon_cpu_s": med([x["daemon_cpu_s"] for x in a]),
            "plan_bytes": med([x["plan_bytes"] for x in f]),
            "run_bytes": med([x["run_bytes"] for x in f]),
            "ff_noop_server_s": med([x["server_s"] for x in a]),
            "kc_server_s": med(r["kc_server_s"]),
            "kc_again_server_s": med(r["kc_again_server_s"]),
            "runs": {"ff_first": f, "ff_again": a, "kc": r["kc"], "kc_again": r["kc_again"]},
        }
        row["ratio"] = row["ff_total_s"] / row["kc_s"]
        row["ratio_again"] = row["ff_noop_total_s"] / row["kc_again_s"]
        # Each repetition's two sides ran back to back: the median of their ratios is less
        # exposed to the machine's drift than the ratio of the medians.
        row["ratio_paired"] = med([x["total_s"] / k for x, k in zip(f, r["kc"])])
        kc_w = (r["kc_requests"] or {}).get("writes", float("nan")) / n
        summary[n] = row
        print(f"{n:>4} {row['objects']:>7} | {row['ff_plan_s']:>7.2f}s {row['ff_apply_s']:>7.2f}s "
              f"{row['ff_total_s']:>7.2f}s {row['ff_writes_per_rt']:>5.2f} {row['ff_reads_per_rt']:>5.3f} | "
              f"{row['kc_s']:>7.2f}s {kc_w:>5.2f} | {row['ratio']:>5.2f} || {row['ff_noop_plan_s']:>9.2f}s "
              f"{row['ff_noop_apply_s']:>5.2f}s {row['ff_noop_total_s']:>5.2f}s {row['ff_noop_writes']:>3} | "
              f"{row['kc_again_s']:>7.2f}s | {row['ratio_again']:>5.2f}")
    print()
    print("Median of per-repetition ratios fluidform/kubectl (first; again): " + ", ".join(
        f"N={n}: {summary[n]['ratio_paired']:.2f}; "
        f"{med([x['total_s'] / k for x, k in zip(results[n]['ff_again'], results[n]['kc_again'])]):.2f}"
        for n in sizes))
    for n in sizes:
        print(f"N={n}: kubectl requests (one -v=6 run): first apply {summary[n]['kc_requests']}, re-apply "
              f"{summary[n]['kc_again_requests']}; fluidform again: {summary[n]['ff_noop_writes']} writes, "
              f"{summary[n]['ff_noop_reads']:.0f} reads; first plan response {summary[n]['plan_bytes'] / 1e6:.1f} MB, "
              f"run response {summary[n]['run_bytes'] / 1e6:.2f} MB")
    print()
    print("Where the time goes (medians): API server = sum of apiserver_request_duration_seconds over the")
    print("phase (nothing else uses this server); daemon CPU = fluidform's user+system CPU over plan+apply.")
    for n in sizes:
        x = summary[n]
        print(f"N={n}: fluidform first {x['ff_total_s']:.2f}s: API server {x['ff_server_s']:.2f}s, daemon CPU "
              f"{x['ff_daemon_cpu_s']:.2f}s; again {x['ff_noop_total_s']:.2f}s: API server {x['ff_noop_server_s']:.2f}s, "
              f"daemon CPU {x['ff_noop_daemon_cpu_s']:.2f}s | kubectl first {x['kc_server_s']:.2f}s "
              f"of {x['kc_s']:.2f}s, again {x['kc_again_server_s']:.2f}s of {x['kc_again_s']:.2f}s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()

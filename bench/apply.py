"""Apply benchmark (issue 8, targets 2 and 3), driven by bench/apply.sh, which owns every
process. Per repetition, N runtimes in fresh namespaces of one real kube-apiserver:

  fluidform  cold: POST /v1/plans {runtimes, refresh, createNamespaces} + apply, timed to the
             run's own finishedAt; then no-op: the same plan again on the unchanged state
             (must be all no-op, 0 writes), with refresh and without; after the refresh,
             the bare client sends the same LISTs at once (what any refresh must read).
  bare       the same objects (fluidform's rendering, the credential Secret given its real
             bytes) sent by bench/bare_ssa.rs: Namespace first, then everything with the
             same concurrency (16), no store; then re-sent unchanged.
  kubectl    the same objects, `kubectl apply --server-side -f DIR`; then re-applied.

The three go in a rotating order from one repetition to the next. The daemon's CPU time
(/proc/<pid>/stat) and the API server's request time (apiserver_request_duration_seconds)
are read around each phase.
"""
import argparse
import base64
import json
import os
import resource
import subprocess
import time

import ff


def server_seconds(args):
    """Seconds the API server spent serving requests so far (watches excluded); nothing
    but the benchmark talks to it."""
    p = subprocess.run([args.kubectl, f"--kubeconfig={args.kubeconfig}", "get", "--raw", "/metrics"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        ff.die(f"reading API server metrics: {p.stderr[-500:]}")
    return sum(float(line.rsplit(" ", 1)[1]) for line in p.stdout.splitlines()
               if line.startswith("apiserver_request_duration_seconds_sum{") and 'verb="WATCH"' not in line)


def plan_apply(args, api, names, body, expect_changes=None):
    c0, s0 = ff.cpu_seconds(args.daemon_pid), server_seconds(args)
    t0 = time.perf_counter()
    plan = api.call("POST", "/v1/plans", {"runtimes": names, **body}, ok=(201,))
    plan_s = time.perf_counter() - t0
    plan_bytes = api.last_bytes
    s = plan["summary"]
    changes = s["create"] + s["update"] + s["delete"]
    if expect_changes is not None and changes != expect_changes:
        ff.die(f"plan {plan['id']}: expected {expect_changes} changes, got {s}")
    t1 = time.time()  # compared with the run's finishedAt (same machine, same clock)
    run = api.call("POST", f"/v1/plans/{plan['id']}/apply", {}, ok=(202,))
    run = ff.wait_run(api, run["id"], t1)
    if run["status"] != "succeeded":
        ff.die(f"run {run['id']} {run['status']}: {run.get('error')}")
    apply_s = ff.ts(run["finishedAt"]) - t1
    req = run.get("requests", {}).get("c1", {"reads": 0, "writes": 0})
    return {"plan_s": plan_s, "apply_s": apply_s, "total_s": plan_s + apply_s, "changes": changes,
            "plan_bytes": plan_bytes, "writes": req["writes"], "reads": req["reads"] + s.get("liveReads", {}).get("c1", 0),
            "daemon_cpu_s": ff.cpu_seconds(args.daemon_pid) - c0, "server_s": server_seconds(args) - s0}


def baseline_objects(api, ns, names, target_ns, path):
    """fluidform's rendering of `names`, moved to `target_ns`, the credential Secret with
    its real bytes (the API shows it redacted), as JSON lines; also one JSON file per
    runtime for kubectl. Returns the number of objects."""
    secret_data = base64.b64encode(ff.dockerconfigjson().encode()).decode()
    seen, lines = set(), []
    kdir = path + ".d"
    os.makedirs(kdir, exist_ok=True)
    ns_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target_ns}}
    lines.append(ns_obj)
    with open(f"{kdir}/00-namespace.json", "w") as f:
        json.dump(ns_obj, f)
    secrets = []
    for name in names:
        items = api.call("GET", f"/v1/runtimes/{ns}/{name}/manifests")["items"]
        mine = []
        for o in items:
            o["metadata"]["namespace"] = target_ns
            key = (o["kind"], o["metadata"]["name"])
            if key in seen:
                continue
            seen.add(key)
            if o["kind"] == "Secret":
                (o["metadata"].get("annotations") or {}).pop("fluidform.io/redacted", None)
                if not o["metadata"].get("annotations"):
                    o["metadata"].pop("annotations", None)
                o["data"] = {".dockerconfigjson": secret_data}
                o.pop("stringData", None)
                secrets.append(o)
            else:
                mine.append(o)
        lines.extend(mine)
        with open(f"{kdir}/rt-{name}.json", "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": mine}, f)
    lines[1:1] = secrets
    with open(f"{kdir}/01-secrets.json", "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": secrets}, f)
    with open(path, "w") as f:
        for o in lines:
            f.write(json.dumps(o) + "\n")
    return len(lines)


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def bare(args, path):
    """Seconds the bare client took, and the CPU seconds it used (process included)."""
    c0 = child_cpu()
    p = subprocess.run([args.bare, args.kubeconfig, path, str(args.concurrency)], capture_output=True, text=True)
    if p.returncode != 0:
        ff.die(f"bare_ssa failed: {p.stderr[-2000:]}")
    return float(p.stdout.strip()), child_cpu() - c0


def bare_list(args, ns):
    """Seconds the bare client takes to send a refresh's LISTs of namespace `ns` at once."""
    p = subprocess.run([args.bare, "--list", args.kubeconfig, ns], capture_output=True, text=True)
    if p.returncode != 0:
        ff.die(f"bare_ssa --list failed: {p.stderr[-2000:]}")
    return float(p.stdout.strip())


def kubectl(args, kdir):
    cmd = [args.kubectl, f"--kubeconfig={args.kubeconfig}", f"--cache-dir={args.work}/kube-cache",
           "apply", "--server-side", "--field-manager=bench-kubectl", "-f", kdir]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        ff.die(f"kubectl failed: {p.stderr[-2000:]}")
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    for a in ("--addr", "--token", "--kubeconfig", "--kubectl", "--bare", "--work", "--json"):
        ap.add_argument(a, required=True)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--daemon-pid", type=int, required=True)
    args = ap.parse_args()
    api = ff.Api(args.addr, args.token)
    with open(args.kubeconfig) as f:
        api.call("PUT", "/v1/clusters/c1", {"kubeconfig": f.read(), "mode": "standalone",
                                            "applyConcurrency": args.concurrency})
    api.call("PUT", "/v1/credentials/global-secret", ff.CRED, ok=(200, 201))
    subprocess.run([args.kubectl, f"--kubeconfig={args.kubeconfig}", f"--cache-dir={args.work}/kube-cache",
                    "api-resources"], stdout=subprocess.DEVNULL, check=True)  # warm kubectl's discovery cache
    rows = []
    for rep in range(1, args.reps + 1):
        ns = f"ff-r{rep}"
        names = [f"rt-{i}" for i in range(args.n)]
        seed_s = ff.seed(args.addr, args.token, [(f"/v1/runtimes/{ns}/{x}?cluster=c1", ff.runtime(x)) for x in names])
        qualified = [f"{ns}/{x}" for x in names]
        bpath = f"{args.work}/bare-r{rep}.jsonl"
        n_objects = baseline_objects(api, ns, names, f"bare-r{rep}", bpath)
        kpath = f"{args.work}/kc-r{rep}.jsonl"
        baseline_objects(api, ns, names, f"kc-r{rep}", kpath)
        row = {"rep": rep, "objects": n_objects, "seed_s": seed_s}

        def run_ff():
            row["ff_cold"] = plan_apply(args, api, qualified, {"refresh": True, "createNamespaces": True})
            row["ff_noop"] = plan_apply(args, api, qualified, {"refresh": True}, expect_changes=0)
            row["bare_list_s"] = bare_list(args, ns)
            row["ff_noop_norefresh"] = plan_apply(args, api, qualified, {}, expect_changes=0)
            for k in ("ff_noop", "ff_noop_norefresh"):
                if row[k]["writes"]:
                    ff.die(f"{k}: {row[k]['writes']} writes on an unchanged state")

        def run_bare():
            s0 = server_seconds(args)
            row["bare_cold_s"], row["bare_cpu_s"] = bare(args, bpath)
            s1 = server_seconds(args)
            row["bare_again_s"], _ = bare(args, bpath)
            row["bare_server_s"] = s1 - s0

        def run_kc():
            s0 = server_seconds(args)
            row["kc_cold_s"] = kubectl(args, kpath + ".d")
            s1 = server_seconds(args)
            row["kc_again_s"] = kubectl(args, kpath + ".d")
            row["kc_server_s"] = s1 - s0

        order = [run_ff, run_bare, run_kc]
        k = (rep - 1) % 3
        for f in order[k:] + order[:k]:
            f()
        c, z = row["ff_cold"], row["ff_noop"]
        rss, hwm = ff.rss_kb(args.daemon_pid)
        print(f"rep {rep}: {n_objects} objects | fluidform cold plan {c['plan_s']:.2f} + apply {c['apply_s']:.2f} ="
              f" {c['total_s']:.2f} s ({c['writes']} writes, daemon CPU {c['daemon_cpu_s']:.2f} s) | bare"
              f" {row['bare_cold_s']:.2f} s | kubectl {row['kc_cold_s']:.2f} s || no-op (refresh)"
              f" {z['plan_s']:.3f} + {z['apply_s']:.3f} = {z['total_s']:.3f} s, {z['writes']} writes, bare LISTs"
              f" {row['bare_list_s']:.3f} s;"
              f" no-op (no refresh) {row['ff_noop_norefresh']['total_s']:.3f} s | bare again"
              f" {row['bare_again_s']:.2f} s | kubectl again {row['kc_again_s']:.2f} s | RSS {rss // 1024} MiB"
              f" (peak {hwm // 1024})", flush=True)
        rows.append(row)
    ff.write_json(args.json, {"n": args.n, "concurrency": args.concurrency, "reps": rows,
                              "peak_rss_kb": ff.rss_kb(args.daemon_pid)[1]})

    g = lambda f: [f(r) for r in rows]
    cold, total = g(lambda r: r["ff_cold"]["apply_s"]), g(lambda r: r["ff_cold"]["total_s"])
    bare_s, kc_s = g(lambda r: r["bare_cold_s"]), g(lambda r: r["kc_cold_s"])
    paired = g(lambda r: r["ff_cold"]["total_s"] / r["bare_cold_s"])
    paired_apply = g(lambda r: r["ff_cold"]["apply_s"] / r["bare_cold_s"])
    noop = g(lambda r: r["ff_noop"]["total_s"])
    noop_nr = g(lambda r: r["ff_noop_norefresh"]["total_s"])
    print()
    print(f"N={args.n} runtimes, {rows[0]['objects']} objects, concurrency {args.concurrency}, medians of {len(rows)}"
          " (min–max); ratios are medians of the per-repetition ratios")
    print(f"  bare SSA client (baseline)        {ff.mr(bare_s, '{:.2f}')} s")
    print(f"  fluidform cold plan+apply         {ff.mr(total, '{:.2f}')} s   / bare = {ff.mr(paired, '{:.2f}')}"
          "   (target ≤ 1.2)")
    print(f"  fluidform cold apply alone        {ff.mr(cold, '{:.2f}')} s   / bare = {ff.mr(paired_apply, '{:.2f}')}")
    print(f"  kubectl apply --server-side       {ff.mr(kc_s, '{:.2f}')} s   / bare ="
          f" {ff.mr(g(lambda r: r['kc_cold_s'] / r['bare_cold_s']), '{:.2f}')};"
          f" kubectl / fluidform = {ff.mr(g(lambda r: r['kc_cold_s'] / r['ff_cold']['total_s']), '{:.2f}')}")
    print(f"  fluidform no-op plan+apply, refresh     {ff.mr(noop)} s, writes {max(g(lambda r: r['ff_noop']['writes']))}"
          "   (target ≤ 0.3 s, 0 writes)")
    print(f"  bare client, the same LISTs at once  {ff.mr(g(lambda r: r['bare_list_s']))} s; no-op refresh / bare LISTs ="
          f" {ff.mr(g(lambda r: r['ff_noop']['total_s'] / r['bare_list_s']), '{:.2f}')}")
    print(f"  fluidform no-op plan+apply, no refresh  {ff.mr(noop_nr)} s, writes"
          f" {max(g(lambda r: r['ff_noop_norefresh']['writes']))}")
    print(f"  bare re-send unchanged            {ff.mr(g(lambda r: r['bare_again_s']), '{:.2f}')} s; kubectl re-apply"
          f" {ff.mr(g(lambda r: r['kc_again_s']), '{:.2f}')} s")
    print(f"  API server time: fluidform cold {ff.mr(g(lambda r: r['ff_cold']['server_s']), '{:.2f}')} s, bare"
          f" {ff.mr(g(lambda r: r['bare_server_s']), '{:.2f}')} s, kubectl {ff.mr(g(lambda r: r['kc_server_s']), '{:.2f}')} s;"
          f" daemon CPU cold {ff.mr(g(lambda r: r['ff_cold']['daemon_cpu_s']), '{:.2f}')} s, bare client CPU"
          f" {ff.mr(g(lambda r: r['bare_cpu_s']), '{:.2f}')} s")


if __name__ == "__main__":
    main()

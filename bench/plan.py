"""Plan benchmark (issue 8, target 1), driven by bench/plan.sh, which owns every process.

For one size N: N runtimes stored (concurrent PUTs, namespaces of 500), then 10 plans
`POST /v1/plans {"all": true}` in a row without refresh, timing each, with the response
size and the daemon's RSS after each. Done twice: with the fleet never applied (every
runtime is rendered: its objects are all creates) and, after one apply of the whole fleet
to the real API server and a restart of the daemon (so its peak RSS counts plans only), with
the fleet applied and unchanged (the steady state of a managed fleet).

Baseline in the same run: reading every stored runtime through the API (`GET /v1/runtimes`,
pages of 1,000), timed the same way.

Usage: plan.py --addr A --token T --kubeconfig F --n N --phase seed|plans|apply --label L --json OUT
(the script calls it per phase; the daemon restart happens between phases).
"""
import argparse
import json
import time
import urllib.parse

import ff

PER_NS = 500


def namespaces(n):
    return [f"p{n}-{k}" for k in range((n + PER_NS - 1) // PER_NS)]


def seed(args, api):
    with open(args.kubeconfig) as f:
        api.call("PUT", "/v1/clusters/c1", {"kubeconfig": f.read(), "mode": "standalone"})
    api.call("PUT", "/v1/credentials/global-secret", ff.CRED, ok=(200, 201))
    items = []
    for i in range(args.n):
        ns = f"p{args.n}-{i // PER_NS}"
        items.append((f"/v1/runtimes/{ns}/rt-{i}?cluster=c1", ff.runtime(f"rt-{i}", {"team": f"t{i % 10}"})))
    s = ff.seed(args.addr, args.token, items)
    print(f"  seeded {args.n} runtimes in {s:.1f} s ({args.n / s:.0f} PUT/s, 8 concurrent connections)", flush=True)
    return {"seed_s": s}


def list_all(api):
    t0 = time.perf_counter()
    seen, cursor, size = 0, None, 0
    while True:
        page = api.call("GET", "/v1/runtimes?limit=1000" + (f"&cursor={urllib.parse.quote(cursor, safe='')}" if cursor else ""))
        size += api.last_bytes
        seen += len(page["items"])
        cursor = page.get("next")
        if not cursor:
            return time.perf_counter() - t0, seen, size


def plans(args, api):
    pid = args.daemon_pid
    out = {"plan_s": [], "plan_bytes": [], "rss_kb": [], "cpu_s": [], "list_s": [], "summary": None}
    for i in range(args.reps):
        # Baseline and plan alternate, so drift of the machine hits both alike.
        ls, seen, _ = list_all(api)
        if seen != args.n:
            ff.die(f"listed {seen} runtimes, expected {args.n}")
        out["list_s"].append(ls)
        c0 = ff.cpu_seconds(pid)
        t0 = time.perf_counter()
        plan = api.call("POST", "/v1/plans", {"all": True}, ok=(201,))
        dt = time.perf_counter() - t0
        out["cpu_s"].append(ff.cpu_seconds(pid) - c0)
        out["plan_s"].append(dt)
        out["plan_bytes"].append(api.last_bytes)
        rss, hwm = ff.rss_kb(pid)
        out["rss_kb"].append(rss)
        s = plan["summary"]
        out["summary"] = {k: s[k] for k in ("create", "update", "delete", "noOp")}
        print(f"  plan {i + 1:>2}: {dt:6.3f} s, {api.last_bytes / 1024:6.1f} KiB, {len(plan['objects'])} objects on the"
              f" first page, summary {out['summary']}, daemon CPU {out['cpu_s'][-1]:.2f} s, RSS {rss // 1024} MiB"
              f" (peak {hwm // 1024} MiB) | baseline list {ls:.3f} s", flush=True)
    out["peak_rss_kb"] = ff.rss_kb(pid)[1]
    ratio = ff.med(out["plan_s"]) / ff.med(out["list_s"])
    print(f"  {args.label}: plan median {ff.mr(out['plan_s'])} s, response {max(out['plan_bytes']) / 1024:.1f} KiB max,"
          f" peak RSS {out['peak_rss_kb'] / 1024:.0f} MiB; baseline list-all {ff.mr(out['list_s'])} s;"
          f" plan / list-all = {ratio:.2f}", flush=True)
    if len(out["plan_s"]) > 1:
        # A never-applied fleet's first plan renders every runtime; later ones reuse the
        # renderings while nothing moved (engine::plan::memo).
        print(f"  {args.label}: first plan {out['plan_s'][0]:.3f} s, later plans median"
              f" {ff.mr(out['plan_s'][1:])} s", flush=True)
    return out


def apply(args, api):
    t0 = time.perf_counter()
    plan = api.call("POST", "/v1/plans", {"all": True, "refresh": True, "createNamespaces": True}, ok=(201,))
    plan_s = time.perf_counter() - t0
    t1 = time.time()
    run = api.call("POST", f"/v1/plans/{plan['id']}/apply", {}, ok=(202,))
    run = ff.wait_run(api, run["id"], t1)
    if run["status"] != "succeeded":
        ff.die(f"run {run['id']} {run['status']}: {run.get('error')}")
    apply_s = ff.ts(run["finishedAt"]) - t1
    print(f"  applied the fleet: plan (refresh) {plan_s:.1f} s, apply {apply_s:.1f} s,"
          f" {plan['summary']['create']} creates, requests {run['requests']}", flush=True)
    return {"apply_plan_s": plan_s, "apply_s": apply_s, "requests": run["requests"]}


def main():
    ap = argparse.ArgumentParser()
    for a in ("--addr", "--token", "--kubeconfig", "--phase", "--label", "--json"):
        ap.add_argument(a, required=a in ("--addr", "--token", "--phase", "--json"))
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--daemon-pid", type=int)
    args = ap.parse_args()
    api = ff.Api(args.addr, args.token)
    result = {"seed": seed, "plans": plans, "apply": apply}[args.phase](args, api)
    ff.write_json(args.json, result)


if __name__ == "__main__":
    main()

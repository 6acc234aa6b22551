#!/usr/bin/env python3
"""The floor of storing a never-applied plan: the rows a plan of N runtimes stores
(5 objects and 1 runtime row each, plus one credential Secret per namespace), inserted
by Python's sqlite3 into a database made by fluidform's own SQLite migrations, with the
daemon's settings (WAL, synchronous=FULL, foreign keys), one transaction per plan.

    python3 bench/plan_rows.py [--n 10000] [--reps 5]

No bookkeeping, no JSON, no thread hand-off: what is left is SQLite writing the rows and
their indexes, which a plan that keeps a row per object cannot go under.
"""
import argparse, glob, os, sqlite3, statistics, tempfile, time, uuid

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=10000)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--per-namespace", type=int, default=500)
args = ap.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
with tempfile.TemporaryDirectory() as d:
    db = sqlite3.connect(os.path.join(d, "floor.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    for m in sorted(glob.glob(os.path.join(here, "..", "migrations", "sqlite", "*.sql"))):
        db.executescript(open(m).read())
    kinds = [("v1", "ConfigMap", "config"), ("v1", "Service", "master-0"), ("apps/v1", "StatefulSet", "master"),
             ("apps/v1", "StatefulSet", "worker"), ("apps/v1", "DaemonSet", "fuse")]
    times = []
    for rep in range(args.reps):
        pid = str(uuid.uuid4())
        runtimes, objects = [], []
        for i in range(args.n):
            ns, name = f"ns{i // args.per_namespace:03d}", f"rt{i:05d}"
            runtimes.append((pid, ns, name, "c1", 0, i + 1, 1, 1, 0, "a" * 64, '{"global-secret":1}'))
            if i % args.per_namespace == 0:
                objects.append((pid, len(objects), "c1", ns, "v1", "Secret", "global-secret-v1", None, "create",
                                '["new"]', None, "b" * 64, "object"))
            for api, kind, suffix in kinds:
                objects.append((pid, len(objects), "c1", ns, api, kind, f"{name}-{suffix}", f"{ns}/{name}", "create",
                                '["new"]', None, "c" * 64, "object"))
        t = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO plans (id, created_at, expires_at, created_by, request, inputs, warnings, warning_count, summary)"
                   " VALUES (?, '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', 'bench', '{}', '{}', '[]', 0, '{}')", (pid,))
        db.executemany("INSERT INTO plan_runtimes (plan_id, namespace, name, cluster, removed, runtime_id, generation,"
                       " layer_revision, deps_revision, spec_hash, bindings) VALUES (?,?,?,?,?,?,?,?,?,?,?)", runtimes)
        db.executemany("INSERT INTO plan_objects (plan_id, seq, cluster, namespace, api_version, kind, name, runtime,"
                       " action, reasons, diff, digest, scope) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", objects)
        db.execute("COMMIT")
        times.append(time.perf_counter() - t)
    print(f"plan_rows: N={args.n}: {len(objects)} object rows + {len(runtimes)} runtime rows per transaction;"
          f" median {statistics.median(times):.3f} s ({min(times):.3f}–{max(times):.3f}) over {args.reps}")

#!/usr/bin/env python3
"""The floor of storing a never-applied plan: the rows a plan of N runtimes stores
(5 objects and 1 runtime row each, plus one credential Secret per namespace), inserted
by Python's sqlite3 into a database made by fluidform's own SQLite migrations, with the
daemon's settings (WAL, synchronous=FULL, foreign keys), one transaction per plan.
Twice: a row per object (as fluidform stored them before packing), and packed as
fluidform stores them now (`src/store/plans.rs`: each run of up to 128 creates of one
namespace and kind as one row of [name, runtime, digest] entries).

    python3 bench/plan_rows.py [--n 10000] [--reps 5]

No bookkeeping, no thread hand-off: what is left is SQLite writing the rows and their
indexes, which a plan that stores those rows cannot go under.
"""
import argparse, glob, json, os, sqlite3, statistics, tempfile, time, uuid

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
    PACK = 128

    def plan(pid, packed):
        runtimes, objects = [], []
        seq = 0  # objects so far, packed ones counted one by one
        for first in range(0, args.n, args.per_namespace):
            ns = f"ns{first // args.per_namespace:03d}"
            names = [f"rt{i:05d}" for i in range(first, min(first + args.per_namespace, args.n))]
            objects.append((pid, seq, "c1", ns, "v1", "Secret", "global-secret-v1", None, "create",
                            '["new"]', None, "b" * 64, "object", None))
            seq += 1
            for name in names:
                runtimes.append((pid, ns, name, "c1", 0, len(runtimes) + 1, 1, 1, 0, "a" * 64, '{"global-secret":1}'))
            # In plan order: every object of a kind in the namespace, kind after kind.
            for api, kind, suffix in kinds:
                entries = [(f"{name}-{suffix}", f"{ns}/{name}", "c" * 64) for name in names]
                if not packed:
                    for e in entries:
                        objects.append((pid, seq, "c1", ns, api, kind, e[0], e[1], "create", '["new"]', None,
                                        e[2], "object", None))
                        seq += 1
                    continue
                for k in range(0, len(entries), PACK):
                    run = entries[k:k + PACK]
                    seq += len(run)
                    objects.append((pid, seq - 1, "c1", ns, api, kind, run[-1][0], None, "create", '["new"]', None,
                                    None, "object", json.dumps(run)))
        return runtimes, objects

    for packed in (False, True):
        times = []
        for rep in range(args.reps):
            pid = str(uuid.uuid4())
            runtimes, objects = plan(pid, packed)
            t = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO plans (id, created_at, expires_at, created_by, request, inputs, warnings, warning_count, summary)"
                       " VALUES (?, '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', 'bench', '{}', '{}', '[]', 0, '{}')", (pid,))
            db.executemany("INSERT INTO plan_runtimes (plan_id, namespace, name, cluster, removed, runtime_id, generation,"
                           " layer_revision, deps_revision, spec_hash, bindings) VALUES (?,?,?,?,?,?,?,?,?,?,?)", runtimes)
            db.executemany("INSERT INTO plan_objects (plan_id, seq, cluster, namespace, api_version, kind, name, runtime,"
                           " action, reasons, diff, digest, scope, packed) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", objects)
            db.execute("COMMIT")
            times.append(time.perf_counter() - t)
        how = "packed" if packed else "a row per object"
        print(f"plan_rows: N={args.n}, {how}: {len(objects)} object rows + {len(runtimes)} runtime rows per transaction;"
              f" median {statistics.median(times):.3f} s ({min(times):.3f}–{max(times):.3f}) over {args.reps}")

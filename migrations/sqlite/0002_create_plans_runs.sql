-- Plans, runs, what was applied where, leases, and each runtime's sync state.

CREATE TABLE plans (
    id          TEXT PRIMARY KEY,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    request     TEXT NOT NULL,
    inputs      TEXT NOT NULL,
    objects     TEXT NOT NULL,
    warnings    TEXT NOT NULL,
    summary     TEXT NOT NULL,
    run_id      TEXT
);

CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    plan_id      TEXT NOT NULL REFERENCES plans(id),
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    actor        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT,
    error        TEXT,
    requests     TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX runs_one_per_plan ON runs (plan_id);

CREATE TABLE run_objects (
    run_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    cluster      TEXT NOT NULL,
    namespace    TEXT NOT NULL,
    api_version  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    action       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'applying', 'applied', 'failed', 'skipped', 'unknown')),
    error        TEXT,
    started_at   TEXT,
    finished_at  TEXT,
    PRIMARY KEY (run_id, seq)
);

-- What fluidform last applied (secret data never stored): the base for plans and drift.
CREATE TABLE applied_objects (
    cluster            TEXT NOT NULL,
    namespace          TEXT NOT NULL,
    api_version        TEXT NOT NULL,
    kind               TEXT NOT NULL,
    name               TEXT NOT NULL,
    runtime_namespace  TEXT,
    runtime_name       TEXT,
    fields             TEXT NOT NULL,
    applied_at         TEXT NOT NULL,
    run_id             TEXT NOT NULL,
    PRIMARY KEY (cluster, namespace, kind, name)
);
CREATE INDEX applied_objects_runtime ON applied_objects (runtime_namespace, runtime_name);

CREATE TABLE locks (
    id           TEXT PRIMARY KEY,
    holder       TEXT NOT NULL,
    run_id       TEXT,
    acquired_at  TEXT NOT NULL,
    renewed_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);

-- Per runtime: the inputs last applied, the sync policy, and what the last check found.
CREATE TABLE runtime_sync (
    namespace               TEXT NOT NULL,
    name                    TEXT NOT NULL,
    cluster                 TEXT NOT NULL,
    labels                  TEXT NOT NULL DEFAULT '{}',
    applied_generation      INTEGER,
    applied_spec_hash       TEXT,
    applied_layer_revision  INTEGER,
    applied_bindings        TEXT,
    last_run_id             TEXT,
    last_run_status         TEXT,
    drift                   TEXT NOT NULL DEFAULT '[]',
    checked_at              TEXT,
    PRIMARY KEY (namespace, name)
);

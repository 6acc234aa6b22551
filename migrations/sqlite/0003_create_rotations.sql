-- Staged credential rotations: the request, per-batch and per-runtime progress, and an
-- append-only event timeline (also streamed as server-sent events).

CREATE TABLE rotations (
    id              TEXT PRIMARY KEY,
    credential      TEXT NOT NULL,
    from_version    INTEGER,
    to_version      INTEGER NOT NULL,
    request         TEXT NOT NULL,
    state           TEXT NOT NULL,
    current_batch   INTEGER NOT NULL DEFAULT 0,
    failed_batches  INTEGER NOT NULL DEFAULT 0,
    rollback_state  TEXT,
    rollback_run_id TEXT,
    error           TEXT,
    actor           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    finished_at     TEXT
);
CREATE UNIQUE INDEX rotations_one_active_per_credential ON rotations (credential)
    WHERE state NOT IN ('succeeded', 'failed', 'aborted', 'rolled_back');

CREATE TABLE rotation_batches (
    rotation_id  TEXT NOT NULL REFERENCES rotations(id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    state        TEXT NOT NULL,
    run_id       TEXT,
    started_at   TEXT,
    restart_started_at TEXT,
    finished_at  TEXT,
    error        TEXT,
    PRIMARY KEY (rotation_id, idx)
);

CREATE TABLE rotation_runtimes (
    rotation_id   TEXT NOT NULL REFERENCES rotations(id) ON DELETE CASCADE,
    namespace     TEXT NOT NULL,
    name          TEXT NOT NULL,
    cluster       TEXT NOT NULL,
    batch         INTEGER NOT NULL,
    from_version  INTEGER,
    state         TEXT NOT NULL,
    error         TEXT,
    PRIMARY KEY (rotation_id, namespace, name)
);

CREATE TABLE rotation_events (
    rotation_id  TEXT NOT NULL REFERENCES rotations(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    at           TEXT NOT NULL,
    kind         TEXT NOT NULL,
    batch        INTEGER,
    data         TEXT NOT NULL,
    PRIMARY KEY (rotation_id, seq)
);

-- Plans at fleet scale: a plan row keeps its summary; the runtimes it was computed from
-- and the objects it changes are rows of their own (no-op objects are counted, not
-- stored), so staleness is one query and a plan's objects are paged.
-- Runtimes carry their latest layer revision (kept in step by every revision insert) so
-- planning reads heads without parsing manifests; runtime_sync records the render
-- fingerprint applied; clusters may set how many objects a run sends at once.

ALTER TABLE runtimes ADD COLUMN layer_revision INTEGER NOT NULL DEFAULT 0;
UPDATE runtimes SET layer_revision =
    COALESCE((SELECT MAX(revision) FROM layer_revisions l WHERE l.runtime_id = runtimes.id), 0);

ALTER TABLE runtime_sync ADD COLUMN applied_render TEXT;
ALTER TABLE runtime_sync ADD COLUMN applied_runtime_id INTEGER;
ALTER TABLE clusters ADD COLUMN apply_concurrency INTEGER;

CREATE TABLE plan_runtimes (
    plan_id         TEXT NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    cluster         TEXT NOT NULL,
    -- 1: applied, no longer desired (its objects are deleted)
    removed         INTEGER NOT NULL DEFAULT 0,
    runtime_id      INTEGER,
    generation      INTEGER NOT NULL DEFAULT 0,
    layer_revision  INTEGER NOT NULL DEFAULT 0,
    spec_hash       TEXT NOT NULL DEFAULT '',
    bindings        TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (plan_id, namespace, name)
);

CREATE TABLE plan_objects (
    plan_id      TEXT NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    cluster      TEXT NOT NULL,
    namespace    TEXT NOT NULL,
    api_version  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    -- namespace/name of the owning runtime; NULL for shared objects (credential Secrets)
    runtime      TEXT,
    action       TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    reasons      TEXT NOT NULL,
    -- the field diff for updates; creates and deletes are shown from the rendering and
    -- from what was applied when the object is read
    diff         TEXT,
    -- SHA-256 of the desired object without Secret data: apply sends exactly this
    digest       TEXT,
    PRIMARY KEY (plan_id, seq)
);
CREATE INDEX plan_objects_filter ON plan_objects (plan_id, action, cluster, kind, seq);

-- Plans saved before this migration: move their inputs and changed objects into rows.
INSERT OR IGNORE INTO plan_runtimes (plan_id, namespace, name, cluster, removed, runtime_id, generation, layer_revision, spec_hash, bindings)
    SELECT p.id, json_extract(r.value, '$.namespace'), json_extract(r.value, '$.name'), json_extract(r.value, '$.cluster'), 0,
           (SELECT id FROM runtimes x WHERE x.namespace = json_extract(r.value, '$.namespace') AND x.name = json_extract(r.value, '$.name')),
           json_extract(r.value, '$.generation'), json_extract(r.value, '$.layerRevision'),
           json_extract(r.value, '$.specHash'), COALESCE(json(json_extract(r.value, '$.bindings')), '{}')
    FROM plans p, json_each(p.inputs, '$.runtimes') r;
INSERT OR IGNORE INTO plan_runtimes (plan_id, namespace, name, cluster, removed)
    SELECT p.id, json_extract(r.value, '$.namespace'), json_extract(r.value, '$.name'), json_extract(r.value, '$.cluster'), 1
    FROM plans p, json_each(p.inputs, '$.removed') r;
INSERT INTO plan_objects (plan_id, seq, cluster, namespace, api_version, kind, name, runtime, action, reasons, diff, digest)
    SELECT p.id, o.key, json_extract(o.value, '$.cluster'), json_extract(o.value, '$.namespace'),
           json_extract(o.value, '$.apiVersion'), json_extract(o.value, '$.kind'), json_extract(o.value, '$.name'),
           json_extract(o.value, '$.runtime'), json_extract(o.value, '$.action'),
           COALESCE(json(json_extract(o.value, '$.reasons')), '[]'), json(json_extract(o.value, '$.diff')), NULL
    FROM plans p, json_each(p.objects) o
    WHERE json_extract(o.value, '$.action') != 'no-op';
UPDATE plans SET inputs = json_object(
    'runtimes', json_array_length(inputs, '$.runtimes'),
    'removed', json_array_length(inputs, '$.removed'),
    'clusters', json(COALESCE(json_extract(inputs, '$.clusters'), '{}')));
ALTER TABLE plans DROP COLUMN objects;
ALTER TABLE plans ADD COLUMN warning_count INTEGER NOT NULL DEFAULT 0;
UPDATE plans SET warning_count = json_array_length(warnings);

CREATE INDEX run_objects_status ON run_objects (run_id, status);
CREATE INDEX applied_objects_namespace ON applied_objects (cluster, namespace, runtime_namespace, runtime_name);
ALTER TABLE runs ADD COLUMN holder TEXT;

-- Plans may hold `conflict` objects: objects of fluidform's names that exist unowned
-- (see PlanRequest.adopt). SQLite cannot change a CHECK constraint, so the table is
-- rebuilt with its rows, indexes and the scope column of 0006.
CREATE TABLE plan_objects_new (
    plan_id     TEXT NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    cluster     TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    api_version TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    runtime     TEXT,
    action      TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete', 'conflict')),
    reasons     TEXT NOT NULL,
    diff        TEXT,
    digest      TEXT,
    scope       TEXT NOT NULL DEFAULT 'object' CHECK (scope IN ('object', 'pull_secrets')),
    PRIMARY KEY (plan_id, seq)
);
INSERT INTO plan_objects_new (plan_id, seq, cluster, namespace, api_version, kind, name, runtime, action, reasons, diff, digest, scope)
    SELECT plan_id, seq, cluster, namespace, api_version, kind, name, runtime, action, reasons, diff, digest, scope FROM plan_objects;
DROP TABLE plan_objects;
ALTER TABLE plan_objects_new RENAME TO plan_objects;
CREATE INDEX plan_objects_filter ON plan_objects (plan_id, action, cluster, kind, seq);

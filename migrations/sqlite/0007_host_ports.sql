-- Host ports allocated per cluster for runtimes on the host network (as Fluid's
-- controller allocates them from --runtime-node-port-range).
--
-- `port_range` is the cluster's range, `<first>-<last>`; NULL means the default,
-- 20000-25000. `runtime_ports` holds every host port a runtime's pods bind: the ones the
-- allocator gave it (`allocated = 1`, never shared within a cluster: the partial unique
-- index) and the ones its manifest fixes itself (`allocated = 0`, which the allocator
-- avoids but which may coincide with another runtime's, a warning). Rows go with their
-- runtime.

ALTER TABLE clusters ADD COLUMN port_range TEXT;

CREATE TABLE runtime_ports (
    runtime_id  INTEGER NOT NULL REFERENCES runtimes(id) ON DELETE CASCADE,
    cluster     TEXT NOT NULL,
    port_name   TEXT NOT NULL,
    port        INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    allocated   INTEGER NOT NULL CHECK (allocated IN (0, 1)),
    PRIMARY KEY (runtime_id, port_name)
);
CREATE UNIQUE INDEX runtime_ports_allocated ON runtime_ports (cluster, port) WHERE allocated = 1;
CREATE INDEX runtime_ports_cluster ON runtime_ports (cluster, port);

-- Data migrations that need the domain's rules (Rust), run once at the next start and
-- deleted in the transaction that does them. `host_ports`: allocate for every runtime
-- stored before this migration.
CREATE TABLE pending_tasks (name TEXT PRIMARY KEY);
INSERT INTO pending_tasks (name) VALUES ('host_ports');

-- What an operator sees of a batch while it works: its deadline (set when it starts and
-- again when it begins restarting pods or is resumed), what it is waiting for, the
-- workloads whose pods it replaces, and the workloads it left alone (already unhealthy).

ALTER TABLE rotation_batches ADD COLUMN deadline_at TEXT;
ALTER TABLE rotation_batches ADD COLUMN waiting_for TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rotation_batches ADD COLUMN workloads TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rotation_batches ADD COLUMN skipped TEXT NOT NULL DEFAULT '[]';
ALTER TABLE rotations ADD COLUMN rollback_deadline_at TEXT;

-- Webhook notifications: what each one subscribes to, where it posts, its signing secret
-- (sealed under the master key, never stored in clear), and a persisted outbox of
-- deliveries with every attempt, so a restart loses none and retries keep their schedule.

CREATE TABLE notifications (
    name           TEXT PRIMARY KEY,
    url            TEXT NOT NULL,
    triggers       TEXT NOT NULL,
    secret_sealed  TEXT NOT NULL,
    secret_fingerprint TEXT NOT NULL,
    description    TEXT,
    enabled        INTEGER NOT NULL DEFAULT 1,
    generation     INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL
);

CREATE TABLE notification_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    notification     TEXT NOT NULL REFERENCES notifications(name) ON DELETE CASCADE,
    trigger_name     TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    last_status      INTEGER,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    finished_at      TEXT
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);
CREATE INDEX notification_deliveries_by_name ON notification_deliveries (notification, id);

CREATE TABLE notification_attempts (
    delivery_id  INTEGER NOT NULL REFERENCES notification_deliveries(id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL,
    at           TEXT NOT NULL,
    status       INTEGER,
    error        TEXT,
    duration_ms  INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

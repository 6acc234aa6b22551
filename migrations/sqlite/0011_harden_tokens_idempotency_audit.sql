-- Hardening: token expiry and remembered revocations, idempotency keys reserved before
-- acting and scoped to the token that sent them, an append-only audit log, and
-- credential scopes.

ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;

-- Hashes of revoked tokens: a revoked bootstrap token is not restored at the next start.
CREATE TABLE revoked_tokens (
    token_hash  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    revoked_at  TEXT NOT NULL,
    revoked_by  TEXT NOT NULL
);

-- A key is reserved (`in_progress`) before the request acts and completed (`done`) with
-- its sealed reply; replies expire. Keyed by the hash of the token that sent it, so a
-- later token of the same name never sees them.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    token_hash    TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
    status        INTEGER,
    headers       TEXT,
    body          BLOB,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    PRIMARY KEY (token_hash, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Every mutating request and every refused authentication. Never a body or a secret.
-- Append-only: no row is changed or removed, whatever happens to the resource.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    actor       TEXT,
    role        TEXT,
    method      TEXT NOT NULL,
    route       TEXT NOT NULL,
    resource    TEXT NOT NULL,
    status      INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    remote      TEXT
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_resource ON audit_log (resource, id);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Where a credential may be used: JSON lists of names or `*` globs; NULL is everywhere.
ALTER TABLE credentials ADD COLUMN allowed_namespaces TEXT;
ALTER TABLE credentials ADD COLUMN allowed_clusters TEXT;

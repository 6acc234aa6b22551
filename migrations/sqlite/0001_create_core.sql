-- Core desired state: API tokens, clusters, credentials and their versions, runtimes,
-- their credential bindings and layer history, and idempotent POST replies.
-- Times are RFC 3339 UTC text; JSON columns hold canonical JSON text.

CREATE TABLE api_tokens (
    name        TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE clusters (
    name                         TEXT PRIMARY KEY,
    server                       TEXT NOT NULL,
    ca_data                      TEXT,
    insecure_skip_tls_verify     INTEGER NOT NULL DEFAULT 0,
    auth_kind                    TEXT NOT NULL CHECK (auth_kind IN ('token', 'clientCertificate')),
    auth_sealed                  TEXT NOT NULL,
    default_image_pull_secrets   TEXT NOT NULL DEFAULT '[]',
    generation                   INTEGER NOT NULL,
    created_at                   TEXT NOT NULL,
    updated_at                   TEXT NOT NULL
);

CREATE TABLE credentials (
    name         TEXT PRIMARY KEY,
    description  TEXT,
    generation   INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE credential_versions (
    credential   TEXT NOT NULL REFERENCES credentials(name) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    stage        TEXT CHECK (stage IN ('current', 'pending', 'previous')),
    registry     TEXT,
    fingerprint  TEXT NOT NULL,
    sealed       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    PRIMARY KEY (credential, version)
);
CREATE UNIQUE INDEX credential_versions_one_stage ON credential_versions (credential, stage)
    WHERE stage IS NOT NULL;

CREATE TABLE runtimes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace    TEXT NOT NULL,
    name         TEXT NOT NULL,
    cluster      TEXT NOT NULL REFERENCES clusters(name),
    manifest     TEXT NOT NULL,
    generation   INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (namespace, name)
);
CREATE INDEX runtimes_cluster ON runtimes (cluster, namespace, name);

CREATE TABLE runtime_bindings (
    runtime_id  INTEGER NOT NULL REFERENCES runtimes(id) ON DELETE CASCADE,
    credential  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (runtime_id, credential)
);
CREATE INDEX runtime_bindings_credential ON runtime_bindings (credential, version);

CREATE TABLE layer_revisions (
    runtime_id  INTEGER NOT NULL REFERENCES runtimes(id) ON DELETE CASCADE,
    revision    INTEGER NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    changes     TEXT NOT NULL,
    PRIMARY KEY (runtime_id, revision)
);

CREATE TABLE idempotency_keys (
    actor         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    headers       TEXT NOT NULL,
    body          BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (actor, key)
);

-- Several replicas on one database: each lease carries a fencing token, a number that
-- grows every time a lease changes hands, so a replica that lost its lease (it stalled
-- past it) cannot write as its holder any more; and live replicas announce themselves,
-- so work spread over them (each cluster's drift checks) is reassigned when one dies.

ALTER TABLE locks ADD COLUMN token BIGINT NOT NULL DEFAULT 0;

CREATE TABLE fencing_tokens (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    last  BIGINT NOT NULL
);
INSERT INTO fencing_tokens (id, last) VALUES (1, 0);

CREATE TABLE replicas (
    id          TEXT COLLATE "C" PRIMARY KEY,
    started_at  TEXT COLLATE "C" NOT NULL,
    seen_at     TEXT COLLATE "C" NOT NULL,
    expires_at  TEXT COLLATE "C" NOT NULL
);

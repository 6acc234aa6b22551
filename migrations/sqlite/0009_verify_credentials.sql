-- Credentials proven against their registry: how to trust the registry's TLS certificate
-- (per credential), and per version the last verification (JSON: outcome, time, actor and
-- each registry's outcome; never the secret) and when a superseded version was confirmed
-- revoked at its registry, by whom.
ALTER TABLE credentials ADD COLUMN registry_ca_data TEXT;
ALTER TABLE credentials ADD COLUMN insecure_skip_tls_verify INTEGER NOT NULL DEFAULT 0;
ALTER TABLE credential_versions ADD COLUMN verification TEXT;
ALTER TABLE credential_versions ADD COLUMN revoked_at TEXT;
ALTER TABLE credential_versions ADD COLUMN revoked_by TEXT;

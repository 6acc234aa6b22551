-- Fluid-native clusters: how a cluster runs runtimes (mode) and what was found on it;
-- runtimes of several kinds; Datasets and ThinRuntimeProfiles as desired state.
--
-- A runtime's `deps_revision` counts changes to what it depends on besides its own
-- manifest and layers (its Dataset, the ThinRuntimeProfile it names), so planning and
-- staleness compare one more integer instead of reading those documents.

ALTER TABLE clusters ADD COLUMN mode TEXT NOT NULL DEFAULT 'auto' CHECK (mode IN ('auto', 'fluid', 'standalone'));
-- JSON: what the last probe or refreshing plan found (Fluid's CRDs, kinds, controllers).
ALTER TABLE clusters ADD COLUMN detected TEXT;

ALTER TABLE runtimes ADD COLUMN kind TEXT NOT NULL DEFAULT 'AlluxioRuntime'
    CHECK (kind IN ('AlluxioRuntime', 'JindoRuntime', 'ThinRuntime'));
ALTER TABLE runtimes ADD COLUMN deps_revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runtime_sync ADD COLUMN applied_deps_revision INTEGER;
ALTER TABLE plan_runtimes ADD COLUMN deps_revision INTEGER NOT NULL DEFAULT 0;

CREATE TABLE datasets (
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    cluster     TEXT NOT NULL REFERENCES clusters(name),
    manifest    TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE INDEX datasets_cluster ON datasets (cluster, namespace, name);

CREATE TABLE thin_runtime_profiles (
    cluster     TEXT NOT NULL REFERENCES clusters(name),
    name        TEXT NOT NULL,
    manifest    TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (cluster, name)
);

-- Objects fluidform changes only in part: the pull-secret list of the pod template of a
-- workload Fluid created ('pull_secrets'); everything else is applied whole ('object').
ALTER TABLE plan_objects ADD COLUMN scope TEXT NOT NULL DEFAULT 'object' CHECK (scope IN ('object', 'pull_secrets'));
ALTER TABLE applied_objects ADD COLUMN scope TEXT NOT NULL DEFAULT 'object' CHECK (scope IN ('object', 'pull_secrets'));

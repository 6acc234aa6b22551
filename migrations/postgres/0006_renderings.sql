-- What plans keep of a never-applied runtime's rendering (`engine::plan::memo`), kept here
-- too so that a restarted process, or another replica, plans such a fleet without
-- rendering it again. `inputs` names everything the rendering is a function of (the build
-- included); a row whose inputs no longer hold is ignored and written over. A cache: losing
-- a row costs a rendering, never a wrong plan (a run renders again and checks digests).
CREATE TABLE renderings (
    runtime_id  BIGINT PRIMARY KEY REFERENCES runtimes(id) ON DELETE CASCADE,
    inputs      TEXT NOT NULL,
    memo        TEXT NOT NULL
);

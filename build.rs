//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds the directory.
//! Names the source the binary is built from (`FLUIDFORM_SOURCE_HASH`, a hash of every file
//! under `src/`): renderings kept in the database are only read back by the build that
//! made them (`engine::plan::memo`).
use std::hash::{Hash, Hasher};
use std::path::Path;

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=migrations/sqlite");
    println!("cargo:rerun-if-changed=migrations/postgres");
    println!("cargo:rerun-if-changed=src");
    let mut paths = Vec::new();
    files(Path::new("src"), &mut paths);
    paths.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in &paths {
        p.hash(&mut h);
        std::fs::read(p).unwrap_or_default().hash(&mut h);
    }
    println!("cargo:rustc-env=FLUIDFORM_SOURCE_HASH={:016x}", h.finish());
}

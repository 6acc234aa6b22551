//! Tiered-store levels as Fluid renders them: per-runtime directories
//! (`<path>/<namespace>/<name>`), Fluid's level numbering (MEM, then SSD, then HDD), the
//! Alluxio properties of each level, and the volumes of the worker and of the fuse (which
//! mounts the host-path tiers to read cached blocks locally).

use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use serde_json::Value;

use super::context::Ctx;
use super::parts::{empty_dir, host_path, level_quotas, levels, mount};
use crate::domain::manifest::{AlluxioRuntimeSpec, Level};
use crate::domain::quantity::{Quantity, alluxio_size};

/// One tier as rendered.
pub(super) struct Tier<'a> {
    /// The level as written; `None` for the chart's default tier.
    pub level: Option<&'a Level>,
    /// Position in `spec.tieredstore.levels`: names the volumes.
    pub index: usize,
    /// Fluid's level number: the rank of the medium among those present (MEM < SSD < HDD).
    pub ordinal: usize,
    /// False for the default tier Fluid's chart falls back to when the runtime has none.
    pub from_spec: bool,
    /// Directories as mounted: `<path>/<namespace>/<name>`, trailing `/` trimmed.
    pub paths: Vec<String>,
    /// Per-path quota in bytes.
    pub quotas: Vec<Option<u128>>,
    pub alias: String,
    /// `dirs.mediumtype`: the medium, or for an emptyDir `volumeSource` its `medium`.
    pub medium_type: String,
    pub empty_dir: bool,
}

fn medium_rank(m: &str) -> usize {
    match m {
        "MEM" => 0,
        "SSD" => 1,
        "HDD" => 2,
        _ => 3,
    }
}

impl<'a> Tier<'a> {
    pub fn all(spec: &'a AlluxioRuntimeSpec, ns: &str, name: &str) -> Vec<Tier<'a>> {
        let levels = levels(spec);
        if levels.is_empty() {
            // Fluid's chart keeps its values default when the runtime gives no level.
            return vec![Tier {
                level: None,
                index: 0,
                ordinal: 0,
                from_spec: false,
                paths: vec!["/dev/shm".to_string()],
                quotas: vec![Some(1_000_000_000)],
                alias: "MEM".to_string(),
                medium_type: "MEM".to_string(),
                empty_dir: true,
            }];
        }
        let mut media: Vec<&str> = levels.iter().map(|l| l.mediumtype.as_str()).collect();
        media.sort_by_key(|m| medium_rank(m));
        media.dedup();
        levels
            .iter()
            .enumerate()
            .map(|(index, level)| {
                let empty_dir = level.volume_type.as_deref() == Some("emptyDir");
                let source_medium = level
                    .volume_source
                    .as_ref()
                    .filter(|_| empty_dir)
                    .and_then(|v| v.get("emptyDir"))
                    .map(|e| e.get("medium").and_then(Value::as_str).unwrap_or("").to_string());
                Tier {
                    level: Some(level),
                    index,
                    ordinal: media.iter().position(|m| *m == level.mediumtype).unwrap_or(0),
                    from_spec: true,
                    paths: level.paths().iter().map(|p| format!("{}/{ns}/{name}", p.trim_end_matches('/'))).collect(),
                    quotas: level_quotas(level),
                    alias: level.mediumtype.clone(),
                    medium_type: source_medium.unwrap_or_else(|| level.mediumtype.clone()),
                    empty_dir,
                }
            })
            .collect()
    }

    /// Alluxio's text for each path's quota. The default tier keeps the chart's `1G`.
    pub fn quota_texts(&self) -> Vec<String> {
        if !self.from_spec {
            return vec!["1G".to_string()];
        }
        self.quotas.iter().map(|q| alluxio_size(q.unwrap_or(0))).collect()
    }

    /// `-D` options of this level, as Fluid's chart writes them into `ALLUXIO_JAVA_OPTS`.
    pub fn java_opts(&self) -> Vec<String> {
        let key = format!("-Dalluxio.worker.tieredstore.level{}", self.ordinal);
        vec![
            format!("{key}.alias={}", self.alias),
            format!("{key}.dirs.mediumtype={}", vec![self.medium_type.as_str(); self.paths.len()].join(",")),
            format!("{key}.dirs.path={}", self.paths.join(",")),
            format!("{key}.dirs.quota={}", self.quota_texts().join(",")),
        ]
    }

    fn volume_name(&self, j: usize) -> String {
        format!("tieredstore-{}-{j}", self.index)
    }

    fn volume(&self, j: usize) -> Volume {
        let name = self.volume_name(j);
        let path = &self.paths[j];
        if !self.empty_dir {
            return host_path(&name, path, "DirectoryOrCreate");
        }
        if let Some(src) = self.level.and_then(|l| l.volume_source.as_ref()) {
            let mut v = src.clone();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("name".into(), Value::String(name.clone()));
            }
            return serde_json::from_value(v).unwrap_or_else(|_| empty_dir(&name));
        }
        let size_limit = if self.from_spec {
            self.quotas.get(j).copied().flatten().map(|b| Quantity::from_bytes(b).to_string())
        } else {
            Some("1G".to_string())
        };
        Volume {
            name,
            empty_dir: Some(EmptyDirVolumeSource {
                medium: (self.alias == "MEM").then(|| "Memory".to_string()),
                size_limit: size_limit.map(K8sQuantity),
            }),
            ..Default::default()
        }
    }
}

impl Ctx<'_> {
    /// Every tier's volumes and mounts: the worker pod's (its init container's too).
    pub(super) fn worker_tier_volumes(&self) -> (Vec<Volume>, Vec<VolumeMount>) {
        self.tier_volumes(|_| true)
    }

    /// The host-path tiers: the fuse reads cached blocks from them directly (Fluid's
    /// short-circuit policy `local`). emptyDir tiers are the worker pod's own.
    pub(super) fn fuse_tier_volumes(&self) -> (Vec<Volume>, Vec<VolumeMount>) {
        self.tier_volumes(|t| !t.empty_dir)
    }

    fn tier_volumes(&self, keep: impl Fn(&Tier) -> bool) -> (Vec<Volume>, Vec<VolumeMount>) {
        let mut volumes = Vec::new();
        let mut mounts = Vec::new();
        for tier in self.tiers.iter().filter(|t| keep(t)) {
            for (j, path) in tier.paths.iter().enumerate() {
                volumes.push(tier.volume(j));
                mounts.push(mount(&tier.volume_name(j), path));
            }
        }
        (volumes, mounts)
    }

    /// Level 0's directories (Fluid's `ALLUXIO_WORKER_TIEREDSTORE_LEVEL0_DIRS_PATH`).
    pub(super) fn level0_path(&self) -> String {
        self.tiers
            .iter()
            .find(|t| t.from_spec && t.ordinal == 0)
            .map(|t| t.paths.join(","))
            .unwrap_or_else(|| format!("/dev/shm/{}/{}", self.ns, self.name))
    }

    /// The paths as written, `:`-separated: what `init-users` makes writable.
    pub(super) fn raw_tier_paths(&self) -> String {
        levels(self.spec).iter().flat_map(|l| l.paths()).collect::<Vec<_>>().join(":")
    }
}

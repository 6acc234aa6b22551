//! Fluid's `Dataset` (`data.fluid.io/v1alpha1`) as a user writes it, its strict parsing,
//! and the helpers the renderer needs (effective access modes and mount paths).
//!
//! Decisions Fluid left open, or where fluidform differs:
//! - Parsing is as strict as for runtimes: any field Fluid does not define is refused with
//!   its JSON path, `status` is not accepted, and `metadata` keeps name, namespace, labels
//!   and annotations only. `mountPoint`, `encryptOptions[].name` and `secretKeyRef.name`
//!   parse as empty when missing so validation can report every one of them.
//! - `owner` reuses the runtimes' `RunAs` type: Fluid uses one `User` struct for both.
//! - Kubernetes-typed fields (`tolerations`, `nodeAffinity.required`) are kept as JSON and
//!   checked by validation against the Kubernetes types.
//! - The effective path of a mount is Fluid's `UFSPathBuilder`: `path` when absolute, else
//!   `/<name>` (leading `/` of the name trimmed). Fluid's Thin engine instead uses `path`
//!   whenever it is non-empty; validation refuses a relative `path`, so the two agree on
//!   every Dataset fluidform accepts.
//! - Validation is in `validate::dataset` (re-exported here): see its module doc.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::FieldError;
use super::manifest::{ObjectMeta, RunAs};
use super::parse::{ManifestFormat, parse_strict};

pub use super::validate::dataset::validate_dataset;

pub const KIND: &str = "Dataset";

/// Kubernetes' `PersistentVolumeAccessMode` values.
pub const ACCESS_MODES: [&str; 4] = ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"];
/// The access modes Fluid uses when `accessModes` is empty.
pub const DEFAULT_ACCESS_MODE: &str = "ReadOnlyMany";
/// The scheme of a mount that mounts another Dataset (`dataset://<namespace>/<name>`).
pub const DATASET_SCHEME: &str = "dataset://";

/// A Dataset manifest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dataset {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: DatasetSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatasetSpec {
    /// The storage to mount; omit it (never `[]`) for runtimes that mount nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,
    /// The user and group owning the mounted files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<RunAs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<CacheableNodeAffinity>,
    /// Kubernetes `Toleration` objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub tolerations: Option<Vec<Value>>,
    /// Kubernetes access modes; empty means `[ReadOnlyMany]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_modes: Option<Vec<String>>,
    /// Informational: Fluid records the bound runtime in `status.runtimes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtimes: Option<Vec<DatasetRuntime>>,
    /// `Exclusive` (or empty, the same) or `Shared`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_restore_location: Option<DataRestoreLocation>,
    /// Options applied to every mount; a mount's own `options` override them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_options: Option<BTreeMap<String, String>>,
    /// Secret-backed options applied to every mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_encrypt_options: Option<Vec<EncryptOption>>,
}

/// One storage mounted into the Dataset.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mount {
    /// The source, e.g. `s3://bucket/path`, `local:///data`, `pvc://claim/sub`, `dataset://ns/name`.
    #[serde(default)]
    pub mount_point: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the mount appears in the Dataset; `/<name>` when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
    /// Options whose values come from Secrets (credentials belong here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt_options: Option<Vec<EncryptOption>>,
}

/// A mount option whose value is read from a key of a Secret in the Dataset's namespace.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptOption {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EncryptOptionSource>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptOptionSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeySelector>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretKeySelector {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Where the Dataset may be cached.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CacheableNodeAffinity {
    /// A Kubernetes `NodeSelector` (`{nodeSelectorTerms: [...]}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub required: Option<Value>,
}

/// Fluid's `Runtime` entry of a Dataset: a runtime serving it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatasetRuntime {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// e.g. `Accelerate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// e.g. `alluxio`, `jindo`, `thin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    pub runtime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_replicas: Option<i32>,
}

/// Where a backed-up Dataset is restored from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataRestoreLocation {
    /// `local://<subpath>` or `pvc://<claim>/<subpath>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The node holding a `local://` backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
}

impl Mount {
    /// The mount's path inside the Dataset: `path` when absolute, else `/<name>`.
    pub fn effective_path(&self) -> String {
        match self.path.as_deref() {
            Some(p) if p.starts_with('/') => p.to_string(),
            _ => format!("/{}", self.name.as_deref().unwrap_or("").trim_start_matches('/')),
        }
    }

    /// `<namespace>/<name>` of the Dataset a `dataset://` mount refers to, if it is one.
    pub fn referenced_dataset(&self) -> Option<(&str, &str)> {
        let rest = self.mount_point.strip_prefix(DATASET_SCHEME)?;
        let mut parts = rest.splitn(3, '/');
        match (parts.next(), parts.next()) {
            (Some(ns), Some(name)) => Some((ns, name)),
            _ => None,
        }
    }
}

impl Dataset {
    /// `spec.accessModes`, or `[ReadOnlyMany]` when empty, as Fluid reads them.
    pub fn effective_access_modes(&self) -> Vec<String> {
        match self.spec.access_modes.as_deref() {
            Some(modes) if !modes.is_empty() => modes.to_vec(),
            _ => vec![DEFAULT_ACCESS_MODE.to_string()],
        }
    }

    /// Fluid mounts the Dataset read-only when any effective mode is `ReadOnlyMany`.
    pub fn is_read_only(&self) -> bool {
        self.effective_access_modes().iter().any(|m| m == DEFAULT_ACCESS_MODE)
    }

    /// The mounts, empty when none are given.
    pub fn mounts(&self) -> &[Mount] {
        self.spec.mounts.as_deref().unwrap_or(&[])
    }

    /// `metadata.labels`, for selection.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.metadata.labels.clone().unwrap_or_default()
    }
}

/// Parse a Dataset exactly as a Fluid user writes it, refusing unknown fields by path.
pub fn parse_dataset(body: &[u8], format: ManifestFormat) -> Result<Dataset, FieldError> {
    parse_strict(body, format)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const DATASET_YAML: &str = r#"apiVersion: data.fluid.io/v1alpha1
kind: Dataset
metadata:
  name: hbase
spec:
  mounts:
    - mountPoint: oss://bucket/hbase
      name: hbase
      options:
        fs.oss.endpoint: oss-cn-hangzhou.aliyuncs.com
      encryptOptions:
        - name: fs.oss.accessKeyId
          valueFrom:
            secretKeyRef:
              name: oss-credentials
              key: id
        - name: fs.oss.accessKeySecret
          valueFrom:
            secretKeyRef:
              name: oss-credentials
              key: secret
  accessModes:
    - ReadWriteMany
  placement: Shared
"#;

    pub(crate) fn dataset() -> Dataset {
        parse_dataset(DATASET_YAML.as_bytes(), ManifestFormat::Yaml).expect("example parses")
    }

    #[test]
    fn example_parses_and_round_trips() {
        let ds = dataset();
        assert_eq!(ds.mounts()[0].mount_point, "oss://bucket/hbase");
        assert_eq!(ds.spec.placement.as_deref(), Some("Shared"));
        let json = serde_json::to_vec(&ds).unwrap();
        assert_eq!(parse_dataset(&json, ManifestFormat::Json).unwrap(), ds);
        let v: Value = serde_json::from_slice(&json).unwrap();
        assert!(v["spec"].get("owner").is_none(), "absent fields stay absent");
        assert_eq!(v["spec"]["mounts"][0]["encryptOptions"][1]["valueFrom"]["secretKeyRef"]["key"], "secret");
    }

    #[test]
    fn errors_name_the_path() {
        let cases: &[(&str, &str, &str)] = &[
            (
                r#"{"spec":{"mounts":[{"mountPoint":"s3://b/x","readonly":true}]}}"#,
                "spec.mounts[0].readonly",
                "unknown field",
            ),
            (r#"{"spec":{"mount":[]}}"#, "spec.mount", "unknown field"),
            (r#"{"status":{"phase":"Bound"}}"#, "status", "unknown field"),
            (
                r#"{"spec":{"sharedEncryptOptions":[{"name":"a","valueFrom":{"secretKeyRef":{"nam":"s"}}}]}}"#,
                "spec.sharedEncryptOptions[0].valueFrom.secretKeyRef.nam",
                "unknown field",
            ),
            (r#"{"spec":{"owner":{"uid":"x"}}}"#, "spec.owner.uid", "invalid type"),
            (r#"{"spec":{"mounts":[{"options":{"a":1}}]}}"#, "spec.mounts[0].options.a", "invalid type"),
            (r#"{"spec":{"runtimes":[{"type":"alluxio","kind":"x"}]}}"#, "spec.runtimes[0].kind", "unknown field"),
            (r#"{"metadata":{"uid":"x"}}"#, "metadata.uid", "unknown field"),
        ];
        for (body, field, message) in cases {
            let err = parse_dataset(body.as_bytes(), ManifestFormat::Json).expect_err(body);
            assert_eq!(err.field, *field, "{body}: {err:?}");
            assert!(err.message.contains(message), "{body}: {err:?}");
        }
    }

    #[test]
    fn effective_paths() {
        let cases: &[(Option<&str>, Option<&str>, &str)] = &[
            (Some("/data"), Some("x"), "/data"),
            (None, Some("x"), "/x"),
            (Some("relative"), Some("x"), "/x"),
            (Some(""), Some("x"), "/x"),
            (None, Some("/x"), "/x"),
            (None, None, "/"),
            (Some("/"), None, "/"),
        ];
        for (path, name, want) in cases {
            let m = Mount { path: path.map(str::to_string), name: name.map(str::to_string), ..Default::default() };
            assert_eq!(m.effective_path(), *want, "path {path:?} name {name:?}");
        }
    }

    #[test]
    fn referenced_datasets() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("dataset://ns/name", Some(("ns", "name"))),
            ("dataset://ns/name/sub/dir", Some(("ns", "name"))),
            ("dataset://ns", None),
            ("s3://ns/name", None),
        ];
        for (mp, want) in cases {
            let m = Mount { mount_point: mp.to_string(), ..Default::default() };
            assert_eq!(m.referenced_dataset(), *want, "{mp}");
        }
    }

    #[test]
    fn access_modes_and_read_only() {
        type Row<'a> = (Option<&'a [&'a str]>, &'a [&'a str], bool);
        let cases: &[Row] = &[
            (None, &["ReadOnlyMany"], true),
            (Some(&[]), &["ReadOnlyMany"], true),
            (Some(&["ReadWriteMany"]), &["ReadWriteMany"], false),
            (Some(&["ReadWriteOnce", "ReadOnlyMany"]), &["ReadWriteOnce", "ReadOnlyMany"], true),
            (Some(&["ReadWriteOncePod"]), &["ReadWriteOncePod"], false),
        ];
        for (given, want, ro) in cases {
            let mut ds = dataset();
            ds.spec.access_modes = given.map(|g| g.iter().map(|s| s.to_string()).collect());
            assert_eq!(ds.effective_access_modes(), *want, "{given:?}");
            assert_eq!(ds.is_read_only(), *ro, "{given:?}");
        }
    }
}

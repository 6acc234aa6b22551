//! The AlluxioRuntime manifest as a Fluid user writes it (`data.fluid.io/v1alpha1`), and
//! its strict parsing from JSON or YAML.
//!
//! Decisions the brief left open:
//! - Every field Fluid defines is modelled; any other field is rejected with its JSON path
//!   (`spec.master.foo`). `status` is not accepted. `metadata` keeps only `name`,
//!   `namespace`, `labels` and `annotations`; other metadata fields are rejected.
//! - `apiVersion`, `kind`, `metadata.name`, `tieredstore.levels[].mediumtype` and `path`
//!   parse as empty when missing, so that validation can report them with their path
//!   rather than the parser stopping at the first one.
//! - Quantities (`quota`, resource requests/limits) and watermarks (`high`, `low`) accept
//!   a string or a number, as Kubernetes does, and are stored as the string form.
//! - Kubernetes-typed fields Fluid embeds (`volumes`, `volumeMounts`, `volumeSource`) are
//!   kept as JSON and checked against the Kubernetes types by validation.
//! - Maps are ordered by key, so the canonical JSON of a manifest is deterministic.
//! - `resources.claims` is modelled because Fluid's CRD defines it for every component;
//!   validation refuses it (Fluid's engines never copy it into the pods).
//! - The types Fluid shares between runtimes (`VersionSpec`, `Resources`, `PodMetadata`,
//!   `TieredStore`, `RunAs`, `Management`) live here and are reused by the Jindo and Thin
//!   models; parsing is shared too (`parse`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::FieldError;
pub use super::parse::ManifestFormat;

/// A string that may be written as a number in the input (`quota: 1024`, `high: 0.95`);
/// always serialized as a string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct StringOrNumber(pub String);

/// Described as what it accepts: a string or a number. CustomResourceDefinitions render it
/// as `x-kubernetes-int-or-string` (see `crd`), as Kubernetes does for quantities.
impl utoipa::PartialSchema for StringOrNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some("A string, or a number read as its decimal text."))
            .into()
    }
}

impl ToSchema for StringOrNumber {}

impl StringOrNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for StringOrNumber {
    fn from(s: &str) -> Self {
        StringOrNumber(s.to_string())
    }
}

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StringOrNumber;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(StringOrNumber(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// The metadata fluidform keeps from a manifest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An AlluxioRuntime manifest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlluxioRuntime {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: AlluxioRuntimeSpec,
}

/// `{name}`: a reference to a Secret in the runtime's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalObjectReference {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlluxioRuntimeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alluxio_version: Option<VersionSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<ComponentSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_master: Option<ComponentSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<ComponentSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_worker: Option<ComponentSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_gateway: Option<ComponentSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_users: Option<InitUsersSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse: Option<FuseSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jvm_options: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tieredstore: Option<TieredStore>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataSpec>,
    /// Worker count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<RunAs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_prometheus: Option<bool>,
    /// Name of a ConfigMap holding `hdfs-site.xml` / `core-site.xml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hadoop_config: Option<String>,
    /// Kubernetes `Volume` objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub volumes: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management: Option<Management>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
}

/// `{requests, limits}`, each a map of resource name to quantity, and `claims`
/// (Kubernetes `ResourceClaim` objects), which validation refuses: Fluid's engines copy
/// only requests and limits into the pods.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<BTreeMap<String, StringOrNumber>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<BTreeMap<String, StringOrNumber>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub claims: Option<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Fluid's `AlluxioCompTemplateSpec`: master, jobMaster, worker, jobWorker, apiGateway.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ComponentSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jvm_options: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
    /// Port name → number (e.g. `rpc: 19998`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<BTreeMap<String, i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Kubernetes `VolumeMount` objects naming entries of `spec.volumes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub volume_mounts: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
}

/// Fluid's `AlluxioFuseSpec`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FuseSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jvm_options: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// `OnDemand` or `OnRuntimeDeleted`; Fluid's controller acts on it, the render does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub volume_mounts: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InitUsersSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TieredStore {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<Level>>,
}

/// One tier of the worker cache.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Level {
    /// `MEM`, `SSD` or `HDD`.
    #[serde(default)]
    pub mediumtype: String,
    /// `hostPath` (default) or `emptyDir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    /// A Kubernetes `VolumeSource` (for `emptyDir`: `{emptyDir: {...}}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub volume_source: Option<Value>,
    /// Comma-separated absolute paths.
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<StringOrNumber>,
    /// Comma-separated quantities, one per path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub high: Option<StringOrNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub low: Option<StringOrNumber>,
}

impl Level {
    /// The tier's paths, trimmed, in order (empty entries kept so validation can name them).
    pub fn paths(&self) -> Vec<&str> {
        self.path.split(',').map(str::trim).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunAs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Fluid's `RuntimeManagement`; kept for compatibility, acted on by Fluid's controller.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Management {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_cache_policy: Option<CleanCachePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_sync_policy: Option<MetadataSyncPolicy>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CleanCachePolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_attempts: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetadataSyncPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_sync: Option<bool>,
}

/// The pull-secret names of each layer a runtime declares, in order as written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct RuntimeLayers {
    pub global: Vec<String>,
    pub master: Vec<String>,
    pub worker: Vec<String>,
    pub fuse: Vec<String>,
}

pub(crate) fn secret_names(list: Option<&Vec<LocalObjectReference>>) -> Vec<String> {
    list.map(|l| l.iter().map(|r| r.name.clone()).collect()).unwrap_or_default()
}

/// Renames every `from` in a pull-secret list to `to`, keeping positions; true on a change.
pub(crate) fn replace_name(list: Option<&mut Vec<LocalObjectReference>>, from: &str, to: &str) -> bool {
    let mut changed = false;
    for r in list.into_iter().flatten() {
        if r.name == from {
            r.name = to.to_string();
            changed = true;
        }
    }
    changed
}

impl AlluxioRuntime {
    /// The runtime-declared pull-secret layers (the cluster default lives elsewhere).
    pub fn layers(&self) -> RuntimeLayers {
        let s = &self.spec;
        RuntimeLayers {
            global: secret_names(s.image_pull_secrets.as_ref()),
            master: secret_names(s.master.as_ref().and_then(|c| c.image_pull_secrets.as_ref())),
            worker: secret_names(s.worker.as_ref().and_then(|c| c.image_pull_secrets.as_ref())),
            fuse: secret_names(s.fuse.as_ref().and_then(|c| c.image_pull_secrets.as_ref())),
        }
    }

    /// Replaces the pull-secret name `from` by `to` in one layer (`global`, `master`,
    /// `worker` or `fuse`), keeping its position; true when something changed.
    pub fn replace_in_layer(&mut self, layer: &str, from: &str, to: &str) -> bool {
        let s = &mut self.spec;
        let list = match layer {
            "global" => s.image_pull_secrets.as_mut(),
            "master" => s.master.as_mut().and_then(|c| c.image_pull_secrets.as_mut()),
            "worker" => s.worker.as_mut().and_then(|c| c.image_pull_secrets.as_mut()),
            "fuse" => s.fuse.as_mut().and_then(|c| c.image_pull_secrets.as_mut()),
            _ => None,
        };
        replace_name(list, from, to)
    }

    /// `metadata.labels`, for selection.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.metadata.labels.clone().unwrap_or_default()
    }
}

#[cfg(test)]
mod layer_edit_tests {
    use super::*;

    #[test]
    fn replace_in_layer_touches_only_that_layer() {
        let yaml = "apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata:\n  name: r\nspec:\n  imagePullSecrets:\n    - name: a\n  worker:\n    imagePullSecrets:\n      - name: a\n      - name: b\n";
        let mut rt = parse_runtime(yaml.as_bytes(), ManifestFormat::Yaml).unwrap();
        assert!(rt.replace_in_layer("worker", "a", "c"));
        assert_eq!(rt.layers().worker, ["c", "b"]);
        assert_eq!(rt.layers().global, ["a"], "other layers untouched");
        assert!(!rt.replace_in_layer("master", "a", "c"), "an absent layer changes nothing");
    }
}

/// Parse a manifest exactly as a Fluid user writes it. Unknown fields are rejected naming
/// their JSON path; both formats go through a JSON value first so paths read the same.
pub fn parse_runtime(body: &[u8], format: ManifestFormat) -> Result<AlluxioRuntime, FieldError> {
    super::parse::parse_strict(body, format)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The example from FLUID.md, verbatim.
    pub(crate) const SEED_YAML: &str = r#"apiVersion: data.fluid.io/v1alpha1
kind: AlluxioRuntime
metadata:
  name: hbase
spec:
  replicas: 2
  imagePullSecrets:
    - name: global-secret
  tieredstore:
    levels:
      - mediumtype: MEM
        path: /dev/shm
        quota: 2Gi
        high: "0.95"
        low: "0.7"
  master:
    replicas: 3
    imagePullSecrets:
      - name: master-secret
  worker:
    imagePullSecrets:
      - name: worker-secret
"#;

    pub(crate) fn seed() -> AlluxioRuntime {
        parse_runtime(SEED_YAML.as_bytes(), ManifestFormat::Yaml).expect("seed parses")
    }

    /// The seed manifest with a JSON merge-patch applied (null removes a field).
    pub(crate) fn seed_patched(patch: Value) -> AlluxioRuntime {
        fn merge(target: &mut Value, patch: &Value) {
            match (target, patch) {
                (Value::Object(t), Value::Object(p)) => {
                    for (k, v) in p {
                        if v.is_null() {
                            t.remove(k);
                        } else {
                            merge(t.entry(k.clone()).or_insert(Value::Object(Default::default())), v);
                        }
                    }
                }
                (t, p) => *t = p.clone(),
            }
        }
        let mut v = serde_json::to_value(seed()).unwrap();
        merge(&mut v, &patch);
        parse_runtime(&serde_json::to_vec(&v).unwrap(), ManifestFormat::Json)
            .unwrap_or_else(|e| panic!("patched manifest does not parse: {e}"))
    }

    #[test]
    fn seed_yaml_parses_and_matches_json() {
        let rt = seed();
        assert_eq!(rt.kind, "AlluxioRuntime");
        assert_eq!(rt.metadata.name, "hbase");
        assert_eq!(rt.spec.replicas, Some(2));
        assert_eq!(rt.spec.master.as_ref().unwrap().replicas, Some(3));
        let level = &rt.spec.tieredstore.as_ref().unwrap().levels.as_ref().unwrap()[0];
        assert_eq!(level.quota.as_ref().unwrap().as_str(), "2Gi");
        assert_eq!(level.high.as_ref().unwrap().as_str(), "0.95");

        let json = r#"{"apiVersion":"data.fluid.io/v1alpha1","kind":"AlluxioRuntime",
            "metadata":{"name":"hbase"},
            "spec":{"replicas":2,"imagePullSecrets":[{"name":"global-secret"}],
              "tieredstore":{"levels":[{"mediumtype":"MEM","path":"/dev/shm","quota":"2Gi",
                 "high":"0.95","low":"0.7"}]},
              "master":{"replicas":3,"imagePullSecrets":[{"name":"master-secret"}]},
              "worker":{"imagePullSecrets":[{"name":"worker-secret"}]}}}"#;
        let from_json = parse_runtime(json.as_bytes(), ManifestFormat::Json).unwrap();
        assert_eq!(from_json, rt);
        assert_eq!(serde_json::to_value(&from_json).unwrap(), serde_json::to_value(&rt).unwrap());
    }

    #[test]
    fn canonical_json_round_trips() {
        let rt = seed();
        let canonical = serde_json::to_vec(&rt).unwrap();
        let again = parse_runtime(&canonical, ManifestFormat::Json).unwrap();
        assert_eq!(again, rt);
        let v = serde_json::to_value(&rt).unwrap();
        assert!(v["spec"].get("fuse").is_none(), "absent fields stay absent");
        assert_eq!(v["spec"]["master"]["replicas"], 3);
    }

    #[test]
    fn numbers_accepted_for_quantities_and_watermarks() {
        let yaml = SEED_YAML.replace("quota: 2Gi", "quota: 1073741824").replace("high: \"0.95\"", "high: 0.95");
        let rt = parse_runtime(yaml.as_bytes(), ManifestFormat::Yaml).unwrap();
        let level = &rt.spec.tieredstore.unwrap().levels.unwrap()[0];
        assert_eq!(level.quota.as_ref().unwrap().as_str(), "1073741824");
        assert_eq!(level.high.as_ref().unwrap().as_str(), "0.95");
    }

    #[test]
    fn errors_name_the_path() {
        let cases: &[(&str, ManifestFormat, &str, &str)] = &[
            (
                "apiVersion: data.fluid.io/v1alpha1\nkind: AlluxioRuntime\nmetadata: {name: a}\nspec:\n  master:\n    foo: 1\n",
                ManifestFormat::Yaml,
                "spec.master.foo",
                "unknown field `foo`",
            ),
            (
                r#"{"kind":"AlluxioRuntime","spec":{"master":{"foo":1}}}"#,
                ManifestFormat::Json,
                "spec.master.foo",
                "unknown field `foo`",
            ),
            (
                r#"{"spec":{"tieredstore":{"levels":[{"mediumtype":"MEM","path":"/a"},{"bogus":true}]}}}"#,
                ManifestFormat::Json,
                "spec.tieredstore.levels[1].bogus",
                "unknown field `bogus`",
            ),
            (
                r#"{"spec":{"worker":{"imagePullSecrets":[{"name":"a"},{"name":7}]}}}"#,
                ManifestFormat::Json,
                "spec.worker.imagePullSecrets[1].name",
                "invalid type",
            ),
            (r#"{"spec":{"replicas":"two"}}"#, ManifestFormat::Json, "spec.replicas", "invalid type"),
            (r#"{"status":{}}"#, ManifestFormat::Json, "status", "unknown field"),
            ("{not json", ManifestFormat::Json, "", "invalid JSON"),
            ("a: [1, 2", ManifestFormat::Yaml, "", "invalid YAML"),
            ("[1, 2]", ManifestFormat::Json, "", "must be an object"),
            ("- 1\n", ManifestFormat::Yaml, "", "must be an object"),
            ("kind: A\nkind: B\n", ManifestFormat::Yaml, "", "duplicate mapping key"),
            (r#"{"spec":{"replicas":1,"replicas":2}}"#, ManifestFormat::Json, "spec.replicas", "duplicate field"),
        ];
        for (body, format, field, message) in cases {
            let err = parse_runtime(body.as_bytes(), *format).expect_err(body);
            assert_eq!(err.field, *field, "{body}: {err:?}");
            assert!(err.message.contains(message), "{body}: {err:?}");
        }
    }

    #[test]
    fn wrong_kind_parses_for_validation_to_report() {
        let yaml = SEED_YAML.replace("kind: AlluxioRuntime", "kind: JindoRuntime");
        let rt = parse_runtime(yaml.as_bytes(), ManifestFormat::Yaml).unwrap();
        assert_eq!(rt.kind, "JindoRuntime");
    }

    #[test]
    fn layers_and_labels() {
        let rt = seed();
        let l = rt.layers();
        assert_eq!(l.global, vec!["global-secret"]);
        assert_eq!(l.master, vec!["master-secret"]);
        assert_eq!(l.worker, vec!["worker-secret"]);
        assert!(l.fuse.is_empty());
        assert!(rt.labels().is_empty());
    }
}

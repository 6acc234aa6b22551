//! Fluid's `JindoRuntime` (`data.fluid.io/v1alpha1`) as a user writes it, its strict
//! parsing, and its pull-secret layers (global, master, worker, fuse).
//!
//! Decisions Fluid left open, or where fluidform differs:
//! - Every field of Fluid's `JindoRuntimeSpec` is modelled, spelt as Fluid spells it:
//!   the network mode is `spec.networkmode` (lower-case `m`), one for all components.
//!   Any other field is refused with its JSON path; `status` is not accepted.
//! - Types shared with AlluxioRuntime (`VersionSpec`, `Resources`, `PodMetadata`,
//!   `TieredStore`, `RunAs`, `CleanCachePolicy`) are the same Rust types, so quantities
//!   accept a string or a number here too.
//! - Kubernetes-typed fields (`tolerations`, `volumes`, `volumeMounts`) are kept as JSON
//!   and checked by validation against the Kubernetes types.
//! - Validation is in `validate::jindo`: see its module doc.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::FieldError;
use super::manifest::{
    CleanCachePolicy, LocalObjectReference, ObjectMeta, PodMetadata, Resources, RunAs, RuntimeLayers, TieredStore,
    VersionSpec, replace_name, secret_names,
};
use super::parse::{ManifestFormat, parse_strict};

pub use super::validate::jindo::validate_jindo;

pub const KIND: &str = "JindoRuntime";

/// A JindoRuntime manifest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JindoRuntime {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: JindoRuntimeSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JindoRuntimeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jindo_version: Option<VersionSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master: Option<JindoCompTemplateSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<JindoCompTemplateSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse: Option<JindoFuseSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
    /// jindocache uses only the first level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tieredstore: Option<TieredStore>,
    /// Worker count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<RunAs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Name of a ConfigMap holding Hadoop configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hadoop_config: Option<String>,
    /// Name of a Secret holding OSS credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Deprecated by Fluid in favour of `podMetadata.labels`; the two exclude each other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_config: Option<BTreeMap<String, String>>,
    /// `HostNetwork` (or empty, the same) or `ContainerNetwork`, for every component.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "networkmode")]
    pub network_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_cache_policy: Option<CleanCachePolicy>,
    /// Kubernetes `Volume` objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub volumes: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
}

/// Fluid's `JindoCompTemplateSpec`: master and worker.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JindoCompTemplateSpec {
    /// Master: 1, or 3 for a raft quorum. Worker: unused (the count is `spec.replicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<BTreeMap<String, i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Kubernetes `Toleration` objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub tolerations: Option<Vec<Value>>,
    /// Deprecated by Fluid in favour of `podMetadata.labels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Kubernetes `VolumeMount` objects naming entries of `spec.volumes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub volume_mounts: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
}

/// Fluid's `JindoFuseSpec`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JindoFuseSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
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
    /// Kubernetes `Toleration` objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub tolerations: Option<Vec<Value>>,
    /// Deprecated by Fluid in favour of `podMetadata.labels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,
    /// `OnDemand`, `OnRuntimeDeleted` (Fluid's default) or `OnFuseChanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_config: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<ClientMetrics>,
}

/// Fuse client metrics.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientMetrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Comma-separated: `MountPod`, `Sidecar`, `All`, `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_target: Option<String>,
}

impl JindoRuntime {
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
}

/// Parse a JindoRuntime exactly as a Fluid user writes it, refusing unknown fields by path.
pub fn parse_jindo(body: &[u8], format: ManifestFormat) -> Result<JindoRuntime, FieldError> {
    parse_strict(body, format)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const JINDO_YAML: &str = r#"apiVersion: data.fluid.io/v1alpha1
kind: JindoRuntime
metadata:
  name: hbase
spec:
  replicas: 2
  networkmode: ContainerNetwork
  imagePullSecrets:
    - name: global-secret
  tieredstore:
    levels:
      - mediumtype: MEM
        path: /dev/shm
        quota: 2Gi
        high: "0.99"
        low: "0.8"
  master:
    replicas: 3
    imagePullSecrets:
      - name: master-secret
  fuse:
    imagePullSecrets:
      - name: fuse-secret
    metrics:
      enabled: true
      scrapeTarget: MountPod
"#;

    pub(crate) fn jindo() -> JindoRuntime {
        parse_jindo(JINDO_YAML.as_bytes(), ManifestFormat::Yaml).expect("example parses")
    }

    #[test]
    fn example_parses_and_round_trips() {
        let rt = jindo();
        assert_eq!(rt.spec.network_mode.as_deref(), Some("ContainerNetwork"));
        let v = serde_json::to_value(&rt).unwrap();
        assert_eq!(v["spec"]["networkmode"], "ContainerNetwork", "spelt as Fluid spells it");
        assert!(v["spec"].get("networkMode").is_none());
        assert_eq!(parse_jindo(&serde_json::to_vec(&rt).unwrap(), ManifestFormat::Json).unwrap(), rt);
    }

    #[test]
    fn errors_name_the_path() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"{"spec":{"networkMode":"HostNetwork"}}"#, "spec.networkMode", "unknown field"),
            (r#"{"spec":{"master":{"enabled":true}}}"#, "spec.master.enabled", "unknown field"),
            (r#"{"spec":{"fuse":{"metrics":{"port":1}}}}"#, "spec.fuse.metrics.port", "unknown field"),
            (r#"{"spec":{"worker":{"ports":{"rpc":"x"}}}}"#, "spec.worker.ports.rpc", "invalid type"),
            (r#"{"status":{}}"#, "status", "unknown field"),
        ];
        for (body, field, message) in cases {
            let err = parse_jindo(body.as_bytes(), ManifestFormat::Json).expect_err(body);
            assert_eq!(err.field, *field, "{body}: {err:?}");
            assert!(err.message.contains(message), "{body}: {err:?}");
        }
    }

    #[test]
    fn layers_and_replacement() {
        let mut rt = jindo();
        let l = rt.layers();
        assert_eq!(
            (l.global, l.master, l.worker, l.fuse),
            (
                vec!["global-secret".to_string()],
                vec!["master-secret".to_string()],
                vec![],
                vec!["fuse-secret".to_string()]
            )
        );
        assert!(rt.replace_in_layer("fuse", "fuse-secret", "fuse-secret-2"));
        assert_eq!(rt.layers().fuse, ["fuse-secret-2"]);
        assert_eq!(rt.layers().master, ["master-secret"], "other layers untouched");
        assert!(!rt.replace_in_layer("worker", "fuse-secret", "x"), "an absent layer changes nothing");
        assert!(!rt.replace_in_layer("jobMaster", "master-secret", "x"), "not a layer");
    }
}

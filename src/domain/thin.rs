//! Fluid's `ThinRuntime` and the cluster-scoped `ThinRuntimeProfile` it names
//! (`data.fluid.io/v1alpha1`), their strict parsing, and their pull-secret layers.
//!
//! Decisions Fluid left open, or where fluidform differs:
//! - Every field of Fluid's `ThinRuntimeSpec` and `ThinRuntimeProfileSpec` is modelled;
//!   any other field is refused with its JSON path; `status` is not accepted.
//! - Unlike Alluxio and Jindo, Thin's `env` and `ports` are Kubernetes lists (`EnvVar`,
//!   `ContainerPort`), kept as JSON with probes, `lifecycle`, `volumes` and
//!   `volumeMounts`, and checked by validation against the Kubernetes types.
//! - Thin has no master: `layers()` returns an empty master layer for both kinds, and
//!   layer resolution gives a ThinRuntime no master component at all.
//! - A ThinRuntime with no `profileName` is what Fluid creates for a Dataset that mounts
//!   another Dataset (`dataset://`); it is accepted, and names no profile.
//! - Validation is in `validate::thin`: see its module doc.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::FieldError;
use super::manifest::{
    LocalObjectReference, Management, ObjectMeta, PodMetadata, Resources, RunAs, RuntimeLayers, TieredStore,
    replace_name, secret_names,
};
use super::parse::{ManifestFormat, parse_strict};

pub use super::validate::thin::{validate_thin, validate_thin_profile};

pub const KIND: &str = "ThinRuntime";
pub const PROFILE_KIND: &str = "ThinRuntimeProfile";

/// A ThinRuntime manifest.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThinRuntime {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ThinRuntimeSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThinRuntimeSpec {
    /// The cluster-scoped ThinRuntimeProfile this runtime builds on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<ThinCompTemplateSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse: Option<ThinFuseSpec>,
    /// Thin uses `levels[0].path` as its cache directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tieredstore: Option<TieredStore>,
    /// Worker count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<RunAs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_prometheus: Option<bool>,
    /// Kubernetes `Volume` objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub volumes: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management: Option<Management>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
}

/// Fluid's `ThinCompTemplateSpec`: the worker of a runtime or a profile.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThinCompTemplateSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Kubernetes `ContainerPort` objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub ports: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Kubernetes `EnvVar` objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub env: Option<Vec<Value>>,
    /// Only a runtime's `worker.enabled` creates a worker; a profile's is ignored by Fluid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Kubernetes `VolumeMount` objects naming entries of the same object's `spec.volumes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub volume_mounts: Option<Vec<Value>>,
    /// A Kubernetes `Probe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub liveness_probe: Option<Value>,
    /// A Kubernetes `Probe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub readiness_probe: Option<Value>,
    /// `HostNetwork` (or empty, the same) or `ContainerNetwork`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
}

/// Fluid's `ThinFuseSpec`: the fuse of a runtime or a profile.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThinFuseSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// Kubernetes `ContainerPort` objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub ports: Option<Vec<Value>>,
    /// Kubernetes `EnvVar` objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub env: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    /// Merged with the Dataset's mount options into the fuse configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// `OnDemand`, `OnRuntimeDeleted` (Fluid's default) or `OnFuseChanged`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// A Kubernetes `Probe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub liveness_probe: Option<Value>,
    /// A Kubernetes `Probe`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub readiness_probe: Option<Value>,
    /// Kubernetes `VolumeMount` objects naming entries of the same object's `spec.volumes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub volume_mounts: Option<Vec<Value>>,
    /// A Kubernetes `Lifecycle`; only `preStop` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub lifecycle: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_metadata: Option<PodMetadata>,
}

/// A ThinRuntimeProfile manifest (cluster-scoped: no namespace).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThinRuntimeProfile {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ThinRuntimeProfileSpec,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThinRuntimeProfileSpec {
    /// The file system the profile's images serve (e.g. `nfs`).
    #[serde(default)]
    pub file_system_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<ThinCompTemplateSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuse: Option<ThinFuseSpec>,
    /// Kubernetes `Volume` objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub volumes: Option<Vec<Value>>,
    /// `NotMountNodePublishSecret`, `MountNodePublishSecretIfExists` (Fluid's default) or
    /// `CopyNodePublishSecretAndMountIfNotExists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_publish_secret_policy: Option<String>,
}

fn thin_layers(
    global: Option<&Vec<LocalObjectReference>>,
    worker: Option<&ThinCompTemplateSpec>,
    fuse: Option<&ThinFuseSpec>,
) -> RuntimeLayers {
    RuntimeLayers {
        global: secret_names(global),
        master: Vec::new(),
        worker: secret_names(worker.and_then(|c| c.image_pull_secrets.as_ref())),
        fuse: secret_names(fuse.and_then(|c| c.image_pull_secrets.as_ref())),
    }
}

fn replace_thin(
    (global, worker, fuse): (
        Option<&mut Vec<LocalObjectReference>>,
        Option<&mut ThinCompTemplateSpec>,
        Option<&mut ThinFuseSpec>,
    ),
    layer: &str,
    from: &str,
    to: &str,
) -> bool {
    let list = match layer {
        "global" => global,
        "worker" => worker.and_then(|c| c.image_pull_secrets.as_mut()),
        "fuse" => fuse.and_then(|c| c.image_pull_secrets.as_mut()),
        _ => None,
    };
    replace_name(list, from, to)
}

impl ThinRuntime {
    /// The runtime-declared pull-secret layers; the master layer is always empty.
    pub fn layers(&self) -> RuntimeLayers {
        let s = &self.spec;
        thin_layers(s.image_pull_secrets.as_ref(), s.worker.as_ref(), s.fuse.as_ref())
    }

    /// Replaces `from` by `to` in one layer (`global`, `worker` or `fuse`); true on a change.
    pub fn replace_in_layer(&mut self, layer: &str, from: &str, to: &str) -> bool {
        let s = &mut self.spec;
        replace_thin((s.image_pull_secrets.as_mut(), s.worker.as_mut(), s.fuse.as_mut()), layer, from, to)
    }

    /// The ThinRuntimeProfile this runtime names, if any (empty counts as none).
    pub fn profile_name(&self) -> Option<&str> {
        self.spec.profile_name.as_deref().filter(|n| !n.is_empty())
    }
}

impl ThinRuntimeProfile {
    /// The profile's pull-secret layers (profile global, worker, fuse); master is empty.
    pub fn layers(&self) -> RuntimeLayers {
        let s = &self.spec;
        thin_layers(s.image_pull_secrets.as_ref(), s.worker.as_ref(), s.fuse.as_ref())
    }

    /// Replaces `from` by `to` in one layer (`global`, `worker` or `fuse`); true on a change.
    pub fn replace_in_layer(&mut self, layer: &str, from: &str, to: &str) -> bool {
        let s = &mut self.spec;
        replace_thin((s.image_pull_secrets.as_mut(), s.worker.as_mut(), s.fuse.as_mut()), layer, from, to)
    }

    /// `metadata.labels`, for selection.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.metadata.labels.clone().unwrap_or_default()
    }
}

/// Parse a ThinRuntime exactly as a Fluid user writes it, refusing unknown fields by path.
pub fn parse_thin(body: &[u8], format: ManifestFormat) -> Result<ThinRuntime, FieldError> {
    parse_strict(body, format)
}

/// Parse a ThinRuntimeProfile, refusing unknown fields by path.
pub fn parse_thin_profile(body: &[u8], format: ManifestFormat) -> Result<ThinRuntimeProfile, FieldError> {
    parse_strict(body, format)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const THIN_YAML: &str = r#"apiVersion: data.fluid.io/v1alpha1
kind: ThinRuntime
metadata:
  name: hbase
spec:
  profileName: nfs
  imagePullSecrets:
    - name: global-secret
  worker:
    enabled: true
    env:
      - name: MODE
        value: worker
    ports:
      - name: http
        containerPort: 8080
  fuse:
    imagePullSecrets:
      - name: fuse-secret
    command: ["/mount.sh"]
    lifecycle:
      preStop:
        exec:
          command: ["umount", "/mnt"]
"#;

    pub(crate) const PROFILE_YAML: &str = r#"apiVersion: data.fluid.io/v1alpha1
kind: ThinRuntimeProfile
metadata:
  name: nfs
spec:
  fileSystemType: nfs
  imagePullSecrets:
    - name: profile-secret
  worker:
    imagePullSecrets:
      - name: profile-worker
  fuse:
    image: fluidcloudnative/nfs
    imageTag: v0.1
  nodePublishSecretPolicy: MountNodePublishSecretIfExists
"#;

    pub(crate) fn thin() -> ThinRuntime {
        parse_thin(THIN_YAML.as_bytes(), ManifestFormat::Yaml).expect("example parses")
    }

    pub(crate) fn profile() -> ThinRuntimeProfile {
        parse_thin_profile(PROFILE_YAML.as_bytes(), ManifestFormat::Yaml).expect("example parses")
    }

    #[test]
    fn examples_parse_and_round_trip() {
        let rt = thin();
        assert_eq!(rt.profile_name(), Some("nfs"));
        assert_eq!(parse_thin(&serde_json::to_vec(&rt).unwrap(), ManifestFormat::Json).unwrap(), rt);
        let p = profile();
        assert_eq!(p.spec.file_system_type, "nfs");
        assert_eq!(parse_thin_profile(&serde_json::to_vec(&p).unwrap(), ManifestFormat::Json).unwrap(), p);
    }

    #[test]
    fn errors_name_the_path() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"{"spec":{"master":{}}}"#, "spec.master", "unknown field"),
            (r#"{"spec":{"worker":{"env":{"A":"b"}}}}"#, "spec.worker.env", "invalid type"),
            (r#"{"spec":{"fuse":{"podMetadata":{"label":{}}}}}"#, "spec.fuse.podMetadata.label", "unknown field"),
            (r#"{"spec":{"thinRuntimeProfileName":"x"}}"#, "spec.thinRuntimeProfileName", "unknown field"),
            (r#"{"status":{}}"#, "status", "unknown field"),
        ];
        for (body, field, message) in cases {
            let err = parse_thin(body.as_bytes(), ManifestFormat::Json).expect_err(body);
            assert_eq!(err.field, *field, "{body}: {err:?}");
            assert!(err.message.contains(message), "{body}: {err:?}");
        }
        let err = parse_thin_profile(br#"{"spec":{"fuse":{"podMetadata":{}},"replicas":1}}"#, ManifestFormat::Json)
            .expect_err("profiles have no replicas");
        assert_eq!(err.field, "spec.replicas");
    }

    #[test]
    fn layers_profile_name_and_replacement() {
        let mut rt = thin();
        let l = rt.layers();
        assert_eq!(l.global, ["global-secret"]);
        assert!(l.master.is_empty() && l.worker.is_empty());
        assert_eq!(l.fuse, ["fuse-secret"]);
        assert!(rt.replace_in_layer("global", "global-secret", "g2"));
        assert_eq!(rt.layers().global, ["g2"]);
        assert_eq!(rt.layers().fuse, ["fuse-secret"], "other layers untouched");
        assert!(!rt.replace_in_layer("master", "g2", "x"), "thin has no master layer");

        let mut p = profile();
        assert_eq!(p.layers().worker, ["profile-worker"]);
        assert!(p.replace_in_layer("worker", "profile-worker", "w2"));
        assert_eq!(p.layers().worker, ["w2"]);

        for (name, want) in [(None, None), (Some(""), None), (Some("nfs"), Some("nfs"))] {
            rt.spec.profile_name = name.map(str::to_string);
            assert_eq!(rt.profile_name(), want, "{name:?}");
        }
    }
}

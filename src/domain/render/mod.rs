//! Rendering a runtime into the Kubernetes objects Fluid's alluxio chart would create, plus
//! the credential Secrets its pods pull with. Deterministic: same input, same bytes.
//!
//! Output order: Secrets (sorted by name), ConfigMap `<name>-config`, headless Services
//! `<name>-master-<i>`, StatefulSet `<name>-master`, StatefulSet `<name>-worker`,
//! DaemonSet `<name>-fuse`.
//!
//! Decisions the brief left open (Fluid-compatible unless said otherwise):
//! - Workloads keep Fluid's `updateStrategy: OnDelete`. Rolling a changed pull secret out is
//!   the rotation's job: it deletes a batch's pods itself and waits for the replacements.
//! - Master replicas default to 1 (Fluid: 0 → 1). Worker replicas are `spec.replicas`;
//!   absent means 1, an explicit 0 renders a worker StatefulSet with no pods.
//! - The `init-users` init container runs in master and worker pods when `spec.runAs` is
//!   set (Fluid enables it exactly then); `spec.initUsers` only configures its image, env and
//!   resources. The passwd/group files it writes live in an emptyDir `alluxio-users`, mounted
//!   read-only over `/etc/passwd` and `/etc/group`, so no host directory is needed.
//! - `journal-format` always runs before the master; the journal is an emptyDir. One master
//!   uses a UFS journal at `/journal`, several use the embedded journal.
//! - Credential Secrets given without their bytes (`dockerconfigjson: None`) are rendered
//!   without `data` and with the annotation `fluidform.io/redacted: "true"`.
//! - Selectors use only `app`, `role`, `release` (immutable in Kubernetes). Pod labels are
//!   runtime `podMetadata` labels, then the component's, then fluidform's own on top, so a
//!   user label can never break a selector. Annotations merge the same way after Fluid's
//!   `sidecar.istio.io/inject: "false"`.
//! - Host network is the default (`networkMode` empty or `HostNetwork`); container ports
//!   are then listed with `hostPort` equal to the port, as the API server would default it.
//! - Tiered-store paths are volumes `tieredstore-<level>-<path>` in the worker pod only
//!   (hostPath `DirectoryOrCreate`, or emptyDir — `medium: Memory` for MEM, sized by the
//!   path's quota — or the level's own `volumeSource`), mounted at the path as written.
//! - The fuse image defaults to `alluxio/alluxio-dev:2.9.0` (FLUID.md), not to
//!   `alluxioVersion`. `fuse.args`, when given, replace the default arguments entirely. The
//!   fuse mounts at `/runtime-mnt/alluxio/<namespace>/<name>/alluxio-fuse` like Fluid, runs
//!   privileged as root, and lands only on nodes labelled `fluid.io/f-<namespace>-<name>`.
//! - `spec.volumes` entries are added to a pod only when one of its containers mounts them.
//!   A component's `volumeMounts` go to its own container; the job master and job worker
//!   also get their pod's main component mounts (as Fluid's chart does).
//! - `hadoopConfig` names a ConfigMap mounted at `/hdfs-config` in every Alluxio container;
//!   point `alluxio.underfs.hdfs.configuration` at its files in `properties`.
//! - Properties: global ones (computed defaults overridden by `spec.properties`) go to the
//!   ConfigMap key `alluxio-site.properties`, mounted at `/opt/alluxio/conf`; component
//!   properties and `jvmOptions` become `ALLUXIO_<COMPONENT>_JAVA_OPTS` entries that the
//!   containers read through `envFrom`.
//! - Not rendered (Fluid's controller acts on them): `data`, `management`,
//!   `fuse.cleanPolicy`. Unless `disablePrometheus`, master Services carry
//!   `monitor: alluxio_runtime_metrics` like Fluid's.

mod config;
mod fuse;
mod parts;
mod workloads;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::layers::{Resolution, managed_secret_name};
use super::manifest::AlluxioRuntime;

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "fluidform";
pub const RUNTIME_NAME_LABEL: &str = "fluidform.io/runtime";
pub const RUNTIME_NAMESPACE_LABEL: &str = "fluidform.io/runtime-namespace";
pub const COMPONENT_LABEL: &str = "fluidform.io/component";
pub const CREDENTIAL_LABEL: &str = "fluidform.io/credential";
pub const CREDENTIAL_VERSION_LABEL: &str = "fluidform.io/credential-version";
pub const REDACTED_ANNOTATION: &str = "fluidform.io/redacted";
pub const DOCKERCONFIGJSON_TYPE: &str = "kubernetes.io/dockerconfigjson";
pub const DOCKERCONFIGJSON_KEY: &str = ".dockerconfigjson";

pub const DEFAULT_IMAGE: &str = "alluxio/alluxio-dev";
pub const DEFAULT_IMAGE_TAG: &str = "2.9.0";
pub const DEFAULT_INIT_USERS_IMAGE: &str = "fluidcloudnative/init-users";
pub const DEFAULT_INIT_USERS_TAG: &str = "v0.9.0";
pub const DEFAULT_PULL_POLICY: &str = "IfNotPresent";

/// Names this renderer and its version. It is recorded with what was applied: objects
/// applied by another renderer are rendered again by the next plan, whatever else changed.
pub const RENDERER: &str = "standalone/1";

/// One credential version to materialize as a Secret in the runtime's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSecret {
    pub credential: String,
    pub version: u32,
    /// The `.dockerconfigjson` bytes; `None` renders the Secret redacted.
    pub dockerconfigjson: Option<Vec<u8>>,
}

pub struct RenderInput<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub runtime: &'a AlluxioRuntime,
    pub resolution: &'a Resolution,
    pub secrets: &'a [CredentialSecret],
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedObject {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The full object, including apiVersion, kind and metadata.
    pub object: serde_json::Value,
}

/// Volume names fluidform adds to pods; user volumes may not take them.
pub fn is_reserved_volume_name(name: &str) -> bool {
    workloads::RESERVED_VOLUMES.contains(&name) || name.starts_with("tieredstore-")
}

fn rendered<T>(obj: &T) -> RenderedObject
where
    T: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + Serialize,
{
    let meta = obj.metadata();
    RenderedObject {
        api_version: T::API_VERSION.to_string(),
        kind: T::KIND.to_string(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        object: serde_json::to_value(obj).expect("Kubernetes objects serialize to JSON"),
    }
}

fn credential_secret(namespace: &str, s: &CredentialSecret) -> Secret {
    let labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
        (CREDENTIAL_LABEL.to_string(), s.credential.clone()),
        (CREDENTIAL_VERSION_LABEL.to_string(), s.version.to_string()),
    ]);
    let (data, annotations) = match &s.dockerconfigjson {
        Some(bytes) => (Some(BTreeMap::from([(DOCKERCONFIGJSON_KEY.to_string(), ByteString(bytes.clone()))])), None),
        None => (None, Some(BTreeMap::from([(REDACTED_ANNOTATION.to_string(), "true".to_string())]))),
    };
    Secret {
        metadata: ObjectMeta {
            name: Some(managed_secret_name(&s.credential, s.version)),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            annotations,
            ..Default::default()
        },
        type_: Some(DOCKERCONFIGJSON_TYPE.to_string()),
        immutable: Some(true),
        data,
        ..Default::default()
    }
}

/// The Secret a credential version is materialized as in `namespace`.
pub fn credential_secret_object(namespace: &str, secret: &CredentialSecret) -> RenderedObject {
    rendered(&credential_secret(namespace, secret))
}

/// Render every object for one runtime, in the documented order.
pub fn render(input: &RenderInput) -> Vec<RenderedObject> {
    let mut secrets: BTreeMap<String, &CredentialSecret> = BTreeMap::new();
    for s in input.secrets {
        secrets.entry(managed_secret_name(&s.credential, s.version)).or_insert(s);
    }
    let mut out: Vec<RenderedObject> =
        secrets.values().map(|s| rendered(&credential_secret(input.namespace, s))).collect();

    let ctx = workloads::Ctx::new(input);
    out.push(rendered(&config::config_map(&ctx)));
    out.extend(config::master_services(&ctx).iter().map(rendered));
    out.push(rendered(&ctx.master_statefulset()));
    out.push(rendered(&ctx.worker_statefulset()));
    out.push(rendered(&ctx.fuse_daemonset()));
    out
}

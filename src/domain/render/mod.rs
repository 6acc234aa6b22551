//! Rendering a runtime into the Kubernetes objects Fluid's controller and alluxio chart
//! would create, plus the credential Secrets its pods pull with. Deterministic: same
//! input, same bytes. Rules follow Fluid's `pkg/ddc/alluxio/transform*.go` and
//! `charts/alluxio` at a826600; the README section "Standalone rendering" lists every difference.
//!
//! Output order: Secrets (sorted by name), ConfigMap `<name>-config`, ConfigMap
//! `<name>-mount-config` (with a Dataset), headless Services `<name>-master-<i>`,
//! StatefulSet `<name>-master`, StatefulSet `<name>-worker`, DaemonSet `<name>-fuse`.
//!
//! Decisions (Fluid-compatible unless said otherwise):
//! - Workloads keep Fluid's `updateStrategy: OnDelete`; master and worker StatefulSets use
//!   `podManagementPolicy: Parallel`. Rolling a changed pull secret out is the rotation's
//!   job: it deletes a batch's pods itself and waits for the replacements.
//! - Selectors use only `app`, `role`, `release` (immutable in Kubernetes; Fluid's master
//!   selector uses `name` and its fuse selector `chart` and `heritage`, which fluidform
//!   never set). Pod labels are runtime `podMetadata` labels, then the component's, then
//!   fluidform's own on top (`fluid.io/dataset-id` on every object, the worker's
//!   `fluid.io/dataset` and `fluid.io/dataset-placement`, `sidecar.istio.io/inject`), so a
//!   user label can never break a selector.
//! - Master replicas default to 1 (Fluid: 0 → 1). Worker replicas are `spec.replicas`
//!   (Fluid renders 0 and scales up afterwards); absent means 1 where Fluid runs none.
//! - Host network is the default per pod (`spec.master`/`spec.worker`/`spec.fuse`
//!   `networkMode`). Ports come from `RenderInput::ports` (see `ports`), an override in
//!   `spec.properties` or `spec.<component>.ports` winning, else Fluid's fixed ports; on
//!   the host network `hostPort` equals the port, as the API server would default it.
//! - Configuration is Fluid's: every property a `-D` option in `ALLUXIO_JAVA_OPTS` (and
//!   the per-process `ALLUXIO_*_JAVA_OPTS`) of `<name>-config`, read through `envFrom`;
//!   Fluid's tuned defaults and heaps; hostnames as `${ALLUXIO_*_HOSTNAME}` options.
//!   Job master, job worker and API gateway get only what Fluid's chart gives them.
//! - Every Alluxio container runs as `runAs` (else root); the fuse is privileged. With
//!   `runAs`, `init-users` containers (master, worker: also `chmod_tierpath`; fuse:
//!   `init-fuse`, as root, also `chmod_fuse_mountpoint`) write the user into an emptyDir
//!   `alluxio-users`, mounted read-only over `/etc/passwd` and `/etc/group`: Fluid means to
//!   run them but its chart never does, and uses host files instead of the emptyDir.
//! - Tiered-store directories are `<path>/<namespace>/<name>`, volumes
//!   `tieredstore-<level>-<path>` (hostPath `DirectoryOrCreate`, emptyDir sized by the
//!   path's quota, or the level's `volumeSource`) in the worker pod; host-path tiers are
//!   also mounted into the fuse. Levels are numbered MEM, SSD, HDD like Fluid; quotas are
//!   exact bytes. No tier renders Fluid's chart default (MEM, `/dev/shm`, emptyDir `1G`).
//!   The worker's memory request is raised to the MEM quota; a fuse memory limit grows by it.
//! - The fuse image defaults to `alluxio/alluxio-dev:2.9.0`; arguments follow the Dataset's
//!   access modes (read-only unless none is `ReadOnlyMany`), owner and `allow_other`, with
//!   the mount point `/runtime-mnt/alluxio/<namespace>/<name>/alluxio-fuse` appended from
//!   Alluxio 2.8. It tolerates every taint, runs `system-node-critical`, and lands only on
//!   nodes labelled `fluid.io/f-<namespace>-<name>`.
//! - The Dataset: its only mount at `/` becomes the root UFS, every other non-native mount
//!   a `mount.info` line the master applies with fluidform's own scripts (single master: a
//!   startup probe, as Fluid's chart; several, or a later change: a loop in the master's
//!   entrypoint, where Fluid execs from its controller); `local://` and `pvc://` mounts
//!   are volumes under `/underFSStorage`; encrypted options are Secret files. Its
//!   tolerations go to master and worker, its node affinity to the worker (and to the
//!   master with `local://` mounts); its placement shapes the worker's pod anti-affinity.
//!   Without a Dataset nothing is mounted and no mount ConfigMap is rendered.
//! - The journal is an emptyDir of 30Gi; no `journal-format` runs (Fluid's chart has one
//!   only behind a value Fluid never sets). One master uses a UFS journal, several the
//!   embedded journal.
//! - Credential Secrets given without their bytes (`dockerconfigjson: None`) are rendered
//!   without `data` and with the annotation `fluidform.io/redacted: "true"`.
//! - `spec.volumes` entries are added to a pod only when one of its containers mounts them;
//!   `hadoopConfig` names a ConfigMap mounted at `/hdfs-config` in master and worker
//!   containers (point `alluxio.underfs.hdfs.configuration` at its files: fluidform does
//!   not read the cluster).
//! - Not rendered (Fluid's controller acts on them): `data.pin`, `management`,
//!   `fuse.cleanPolicy`, the Dataset's `dataRestoreLocation`. Unless `disablePrometheus`,
//!   master Services carry `monitor: alluxio_runtime_metrics` like Fluid's.

mod context;
mod fuse;
mod master;
mod mounts;
mod parts;
mod pod;
mod properties;
mod tiers;
mod worker;

#[cfg(test)]
mod dataset_tests;
#[cfg(test)]
mod fluid_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod workload_tests;

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use super::dataset::Dataset;
use super::layers::{Resolution, managed_secret_name};
use super::manifest::{AlluxioRuntime, AlluxioRuntimeSpec};
use super::ports::PortName;

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
pub const RENDERER: &str = "standalone/2";

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
    /// The runtime's host ports from the cluster's allocator (`ports::allocate` over
    /// `ports::needed`). `None`, or a needed name it lacks, renders Fluid's fixed port.
    pub ports: Option<&'a BTreeMap<PortName, u16>>,
    /// The Dataset of the runtime's namespace and name. `None` renders as a Dataset with
    /// no mounts and default access modes (read-only), without the mount ConfigMap.
    pub dataset: Option<&'a Dataset>,
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
    pod::RESERVED_VOLUMES.contains(&name)
        || ["tieredstore-", mounts::UFS_VOLUME_PREFIX, mounts::SECRET_VOLUME_PREFIX].iter().any(|p| name.starts_with(p))
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

/// Total bytes of the MEM tiers' quotas: what Fluid raises the worker's memory request to.
pub(crate) fn mem_quota_bytes(spec: &AlluxioRuntimeSpec) -> u128 {
    parts::levels(spec)
        .iter()
        .filter(|l| !matches!(l.mediumtype.as_str(), "SSD" | "HDD"))
        .flat_map(parts::level_quotas)
        .flatten()
        .sum()
}

/// Whether Fluid can compare a fuse image tag with 2.8.0 (it fails the runtime if not).
pub(crate) fn fuse_tag_is_version(tag: &str) -> bool {
    context::tag_version(tag).is_some()
}

/// Render every object for one runtime, in the documented order.
pub fn render(input: &RenderInput) -> Vec<RenderedObject> {
    let mut secrets: BTreeMap<String, &CredentialSecret> = BTreeMap::new();
    for s in input.secrets {
        secrets.entry(managed_secret_name(&s.credential, s.version)).or_insert(s);
    }
    let mut out: Vec<RenderedObject> =
        secrets.values().map(|s| rendered(&credential_secret(input.namespace, s))).collect();

    let ctx = context::Ctx::new(input);
    out.push(rendered(&ctx.config_map()));
    if ctx.mounts_data {
        out.push(rendered(&ctx.mount_config_map()));
    }
    out.extend(ctx.master_services().iter().map(rendered));
    out.push(rendered(&ctx.master_statefulset()));
    out.push(rendered(&ctx.worker_statefulset()));
    out.push(rendered(&ctx.fuse_daemonset()));
    out
}

//! The render context: every input with Fluid's defaults applied once (images, replicas,
//! user, networks, ports, the Dataset, tiers, fuse arguments), and the labels and metadata
//! every object shares.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::parts::or;
use super::tiers::Tier;
use super::*;
use crate::domain::dataset::Dataset;
use crate::domain::manifest::{AlluxioRuntimeSpec, ComponentSpec};
use crate::domain::ports::{self, PortName, PortPod};
use crate::domain::quantity::{Quantity, parse_quantity};

pub(super) const FLUID_FUSE_NODE_LABEL_PREFIX: &str = "fluid.io/f-";
pub(super) const DATASET_ID_LABEL: &str = "fluid.io/dataset-id";
pub(super) const DATASET_LABEL: &str = "fluid.io/dataset";
pub(super) const PLACEMENT_LABEL: &str = "fluid.io/dataset-placement";
pub(super) const ISTIO_INJECT: &str = "sidecar.istio.io/inject";
/// The annotation on a runtime that puts its fuse in the host's PID namespace.
pub(super) const FUSE_HOST_PID_ANNOTATION: &str = "runtime.fluid.io/fuse.hostpid";
/// Fluid's mount root (`MOUNT_ROOT`, `/runtime-mnt` in its chart) plus the runtime type.
pub(super) const MOUNT_ROOT: &str = "/runtime-mnt/alluxio";
/// Alluxio releases from this one take the mount point and `/` as fuse arguments.
const NEW_FUSE_ARGS_VERSION: [u64; 3] = [2, 8, 0];
const FUSE_OPTS_RO: &str = "--fuse-opts=kernel_cache,ro,attr_timeout=7200,entry_timeout=7200";
const FUSE_OPTS_RW: &str = "--fuse-opts=kernel_cache,rw";
const FUSE_OPTS_RO_LIBFUSE2: &str =
    "--fuse-opts=kernel_cache,ro,max_read=131072,attr_timeout=7200,entry_timeout=7200,nonempty";
const FUSE_OPTS_RW_LIBFUSE2: &str = "--fuse-opts=kernel_cache,rw,max_read=131072";

/// Everything the objects are computed from, with defaults applied once.
pub(super) struct Ctx<'a> {
    pub ns: &'a str,
    pub name: &'a str,
    pub runtime: &'a AlluxioRuntime,
    pub spec: &'a AlluxioRuntimeSpec,
    pub resolution: &'a Resolution,
    /// The Dataset, or an empty one (Fluid renders nothing before a Dataset exists).
    pub dataset: Cow<'a, Dataset>,
    /// A Dataset was given: the master then applies its mounts from `<name>-mount-config`.
    pub mounts_data: bool,
    /// Every port the runtime's pods listen on.
    pub ports: BTreeMap<PortName, u16>,
    pub master_replicas: i32,
    pub worker_replicas: i32,
    pub master_host_network: bool,
    pub worker_host_network: bool,
    pub fuse_host_network: bool,
    /// uid and gid every Alluxio container runs as: `runAs`, else root.
    pub uid: i64,
    pub gid: i64,
    pub tiers: Vec<Tier<'a>>,
    /// `spec.properties` with the master's, worker's and fuse's merged in: a tuned default
    /// Fluid would set is left out when any of them names it.
    pub merged_properties: BTreeMap<String, String>,
    pub fuse_args: Vec<String>,
    /// Whether `alluxio.fuse.user.group.translation.enabled` is forced on (no Dataset owner
    /// in the fuse options).
    pub fuse_translation: bool,
    pub image: String,
    pub pull_policy: String,
}

fn comp_props(c: &Option<ComponentSpec>) -> Option<&BTreeMap<String, String>> {
    c.as_ref().and_then(|c| c.properties.as_ref())
}

/// Fluid's version check of the fuse image tag (`release-` prefix and a `v` dropped,
/// two or more numeric components, anything after them ignored). `None`: not a version.
pub(super) fn tag_version(tag: &str) -> Option<Vec<u64>> {
    let t = tag.to_ascii_lowercase();
    let t = t.strip_prefix("release-").unwrap_or(&t).trim_start();
    let t = t.strip_prefix('v').unwrap_or(t);
    let end = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let numbers = t[..end].trim_end_matches('.');
    let parts: Vec<&str> = numbers.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) || (parts[0].len() > 1 && parts[0].starts_with('0')) {
        return None;
    }
    parts.iter().map(|p| p.parse().ok()).collect()
}

/// True when the fuse takes the mount point as arguments (Alluxio 2.8.0 and later, or a
/// tag that is not a version, which Fluid would refuse: see `quirks`).
pub(super) fn new_fuse_args(tag: &str) -> bool {
    match tag_version(tag) {
        Some(mut v) => {
            v.resize(v.len().max(3), 0);
            v.as_slice() >= NEW_FUSE_ARGS_VERSION.as_slice()
        }
        None => true,
    }
}

impl<'a> Ctx<'a> {
    pub fn new(input: &RenderInput<'a>) -> Self {
        let runtime = input.runtime;
        let spec = &runtime.spec;
        let version = spec.alluxio_version.clone().unwrap_or_default();
        let dataset = input.dataset.map(Cow::Borrowed).unwrap_or_default();
        let master_replicas = spec.master.as_ref().and_then(|m| m.replicas).filter(|&r| r > 0).unwrap_or(1);
        let fixed = ports::overrides(runtime);
        let allocated = input.ports;
        let ports = ports::used(runtime)
            .into_iter()
            .map(|p| {
                let host = ports::host_network(runtime, p.pod());
                let port = fixed
                    .get(&p)
                    .or_else(|| allocated.filter(|_| host).and_then(|a| a.get(&p)))
                    .copied()
                    .unwrap_or_else(|| p.fixed());
                (p, port)
            })
            .collect();
        let mut merged_properties = spec.properties.clone().unwrap_or_default();
        for props in [comp_props(&spec.master), comp_props(&spec.worker)].into_iter().flatten() {
            merged_properties.extend(props.clone());
        }
        merged_properties.extend(spec.fuse.as_ref().and_then(|f| f.properties.clone()).unwrap_or_default());
        let (uid, gid) = spec.run_as.as_ref().map(|r| (r.uid.unwrap_or(0), r.gid.unwrap_or(0))).unwrap_or((0, 0));

        let mut ctx = Ctx {
            ns: input.namespace,
            name: input.name,
            runtime,
            spec,
            resolution: input.resolution,
            dataset,
            mounts_data: input.dataset.is_some(),
            ports,
            master_replicas,
            worker_replicas: spec.replicas.unwrap_or(1).max(0),
            master_host_network: ports::host_network(runtime, PortPod::Master),
            worker_host_network: ports::host_network(runtime, PortPod::Worker),
            fuse_host_network: spec.fuse.as_ref().and_then(|f| f.network_mode.as_deref()) != Some("ContainerNetwork"),
            uid,
            gid,
            tiers: Tier::all(spec, input.namespace, input.name),
            merged_properties,
            fuse_args: Vec::new(),
            fuse_translation: true,
            image: format!("{}:{}", or(&version.image, DEFAULT_IMAGE), or(&version.image_tag, DEFAULT_IMAGE_TAG)),
            pull_policy: or(&version.image_pull_policy, DEFAULT_PULL_POLICY).to_string(),
        };
        (ctx.fuse_args, ctx.fuse_translation) = ctx.compute_fuse_args();
        ctx
    }

    pub fn port(&self, p: PortName) -> i32 {
        i32::from(self.ports.get(&p).copied().unwrap_or_else(|| p.fixed()))
    }

    pub fn ha(&self) -> bool {
        self.master_replicas > 1
    }

    pub fn gateway(&self) -> Option<&'a ComponentSpec> {
        self.spec.api_gateway.as_ref().filter(|g| g.enabled == Some(true))
    }

    pub fn run_as(&self) -> bool {
        self.spec.run_as.is_some()
    }

    /// Fluid's dataset id: `<namespace>-<name>` (Fluid uses the Dataset's UID instead when
    /// that is 63 characters or more; fluidform does not know the UID).
    pub fn dataset_id(&self) -> String {
        format!("{}-{}", self.ns, self.name)
    }

    /// `Exclusive` or `Shared` (an empty placement is `Exclusive`).
    pub fn placement(&self) -> &str {
        match self.dataset.spec.placement.as_deref() {
            Some("Shared") => "Shared",
            _ => "Exclusive",
        }
    }

    /// The node label Fluid puts on nodes that may run this runtime's fuse.
    pub fn fuse_node_label(&self) -> String {
        format!("{FLUID_FUSE_NODE_LABEL_PREFIX}{}-{}", self.ns, self.name)
    }

    /// The host directory holding the fuse mount point.
    pub fn fuse_mount_root(&self) -> String {
        format!("{MOUNT_ROOT}/{}/{}", self.ns, self.name)
    }

    pub fn fuse_mount_point(&self) -> String {
        format!("{}/alluxio-fuse", self.fuse_mount_root())
    }

    pub fn fuse_image_tag(&self) -> &'a str {
        self.spec
            .fuse
            .as_ref()
            .and_then(|f| f.image_tag.as_deref())
            .filter(|t| !t.is_empty())
            .unwrap_or(DEFAULT_IMAGE_TAG)
    }

    /// True when every Dataset mount is `http://` or `https://` (also when there are none,
    /// as in Fluid): Fluid then tunes block sizes and disables fuse read-ahead.
    pub fn all_http(&self) -> bool {
        self.dataset
            .mounts()
            .iter()
            .all(|m| m.mount_point.starts_with("http://") || m.mount_point.starts_with("https://"))
    }

    /// The fuse arguments (Fluid's `transformFuse`, `optimizeDefaultFuse` and the HTTP
    /// tuning), and whether user/group translation is left on.
    fn compute_fuse_args(&self) -> (Vec<String>, bool) {
        let user = self.spec.fuse.as_ref().and_then(|f| f.args.clone()).filter(|a| !a.is_empty());
        let given = user.is_some();
        let mut args = user.unwrap_or_else(|| {
            let libfuse2 =
                self.merged_properties.get("alluxio.fuse.jnifuse.libfuse.version").map(String::as_str) == Some("2");
            let opts = match (self.dataset.is_read_only(), libfuse2) {
                (true, false) => FUSE_OPTS_RO,
                (true, true) => FUSE_OPTS_RO_LIBFUSE2,
                (false, false) => FUSE_OPTS_RW,
                (false, true) => FUSE_OPTS_RW_LIBFUSE2,
            };
            vec!["fuse".to_string(), opts.to_string()]
        });
        if new_fuse_args(self.fuse_image_tag()) {
            args.push(self.fuse_mount_point());
            args.push("/".to_string());
        }
        // Fluid edits `args[1]` whatever it is; fluidform only when it holds the options.
        let has_opts = args.get(1).is_some_and(|a| a.starts_with("--fuse-opts"));
        let mut translation = true;
        if has_opts {
            if let Some(owner) = &self.dataset.spec.owner {
                args[1].push_str(&format!(",uid={},gid={}", owner.uid.unwrap_or(0), owner.gid.unwrap_or(0)));
                translation = false;
            }
            if !args[1].contains("allow_") {
                args[1].push_str(",allow_other");
            }
            if !given && self.all_http() {
                args[1].push_str(",max_readahead=0");
            }
        }
        (args, translation)
    }

    /// Labels on every object belonging to the runtime.
    pub fn labels(&self, component: &str, role: Option<&str>) -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([
            ("app".to_string(), "alluxio".to_string()),
            ("release".to_string(), self.name.to_string()),
            ("heritage".to_string(), MANAGED_BY.to_string()),
            ("app.kubernetes.io/name".to_string(), "alluxio".to_string()),
            ("app.kubernetes.io/instance".to_string(), self.name.to_string()),
            (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
            (DATASET_ID_LABEL.to_string(), self.dataset_id()),
            (RUNTIME_NAME_LABEL.to_string(), self.name.to_string()),
            (RUNTIME_NAMESPACE_LABEL.to_string(), self.ns.to_string()),
            (COMPONENT_LABEL.to_string(), component.to_string()),
        ]);
        if let Some(role) = role {
            l.insert("role".to_string(), role.to_string());
        }
        l
    }

    /// The stable, immutable selector subset.
    pub fn selector_labels(&self, role: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app".to_string(), "alluxio".to_string()),
            ("release".to_string(), self.name.to_string()),
            ("role".to_string(), role.to_string()),
        ])
    }

    pub fn meta(&self, name: String, component: &str, role: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.ns.to_string()),
            labels: Some(self.labels(component, role)),
            ..Default::default()
        }
    }

    /// Total bytes of the MEM tiers' quotas (Fluid's memory cache store).
    pub fn mem_quota(&self) -> u128 {
        mem_quota_bytes(self.spec)
    }

    /// The worker's memory request: the user's, raised to the MEM quota when it is unset,
    /// zero or smaller (Fluid writes the raised value back into the runtime).
    pub fn worker_memory_request(&self) -> Option<String> {
        let given = self
            .spec
            .worker
            .as_ref()
            .and_then(|w| w.resources.as_ref())
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("memory"))
            .map(|q| q.as_str());
        let mem = self.mem_quota();
        let given_bytes = given.and_then(|q| parse_quantity(q).ok()).and_then(|q| q.to_bytes()).unwrap_or(0);
        if mem > 0 && mem > given_bytes {
            return Some(Quantity::from_bytes(mem).to_string());
        }
        given.map(|q| parse_quantity(q).map(|q| q.to_string()).unwrap_or_else(|_| q.to_string()))
    }
}

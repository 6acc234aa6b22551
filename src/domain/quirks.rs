//! Fluid's quirks made visible: fields of an AlluxioRuntime that Fluid accepts but ignores
//! or overwrites, and places where Fluid would render a component differently from
//! fluidform. Each warning names the field. Pure: a portal shows them beside a plan.
//!
//! The warnings cover, from Fluid's source at a826600:
//! - pull secrets under `jobMaster`, `jobWorker` and `apiGateway`, which pass Fluid's
//!   validation but are never read (their containers pull with their pod's list);
//! - the fuse's pull secrets where Fluid consults its controller default (fluidform's
//!   cluster default layer) before `spec.imagePullSecrets` (`utils.go`, `parseFuseImage`),
//!   with the list Fluid would have given the fuse;
//! - other fields Fluid's transform or chart ignores (fluidform renders as Fluid does);
//! - properties Fluid overwrites, ports it reads under other names, and runtimes Fluid
//!   would refuse to set up;
//! - where fluidform renders differently on purpose (`runAs` users, decimal quotas, a
//!   missing `replicas`, Hadoop configuration).

use serde::Serialize;
use utoipa::ToSchema;

use super::manifest::{AlluxioRuntime, ComponentSpec, Level};
use super::ports::PortName;
use super::quantity::{QuantityFormat, parse_quantity};
use super::render::{DEFAULT_IMAGE_TAG, fuse_tag_is_version, mem_quota_bytes};

/// One warning about a field of a runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Quirk {
    /// A JSON path such as `spec.jobMaster.imagePullSecrets`.
    pub field: String,
    pub message: String,
}

fn quirk(field: impl Into<String>, message: impl Into<String>) -> Quirk {
    Quirk { field: field.into(), message: message.into() }
}

fn names(list: &[String]) -> String {
    format!("[{}]", list.join(", "))
}

/// The names of a pull-secret list, duplicates dropped (first kept), as resolution does.
fn dedup(list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in list {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

/// Fields of the job master, job worker and API gateway templates Fluid never reads.
fn ignored_component_fields(key: &str, c: &ComponentSpec, out: &mut Vec<Quirk>) {
    let pod = if key == "jobWorker" { "worker" } else { "master" };
    let set = |present: bool, field: &str, out: &mut Vec<Quirk>, why: &str| {
        if present {
            out.push(quirk(format!("spec.{key}.{field}"), why.to_string()));
        }
    };
    let pulled = format!(
        "Fluid accepts this list but never reads it: the {key} container runs in the {pod} pod and pulls with \
         the {pod}'s list (spec.{pod}.imagePullSecrets, else spec.imagePullSecrets)"
    );
    set(c.image_pull_secrets.as_ref().is_some_and(|l| !l.is_empty()), "imagePullSecrets", out, &pulled);
    let ignored = "Fluid's chart never reads it, so fluidform does not render it either".to_string();
    let pod_level = format!("the {pod} pod's own setting applies; Fluid ignores this one, and so does fluidform");
    set(c.env.as_ref().is_some_and(|m| !m.is_empty()), "env", out, &ignored);
    set(c.properties.as_ref().is_some_and(|m| !m.is_empty()), "properties", out, &ignored);
    set(c.jvm_options.as_ref().is_some_and(|l| !l.is_empty()), "jvmOptions", out, &ignored);
    set(
        c.volume_mounts.as_ref().is_some_and(|l| !l.is_empty()),
        "volumeMounts",
        out,
        &format!("Fluid's chart never reads it: the container mounts spec.{pod}.volumeMounts instead"),
    );
    if key == "apiGateway" {
        set(c.resources.is_some(), "resources", out, &ignored);
    }
    set(c.replicas.is_some(), "replicas", out, &pod_level);
    set(c.node_selector.as_ref().is_some_and(|m| !m.is_empty()), "nodeSelector", out, &pod_level);
    set(c.network_mode.is_some(), "networkMode", out, &pod_level);
    set(c.pod_metadata.is_some(), "podMetadata", out, &pod_level);
}

fn level_quirks(i: usize, level: &Level, out: &mut Vec<Quirk>) {
    let base = format!("spec.tieredstore.levels[{i}]");
    for (field, value) in [("high", &level.high), ("low", &level.low)] {
        if value.is_some() {
            out.push(quirk(
                format!("{base}.{field}"),
                "Fluid never passes watermarks to Alluxio, which keeps its own defaults (0.95 and 0.7); \
                 fluidform renders none either",
            ));
        }
    }
    if let Some(list) = &level.quota_list {
        let decimal = list.split(',').filter_map(|q| parse_quantity(q.trim()).ok()).any(|q| {
            q.format() != QuantityFormat::BinarySI && q.to_string().ends_with(|c: char| c.is_ascii_alphabetic())
        });
        if decimal {
            out.push(quirk(
                format!("{base}.quotaList"),
                "Fluid passes a decimal quantity such as 100G to Alluxio as written, and Alluxio reads it as \
                 binary (100GiB); fluidform passes the exact bytes. Write binary units (Gi) to get the same cache",
            ));
        }
    }
    let medium = level
        .volume_source
        .as_ref()
        .filter(|_| level.volume_type.as_deref() == Some("emptyDir"))
        .and_then(|v| v.get("emptyDir"))
        .map(|e| e.get("medium").and_then(|m| m.as_str()).unwrap_or(""));
    if let Some(m) = medium.filter(|m| *m != level.mediumtype) {
        out.push(quirk(
            format!("{base}.volumeSource"),
            format!(
                "Fluid writes the emptyDir medium ({m:?}) as Alluxio's dirs.mediumtype instead of {:?}; \
                 fluidform does the same",
                level.mediumtype
            ),
        ));
    }
}

/// Fluid's quirks for this runtime. `cluster_default` is the cluster default pull-secret
/// layer (Fluid's `IMAGE_PULL_SECRETS`).
pub fn quirks(runtime: &AlluxioRuntime, cluster_default: &[String]) -> Vec<Quirk> {
    let s = &runtime.spec;
    let mut out = Vec::new();
    for (key, c) in [("jobMaster", &s.job_master), ("jobWorker", &s.job_worker), ("apiGateway", &s.api_gateway)] {
        if let Some(c) = c {
            ignored_component_fields(key, c, &mut out);
        }
    }

    // The fuse's pull secrets: Fluid's fuse path reads the controller default first.
    let layers = runtime.layers();
    let default = dedup(cluster_default);
    if layers.fuse.is_empty() && !default.is_empty() && !layers.global.is_empty() {
        let global = dedup(&layers.global);
        if global != default {
            out.push(quirk(
                "spec.fuse.imagePullSecrets",
                format!(
                    "Fluid's fuse consults its controller default (IMAGE_PULL_SECRETS, the cluster default) before \
                     spec.imagePullSecrets, so Fluid would pull the fuse with {}; fluidform uses one order for every \
                     component and pulls it with spec.imagePullSecrets {}",
                    names(&default),
                    names(&global)
                ),
            ));
        }
    }

    // Ports Fluid reads under other names, or not at all off the host network.
    let renamed = [
        ("spec.apiGateway.ports.rest", s.api_gateway.as_ref(), "rest", "web"),
        ("spec.master.ports.embedded", s.master.as_ref(), "embedded", "embeddedJournal"),
        ("spec.jobMaster.ports.embedded", s.job_master.as_ref(), "embedded", "embeddedJournal"),
    ];
    for (field, c, ours, theirs) in renamed {
        if c.and_then(|c| c.ports.as_ref()).is_some_and(|p| p.contains_key(ours)) {
            out.push(quirk(
                field,
                format!(
                    "Fluid reads this port from ports.{theirs} (a name fluidform's validation does not accept) and \
                     would allocate one instead; fluidform uses this one"
                ),
            ));
        }
    }
    let container_network =
        |c: &Option<ComponentSpec>| c.as_ref().and_then(|c| c.network_mode.as_deref()) == Some("ContainerNetwork");
    if container_network(&s.master) && container_network(&s.worker) {
        for (key, c) in [
            ("master", &s.master),
            ("jobMaster", &s.job_master),
            ("worker", &s.worker),
            ("jobWorker", &s.job_worker),
            ("apiGateway", &s.api_gateway),
        ] {
            if c.as_ref().and_then(|c| c.ports.as_ref()).is_some_and(|p| !p.is_empty()) {
                out.push(quirk(
                    format!("spec.{key}.ports"),
                    "with neither the master nor the worker on the host network, Fluid listens on its fixed ports \
                     and ignores these; fluidform uses them",
                ));
            }
        }
    }
    for (key, props) in [
        ("master", s.master.as_ref().and_then(|c| c.properties.as_ref())),
        ("worker", s.worker.as_ref().and_then(|c| c.properties.as_ref())),
        ("fuse", s.fuse.as_ref().and_then(|f| f.properties.as_ref())),
    ] {
        for p in PortName::ALL {
            if props.is_some_and(|m| m.contains_key(p.property())) {
                out.push(quirk(
                    format!("spec.{key}.properties.{}", p.property()),
                    "Fluid (and fluidform) then leave this port out of the properties every other component reads, \
                     which fall back to Alluxio's default port; set it in spec.properties",
                ));
            }
        }
    }

    // Properties Fluid overwrites.
    let props = s.properties.as_ref();
    let given = |k: &str| props.and_then(|p| p.get(k));
    let overwritten: [(&str, bool, &str); 4] = [
        (
            "alluxio.master.mount.table.root.ufs",
            true,
            "Fluid sets it from the Dataset: its only mount when that is at /, else /underFSStorage",
        ),
        ("alluxio.user.file.replication.max", true, "Fluid sets it from spec.data.replicas (1 when not above 0)"),
        (
            "alluxio.fuse.user.group.translation.enabled",
            given("alluxio.fuse.user.group.translation.enabled").is_some_and(|v| v != "true"),
            "Fluid sets it to true unless the Dataset's owner goes into the fuse options",
        ),
        (
            "alluxio.user.short.circuit.enabled",
            s.tieredstore
                .as_ref()
                .and_then(|t| t.levels.as_ref())
                .is_some_and(|l| l.iter().any(|l| l.volume_type.as_deref() == Some("emptyDir"))),
            "Fluid sets it to false when a tier is an emptyDir",
        ),
    ];
    for (key, applies, why) in overwritten {
        if applies && given(key).is_some() {
            out.push(quirk(format!("spec.properties.{key}"), format!("{why}; this value is overwritten")));
        }
    }
    if s.hadoop_config.is_some() && given("alluxio.underfs.hdfs.configuration").is_none() {
        out.push(quirk(
            "spec.hadoopConfig",
            "Fluid reads the ConfigMap and points alluxio.underfs.hdfs.configuration at its hdfs-site.xml and \
             core-site.xml; fluidform renders without reading the cluster, so set that property to the files \
             under /hdfs-config",
        ));
    }

    // Tiers, the fuse's resources, set-up failures.
    for (i, level) in s.tieredstore.iter().flat_map(|t| t.levels.iter().flatten()).enumerate() {
        level_quirks(i, level, &mut out);
    }
    let fuse = s.fuse.as_ref();
    if let Some(r) = fuse.and_then(|f| f.resources.as_ref())
        && !r.limits.as_ref().is_some_and(|l| l.contains_key("memory"))
        && (r.requests.as_ref().is_some_and(|m| !m.is_empty()) || r.limits.as_ref().is_some_and(|m| !m.is_empty()))
    {
        out.push(quirk(
            "spec.fuse.resources",
            "Fluid renders the fuse's resources only when they give limits.memory (and then adds the MEM tiers' \
             quota to it); fluidform renders none either",
        ));
    }
    let tag = fuse.and_then(|f| f.image_tag.as_deref()).filter(|t| !t.is_empty()).unwrap_or(DEFAULT_IMAGE_TAG);
    if !fuse_tag_is_version(tag) {
        out.push(quirk(
            "spec.fuse.imageTag",
            format!(
                "Fluid compares the fuse image tag with 2.8.0 and fails to set the runtime up when {tag:?} is not a \
                 version; fluidform renders Alluxio 2.8's fuse arguments"
            ),
        ));
    }
    let mem = mem_quota_bytes(s);
    let limit = s
        .worker
        .as_ref()
        .and_then(|w| w.resources.as_ref())
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .and_then(|q| parse_quantity(q.as_str()).ok())
        .and_then(|q| q.to_bytes())
        .filter(|&b| b > 0);
    if let Some(limit) = limit.filter(|&l| mem > l) {
        out.push(quirk(
            "spec.worker.resources.limits.memory",
            format!(
                "the MEM tiers' quota ({mem} bytes) is above this limit ({limit} bytes): Fluid refuses to set the \
                 runtime up, and the worker fluidform renders requests more memory than it may use"
            ),
        ));
    }

    // Where fluidform renders differently on purpose.
    if s.run_as.is_some() {
        out.push(quirk(
            "spec.runAs",
            "Fluid's chart reads initUsers.enabled but Fluid writes the key as Enabled, so Fluid runs the containers \
             as this user without creating it or making the tier and fuse directories writable; fluidform adds \
             the init-users containers Fluid means to run",
        ));
    }
    if s.replicas.is_none() {
        out.push(quirk(
            "spec.replicas",
            "absent: Fluid runs no worker (its API asks for it to be given); fluidform runs one",
        ));
    }
    out
}

#[cfg(test)]
#[path = "quirks_tests.rs"]
mod tests;

//! Validation of a parsed AlluxioRuntime: Fluid's rules plus fluidform's own. Every
//! violation is reported (not just the first), each naming its JSON path.
//!
//! Beyond the brief's list, decided here:
//! - `quota` and `quotaList` may both be set; `quotaList` wins, as in Fluid's transform.
//!   Quotas must be greater than zero.
//! - Paths are unique across all tiers, and each `mediumtype` appears in one tier only
//!   (Alluxio needs distinct tier aliases; a repeated path would mount twice).
//! - `volumeSource` is accepted only with `volumeType: emptyDir` and must hold an `emptyDir`.
//! - `runAs` needs all of `uid`, `gid`, `user`, `group` (Fluid's CRD requires them).
//! - `ports` keys must be names the component uses (e.g. `rpc`, `web`); unknown names are
//!   rejected rather than silently ignored.
//! - `volumes` must be valid Kubernetes Volumes with unique DNS-1123 names that do not
//!   collide with the volumes fluidform generates; every `volumeMounts[].name` must name one.
//! - `hadoopConfig` must be a valid ConfigMap name; `fuse.cleanPolicy` is `OnDemand` or
//!   `OnRuntimeDeleted`; env names must be non-empty and contain no `=`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Volume, VolumeMount};
use serde_json::Value;

use super::FieldError;
use super::manifest::{
    AlluxioRuntime, ComponentSpec, FuseSpec, Level, LocalObjectReference, PodMetadata, Resources, StringOrNumber,
};
use super::names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, validate_label_key, validate_label_value,
};
use super::quantity::parse_quantity;
use super::render::is_reserved_volume_name;

pub const API_VERSION: &str = "data.fluid.io/v1alpha1";
pub const KIND: &str = "AlluxioRuntime";
const PULL_POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];
const NETWORK_MODES: [&str; 3] = ["HostNetwork", "ContainerNetwork", ""];
const MEDIUM_TYPES: [&str; 3] = ["MEM", "SSD", "HDD"];
const VOLUME_TYPES: [&str; 2] = ["hostPath", "emptyDir"];
const CLEAN_POLICIES: [&str; 2] = ["OnDemand", "OnRuntimeDeleted"];

/// Port names each component template understands.
fn port_names(component: &str) -> &'static [&'static str] {
    match component {
        "master" | "jobMaster" => &["rpc", "web", "embedded"],
        "worker" => &["rpc", "web"],
        "jobWorker" => &["rpc", "web", "data"],
        "apiGateway" => &["rest"],
        _ => &[],
    }
}

struct Checker<'a> {
    errors: Vec<FieldError>,
    volume_names: BTreeSet<&'a str>,
}

impl<'a> Checker<'a> {
    fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    fn one_of(&mut self, field: &str, value: Option<&String>, allowed: &[&str]) {
        if let Some(v) = value
            && !allowed.contains(&v.as_str())
        {
            let shown: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
            self.err(field, format!("{v:?} is not one of {}", shown.join(", ")));
        }
    }

    fn label_map(&mut self, field: &str, map: Option<&BTreeMap<String, String>>) {
        for (k, v) in map.into_iter().flatten() {
            if let Err(e) = validate_label_key(k).and_then(|_| validate_label_value(v)) {
                self.err(field, e);
            }
        }
    }

    fn annotation_map(&mut self, field: &str, map: Option<&BTreeMap<String, String>>) {
        for k in map.into_iter().flatten().map(|(k, _)| k) {
            if let Err(e) = validate_label_key(k) {
                self.err(field, e.replace("label key", "annotation key"));
            }
        }
    }

    fn pod_metadata(&mut self, field: &str, pm: Option<&PodMetadata>) {
        if let Some(pm) = pm {
            self.label_map(&format!("{field}.labels"), pm.labels.as_ref());
            self.annotation_map(&format!("{field}.annotations"), pm.annotations.as_ref());
        }
    }

    fn pull_secrets(&mut self, field: &str, list: Option<&Vec<LocalObjectReference>>) {
        for (i, r) in list.into_iter().flatten().enumerate() {
            let f = format!("{field}[{i}].name");
            if r.name.is_empty() {
                self.err(f, "is required");
            } else if !is_dns1123_subdomain(&r.name) {
                self.err(f, format!("{:?} is not a valid Secret name (DNS-1123 subdomain)", r.name));
            }
        }
    }

    fn quantity(&mut self, field: &str, q: &StringOrNumber) {
        if let Err(e) = parse_quantity(q.as_str()) {
            self.err(field, e);
        }
    }

    fn resources(&mut self, field: &str, r: Option<&Resources>) {
        let Some(r) = r else { return };
        for (part, map) in [("requests", &r.requests), ("limits", &r.limits)] {
            for (name, q) in map.iter().flatten() {
                self.quantity(&format!("{field}.{part}.{name}"), q);
            }
        }
    }

    fn env(&mut self, field: &str, env: Option<&BTreeMap<String, String>>) {
        for k in env.into_iter().flatten().map(|(k, _)| k) {
            if k.is_empty() || k.contains('=') {
                self.err(field, format!("{k:?} is not a valid environment variable name"));
            }
        }
    }

    fn volume_mounts(&mut self, field: &str, mounts: Option<&Vec<Value>>) {
        for (i, m) in mounts.into_iter().flatten().enumerate() {
            let f = format!("{field}[{i}]");
            match serde_json::from_value::<VolumeMount>(m.clone()) {
                Err(e) => self.err(f, format!("not a valid volume mount: {e}")),
                Ok(vm) => {
                    if vm.mount_path.is_empty() {
                        self.err(format!("{f}.mountPath"), "is required");
                    }
                    if !self.volume_names.contains(vm.name.as_str()) {
                        self.err(format!("{f}.name"), format!("{:?} does not name a volume in spec.volumes", vm.name));
                    }
                }
            }
        }
    }

    fn node_selector(&mut self, field: &str, ns: Option<&BTreeMap<String, String>>) {
        self.label_map(field, ns);
    }

    fn component(&mut self, key: &str, c: Option<&ComponentSpec>) {
        let Some(c) = c else { return };
        let base = format!("spec.{key}");
        if let Some(r) = c.replicas
            && r < 1
        {
            self.err(format!("{base}.replicas"), format!("must be at least 1, got {r}"));
        }
        let allowed = port_names(key);
        for (name, &port) in c.ports.iter().flatten() {
            let f = format!("{base}.ports.{name}");
            if !allowed.contains(&name.as_str()) {
                self.err(f.clone(), format!("unknown port name {name:?}; {key} uses {}", allowed.join(", ")));
            }
            if !(1..=65535).contains(&port) {
                self.err(f, format!("port {port} is outside 1..65535"));
            }
        }
        self.resources(&format!("{base}.resources"), c.resources.as_ref());
        self.env(&format!("{base}.env"), c.env.as_ref());
        self.node_selector(&format!("{base}.nodeSelector"), c.node_selector.as_ref());
        self.one_of(&format!("{base}.networkMode"), c.network_mode.as_ref(), &NETWORK_MODES);
        self.volume_mounts(&format!("{base}.volumeMounts"), c.volume_mounts.as_ref());
        self.pod_metadata(&format!("{base}.podMetadata"), c.pod_metadata.as_ref());
        self.pull_secrets(&format!("{base}.imagePullSecrets"), c.image_pull_secrets.as_ref());
    }

    fn fuse(&mut self, f: Option<&FuseSpec>) {
        let Some(f) = f else { return };
        self.one_of("spec.fuse.imagePullPolicy", f.image_pull_policy.as_ref(), &PULL_POLICIES);
        self.pull_secrets("spec.fuse.imagePullSecrets", f.image_pull_secrets.as_ref());
        self.env("spec.fuse.env", f.env.as_ref());
        self.resources("spec.fuse.resources", f.resources.as_ref());
        self.node_selector("spec.fuse.nodeSelector", f.node_selector.as_ref());
        self.one_of("spec.fuse.cleanPolicy", f.clean_policy.as_ref(), &CLEAN_POLICIES);
        self.one_of("spec.fuse.networkMode", f.network_mode.as_ref(), &NETWORK_MODES);
        self.volume_mounts("spec.fuse.volumeMounts", f.volume_mounts.as_ref());
        self.pod_metadata("spec.fuse.podMetadata", f.pod_metadata.as_ref());
    }

    fn watermark(&mut self, field: &str, w: Option<&StringOrNumber>) -> Option<f64> {
        let w = w?;
        let s = w.as_str();
        let decimal = s.bytes().filter(|&c| c == b'.').count() <= 1
            && s.bytes().any(|c| c.is_ascii_digit())
            && s.bytes().all(|c| c.is_ascii_digit() || c == b'.');
        match s.parse::<f64>() {
            Ok(v) if decimal && v > 0.0 && v <= 1.0 => Some(v),
            Ok(_) if decimal => {
                self.err(field, format!("{s:?} must be greater than 0 and at most 1"));
                None
            }
            _ => {
                self.err(field, format!("{s:?} is not a decimal ratio such as 0.9"));
                None
            }
        }
    }

    fn level(&mut self, i: usize, l: &'a Level, seen_paths: &mut BTreeMap<&'a str, usize>) {
        let base = format!("spec.tieredstore.levels[{i}]");
        if l.mediumtype.is_empty() {
            self.err(format!("{base}.mediumtype"), "is required (MEM, SSD or HDD)");
        } else {
            self.one_of(&format!("{base}.mediumtype"), Some(&l.mediumtype), &MEDIUM_TYPES);
        }
        self.one_of(&format!("{base}.volumeType"), l.volume_type.as_ref(), &VOLUME_TYPES);
        if let Some(src) = &l.volume_source {
            let f = format!("{base}.volumeSource");
            if l.volume_type.as_deref() != Some("emptyDir") {
                self.err(f, "is only supported with volumeType emptyDir");
            } else {
                let mut v = src.clone();
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("name".into(), Value::String("tier".into()));
                }
                match serde_json::from_value::<Volume>(v) {
                    Ok(vol) if vol.empty_dir.is_some() => {}
                    Ok(_) => self.err(f, "must contain emptyDir"),
                    Err(e) => self.err(f, format!("not a valid volume source: {e}")),
                }
            }
        }
        let paths = if l.path.trim().is_empty() {
            self.err(format!("{base}.path"), "is required");
            Vec::new()
        } else {
            let paths = l.paths();
            for p in &paths {
                if p.is_empty() || !p.starts_with('/') {
                    self.err(format!("{base}.path"), format!("every comma-separated path must be absolute, got {p:?}"));
                } else if let Some(other) = seen_paths.insert(p, i) {
                    self.err(format!("{base}.path"), format!("path {p:?} is already used by levels[{other}]"));
                }
            }
            paths
        };
        match (&l.quota, &l.quota_list) {
            (None, None) => self.err(format!("{base}.quota"), "either quota or quotaList must be set"),
            (_, Some(list)) => {
                let f = format!("{base}.quotaList");
                let quotas: Vec<&str> = list.split(',').map(str::trim).collect();
                for q in &quotas {
                    self.positive_quantity(&f, q);
                }
                if !paths.is_empty() && quotas.len() != paths.len() {
                    self.err(
                        f,
                        format!("has {} quotas for {} paths; give one quota per path", quotas.len(), paths.len()),
                    );
                }
            }
            (Some(q), None) => self.positive_quantity(&format!("{base}.quota"), q.as_str()),
        }
        if let Some(q) = &l.quota
            && l.quota_list.is_some()
        {
            self.positive_quantity(&format!("{base}.quota"), q.as_str());
        }
        let high = self.watermark(&format!("{base}.high"), l.high.as_ref());
        let low = self.watermark(&format!("{base}.low"), l.low.as_ref());
        if let (Some(h), Some(lo)) = (high, low)
            && lo >= h
        {
            self.err(format!("{base}.low"), format!("low watermark {lo} must be less than high watermark {h}"));
        }
    }

    fn positive_quantity(&mut self, field: &str, s: &str) {
        match parse_quantity(s) {
            Ok(q) if q.is_negative() || q.is_zero() => self.err(field, format!("{s:?} must be greater than zero")),
            Ok(_) => {}
            Err(e) => self.err(field, e),
        }
    }
}

/// Fluid's validation plus ours. Returns every violation, each naming its field.
pub fn validate_runtime(rt: &AlluxioRuntime, path_namespace: &str, path_name: &str) -> Vec<FieldError> {
    let mut c = Checker { errors: Vec::new(), volume_names: BTreeSet::new() };
    if rt.api_version != API_VERSION {
        c.err("apiVersion", format!("must be {API_VERSION:?}, got {:?}", rt.api_version));
    }
    if rt.kind != KIND {
        c.err("kind", format!("must be {KIND:?}, got {:?}", rt.kind));
    }
    let m = &rt.metadata;
    if m.name.is_empty() {
        c.err("metadata.name", "is required");
    } else if m.name != path_name {
        c.err("metadata.name", format!("{:?} does not match the name in the path {path_name:?}", m.name));
    }
    if !is_dns1035_label(path_name) {
        c.err(
            "metadata.name",
            format!(
                "{path_name:?} is not a valid runtime name: lowercase letters, digits and '-', \
                 starting with a letter, at most 63 characters (DNS-1035 label)"
            ),
        );
    }
    if let Some(ns) = &m.namespace
        && ns != path_namespace
    {
        c.err("metadata.namespace", format!("{ns:?} does not match the namespace in the path {path_namespace:?}"));
    }
    if !is_dns1123_label(path_namespace) {
        c.err("metadata.namespace", format!("{path_namespace:?} is not a valid namespace (DNS-1123 label)"));
    }
    c.label_map("metadata.labels", m.labels.as_ref());
    c.annotation_map("metadata.annotations", m.annotations.as_ref());

    let s = &rt.spec;
    let mut seen_volumes = BTreeSet::new();
    for (i, v) in s.volumes.iter().flatten().enumerate() {
        let f = format!("spec.volumes[{i}]");
        match serde_json::from_value::<Volume>(v.clone()) {
            Err(e) => c.err(f, format!("not a valid volume: {e}")),
            Ok(vol) => {
                let f = format!("{f}.name");
                if !is_dns1123_label(&vol.name) {
                    c.err(f, format!("{:?} is not a valid volume name", vol.name));
                } else if is_reserved_volume_name(&vol.name) {
                    c.err(f, format!("{:?} is reserved for volumes fluidform adds", vol.name));
                } else if !seen_volumes.insert(vol.name.clone()) {
                    c.err(f, format!("{:?} is declared more than once", vol.name));
                }
            }
        }
    }
    // Mount checks need the names; borrow them from the manifest for the checker's life.
    c.volume_names = s.volumes.iter().flatten().filter_map(|v| v.get("name").and_then(Value::as_str)).collect();

    if let Some(v) = &s.alluxio_version {
        c.one_of("spec.alluxioVersion.imagePullPolicy", v.image_pull_policy.as_ref(), &PULL_POLICIES);
    }
    for (key, comp) in [
        ("master", &s.master),
        ("jobMaster", &s.job_master),
        ("worker", &s.worker),
        ("jobWorker", &s.job_worker),
        ("apiGateway", &s.api_gateway),
    ] {
        c.component(key, comp.as_ref());
    }
    if let Some(iu) = &s.init_users {
        c.one_of("spec.initUsers.imagePullPolicy", iu.image_pull_policy.as_ref(), &PULL_POLICIES);
        c.env("spec.initUsers.env", iu.env.as_ref());
        c.resources("spec.initUsers.resources", iu.resources.as_ref());
    }
    c.fuse(s.fuse.as_ref());

    let mut seen_paths = BTreeMap::new();
    let mut seen_media: BTreeMap<&str, usize> = BTreeMap::new();
    let levels = s.tieredstore.as_ref().and_then(|t| t.levels.as_ref());
    for (i, l) in levels.into_iter().flatten().enumerate() {
        c.level(i, l, &mut seen_paths);
        if !l.mediumtype.is_empty()
            && let Some(other) = seen_media.insert(&l.mediumtype, i)
        {
            c.err(
                format!("spec.tieredstore.levels[{i}].mediumtype"),
                format!("{} is already used by levels[{other}]", l.mediumtype),
            );
        }
    }

    if let Some(r) = s.replicas
        && r < 0
    {
        c.err("spec.replicas", format!("must not be negative, got {r}"));
    }
    if let Some(run_as) = &s.run_as {
        for (name, v) in [("uid", run_as.uid), ("gid", run_as.gid)] {
            match v {
                None => c.err(format!("spec.runAs.{name}"), "is required"),
                Some(n) if n < 0 => c.err(format!("spec.runAs.{name}"), "must not be negative"),
                Some(_) => {}
            }
        }
        for (name, v) in [("user", &run_as.user), ("group", &run_as.group)] {
            if v.as_deref().unwrap_or("").is_empty() {
                c.err(format!("spec.runAs.{name}"), "is required");
            }
        }
    }
    if let Some(h) = &s.hadoop_config
        && !is_dns1123_subdomain(h)
    {
        c.err("spec.hadoopConfig", format!("{h:?} is not a valid ConfigMap name"));
    }
    if let Some(policy) = s.management.as_ref().and_then(|m| m.clean_cache_policy.as_ref()) {
        for (name, v) in
            [("gracePeriodSeconds", policy.grace_period_seconds), ("maxRetryAttempts", policy.max_retry_attempts)]
        {
            if v.is_some_and(|n| n < 0) {
                c.err(format!("spec.management.cleanCachePolicy.{name}"), "must not be negative");
            }
        }
    }
    c.pod_metadata("spec.podMetadata", s.pod_metadata.as_ref());
    c.pull_secrets("spec.imagePullSecrets", s.image_pull_secrets.as_ref());
    c.errors
}

#[cfg(test)]
mod tests;

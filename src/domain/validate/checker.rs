//! The rules every manifest kind shares (metadata, pull secrets, labels, resources, users,
//! replicas), collected into one `Checker` that keeps every violation with its JSON path.
//! Kubernetes-typed values are checked in `k8s`, tiered stores in `tiers`.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::FieldError;
use crate::domain::manifest::{
    CleanCachePolicy, LocalObjectReference, ObjectMeta, PodMetadata, Resources, RunAs, StringOrNumber,
};
use crate::domain::names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, validate_label_key, validate_label_value,
};
use crate::domain::quantity::parse_quantity;

pub const API_VERSION: &str = "data.fluid.io/v1alpha1";
pub(super) const PULL_POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];
pub(super) const NETWORK_MODES: [&str; 3] = ["HostNetwork", "ContainerNetwork", ""];

/// How an object's name is checked, and what the object is called in messages.
#[derive(Clone, Copy)]
pub(super) enum NameRule {
    /// Runtimes and Datasets: Fluid's controllers require a DNS-1035 label.
    Dns1035(&'static str),
    /// Cluster-scoped objects with no rule of Fluid's: Kubernetes' DNS-1123 subdomain.
    Dns1123Subdomain(&'static str),
}

pub(super) struct Checker<'a> {
    pub(super) errors: Vec<FieldError>,
    pub(super) volume_names: BTreeSet<&'a str>,
}

impl<'a> Checker<'a> {
    pub(super) fn new() -> Self {
        Checker { errors: Vec::new(), volume_names: BTreeSet::new() }
    }

    pub(super) fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub(super) fn one_of(&mut self, field: &str, value: Option<&String>, allowed: &[&str]) {
        if let Some(v) = value
            && !allowed.contains(&v.as_str())
        {
            let shown: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
            self.err(field, format!("{v:?} is not one of {}", shown.join(", ")));
        }
    }

    /// `apiVersion`, `kind`, and metadata consistent with the request path. `path_namespace`
    /// is `None` for cluster-scoped kinds, which must not name a namespace.
    pub(super) fn object_meta(
        &mut self,
        (api_version, kind, expected_kind): (&str, &str, &str),
        m: &ObjectMeta,
        path_namespace: Option<&str>,
        path_name: &str,
        rule: NameRule,
    ) {
        if api_version != API_VERSION {
            self.err("apiVersion", format!("must be {API_VERSION:?}, got {api_version:?}"));
        }
        if kind != expected_kind {
            self.err("kind", format!("must be {expected_kind:?}, got {kind:?}"));
        }
        if m.name.is_empty() {
            self.err("metadata.name", "is required");
        } else if m.name != path_name {
            self.err("metadata.name", format!("{:?} does not match the name in the path {path_name:?}", m.name));
        }
        match rule {
            NameRule::Dns1035(noun) if !is_dns1035_label(path_name) => self.err(
                "metadata.name",
                format!(
                    "{path_name:?} is not a valid {noun} name: lowercase letters, digits and '-', \
                     starting with a letter, at most 63 characters (DNS-1035 label)"
                ),
            ),
            NameRule::Dns1123Subdomain(noun) if !is_dns1123_subdomain(path_name) => self.err(
                "metadata.name",
                format!(
                    "{path_name:?} is not a valid {noun} name: lowercase letters, digits, '-' and '.', \
                     at most 253 characters (DNS-1123 subdomain)"
                ),
            ),
            _ => {}
        }
        match (path_namespace, &m.namespace) {
            (Some(path_ns), Some(ns)) if ns != path_ns => {
                self.err("metadata.namespace", format!("{ns:?} does not match the namespace in the path {path_ns:?}"))
            }
            (None, Some(ns)) => self.err("metadata.namespace", format!("{kind} is cluster-scoped; remove {ns:?}")),
            _ => {}
        }
        if let Some(path_ns) = path_namespace
            && !is_dns1123_label(path_ns)
        {
            self.err("metadata.namespace", format!("{path_ns:?} is not a valid namespace (DNS-1123 label)"));
        }
        self.label_map("metadata.labels", m.labels.as_ref());
        self.annotation_map("metadata.annotations", m.annotations.as_ref());
    }

    pub(super) fn label_map(&mut self, field: &str, map: Option<&BTreeMap<String, String>>) {
        for (k, v) in map.into_iter().flatten() {
            if let Err(e) = validate_label_key(k).and_then(|_| validate_label_value(v)) {
                self.err(field, e);
            }
        }
    }

    pub(super) fn annotation_map(&mut self, field: &str, map: Option<&BTreeMap<String, String>>) {
        for k in map.into_iter().flatten().map(|(k, _)| k) {
            if let Err(e) = validate_label_key(k) {
                self.err(field, e.replace("label key", "annotation key"));
            }
        }
    }

    pub(super) fn pod_metadata(&mut self, field: &str, pm: Option<&PodMetadata>) {
        if let Some(pm) = pm {
            self.label_map(&format!("{field}.labels"), pm.labels.as_ref());
            self.annotation_map(&format!("{field}.annotations"), pm.annotations.as_ref());
        }
    }

    pub(super) fn pull_secrets(&mut self, field: &str, list: Option<&Vec<LocalObjectReference>>) {
        for (i, r) in list.into_iter().flatten().enumerate() {
            let f = format!("{field}[{i}].name");
            if r.name.is_empty() {
                self.err(f, "is required");
            } else if !is_dns1123_subdomain(&r.name) {
                self.err(f, format!("{:?} is not a valid Secret name (DNS-1123 subdomain)", r.name));
            }
        }
    }

    /// A name of a Secret, ConfigMap or other namespaced object (DNS-1123 subdomain).
    pub(super) fn object_name(&mut self, field: &str, what: &str, name: Option<&String>) {
        if let Some(n) = name
            && !is_dns1123_subdomain(n)
        {
            self.err(field, format!("{n:?} is not a valid {what} name"));
        }
    }

    fn quantity(&mut self, field: &str, q: &StringOrNumber) {
        if let Err(e) = parse_quantity(q.as_str()) {
            self.err(field, e);
        }
    }

    pub(super) fn resources(&mut self, field: &str, r: Option<&Resources>) {
        let Some(r) = r else { return };
        for (part, map) in [("requests", &r.requests), ("limits", &r.limits)] {
            for (name, q) in map.iter().flatten() {
                self.quantity(&format!("{field}.{part}.{name}"), q);
            }
        }
        if r.claims.as_ref().is_some_and(|c| !c.is_empty()) {
            self.err(
                format!("{field}.claims"),
                "resource claims are not supported: Fluid copies only requests and limits into the pods",
            );
        }
    }

    /// A map of environment variables (Alluxio, Jindo).
    pub(super) fn env(&mut self, field: &str, env: Option<&BTreeMap<String, String>>) {
        for k in env.into_iter().flatten().map(|(k, _)| k) {
            if k.is_empty() || k.contains('=') {
                self.err(field, format!("{k:?} is not a valid environment variable name"));
            }
        }
    }

    /// Fluid's `User` (`runAs`, a Dataset's `owner`): the CRD requires all four fields.
    pub(super) fn user(&mut self, field: &str, user: Option<&RunAs>) {
        let Some(u) = user else { return };
        for (name, v) in [("uid", u.uid), ("gid", u.gid)] {
            match v {
                None => self.err(format!("{field}.{name}"), "is required"),
                Some(n) if n < 0 => self.err(format!("{field}.{name}"), "must not be negative"),
                Some(_) => {}
            }
        }
        for (name, v) in [("user", &u.user), ("group", &u.group)] {
            if v.as_deref().unwrap_or("").is_empty() {
                self.err(format!("{field}.{name}"), "is required");
            }
        }
    }

    pub(super) fn clean_cache_policy(&mut self, field: &str, policy: Option<&CleanCachePolicy>) {
        let Some(policy) = policy else { return };
        for (name, v) in
            [("gracePeriodSeconds", policy.grace_period_seconds), ("maxRetryAttempts", policy.max_retry_attempts)]
        {
            if v.is_some_and(|n| n < 0) {
                self.err(format!("{field}.{name}"), "must not be negative");
            }
        }
    }

    pub(super) fn at_least_one(&mut self, field: &str, replicas: Option<i32>) {
        if let Some(r) = replicas
            && r < 1
        {
            self.err(field, format!("must be at least 1, got {r}"));
        }
    }

    pub(super) fn not_negative(&mut self, field: &str, replicas: Option<i32>) {
        if let Some(r) = replicas
            && r < 0
        {
            self.err(field, format!("must not be negative, got {r}"));
        }
    }
}

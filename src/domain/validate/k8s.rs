//! Checks of the Kubernetes-typed values manifests embed (volumes, volume mounts,
//! tolerations, env and port lists, probes): each is parsed as its `k8s_openapi` type, and
//! a field that type does not define is refused with its path, because the API server
//! would prune it without a word.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ContainerPort, EnvVar, Probe, Toleration, Volume, VolumeMount};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::checker::Checker;
use crate::domain::names::is_dns1123_label;

const TOLERATION_OPERATORS: [&str; 3] = ["Exists", "Equal", ""];
const TAINT_EFFECTS: [&str; 4] = ["NoSchedule", "PreferNoSchedule", "NoExecute", ""];

impl<'a> Checker<'a> {
    /// Kubernetes-typed JSON parsed as `T`. A type error is reported, and so is every
    /// field `T` does not define (the API server would drop it without a word), each with
    /// its path.
    pub(super) fn k8s_typed<T: DeserializeOwned + Serialize>(
        &mut self,
        field: &str,
        what: &str,
        v: &Value,
    ) -> Option<T> {
        match serde_json::from_value::<T>(v.clone()) {
            Err(e) => {
                self.err(field, format!("not a valid {what}: {e}"));
                None
            }
            Ok(t) => {
                let known = serde_json::to_value(&t).unwrap_or(Value::Null);
                let mut unknown = Vec::new();
                unknown_fields(v, &known, field, &mut unknown);
                for (f, key) in unknown {
                    self.err(f, format!("unknown field `{key}`"));
                }
                Some(t)
            }
        }
    }

    /// Each item of a Kubernetes-typed list, parsed as `T`; bad items are reported.
    pub(super) fn k8s_items<T: DeserializeOwned + Serialize>(
        &mut self,
        field: &str,
        what: &str,
        list: Option<&Vec<Value>>,
    ) -> Vec<(String, T)> {
        let mut out = Vec::new();
        for (i, v) in list.into_iter().flatten().enumerate() {
            let f = format!("{field}[{i}]");
            if let Some(t) = self.k8s_typed(&f, what, v) {
                out.push((f, t));
            }
        }
        out
    }

    /// A list of Kubernetes `EnvVar` (Thin).
    pub(super) fn env_list(&mut self, field: &str, list: Option<&Vec<Value>>) {
        let mut seen = BTreeSet::new();
        for (f, e) in self.k8s_items::<EnvVar>(field, "environment variable", list) {
            if e.name.is_empty() || e.name.contains('=') {
                self.err(format!("{f}.name"), format!("{:?} is not a valid environment variable name", e.name));
            } else if !seen.insert(e.name.clone()) {
                self.err(format!("{f}.name"), format!("{:?} is set more than once", e.name));
            }
            if e.value.is_some() && e.value_from.is_some() {
                self.err(f, "give either value or valueFrom, not both");
            }
        }
    }

    /// A list of Kubernetes `ContainerPort` (Thin).
    pub(super) fn container_ports(&mut self, field: &str, list: Option<&Vec<Value>>) {
        let mut names = BTreeSet::new();
        for (f, p) in self.k8s_items::<ContainerPort>(field, "container port", list) {
            if !(1..=65535).contains(&p.container_port) {
                self.err(format!("{f}.containerPort"), format!("port {} is outside 1..65535", p.container_port));
            }
            if let Some(n) = &p.name
                && !names.insert(n.clone())
            {
                self.err(format!("{f}.name"), format!("{n:?} is used by another port"));
            }
            self.one_of(&format!("{f}.protocol"), p.protocol.as_ref(), &["TCP", "UDP", "SCTP"]);
        }
    }

    pub(super) fn probe(&mut self, field: &str, probe: Option<&Value>) {
        if let Some(p) = probe {
            self.k8s_typed::<Probe>(field, "probe", p);
        }
    }

    pub(super) fn tolerations(&mut self, field: &str, list: Option<&Vec<Value>>) {
        for (f, t) in self.k8s_items::<Toleration>(field, "toleration", list) {
            self.one_of(&format!("{f}.operator"), t.operator.as_ref(), &TOLERATION_OPERATORS);
            self.one_of(&format!("{f}.effect"), t.effect.as_ref(), &TAINT_EFFECTS);
            let exists = t.operator.as_deref() == Some("Exists");
            if exists && t.value.as_deref().is_some_and(|v| !v.is_empty()) {
                self.err(format!("{f}.value"), "must be empty when operator is Exists");
            }
            if t.key.as_deref().unwrap_or("").is_empty() && !exists {
                self.err(format!("{f}.operator"), "must be Exists when key is empty");
            }
            if t.toleration_seconds.is_some() && t.effect.as_deref() != Some("NoExecute") {
                self.err(format!("{f}.tolerationSeconds"), "applies only with effect NoExecute");
            }
        }
    }

    /// `spec.volumes`: valid Kubernetes Volumes with unique DNS-1123 names, none of them
    /// reserved. Their names are kept so `volumeMounts` can be checked against them.
    pub(super) fn volumes(&mut self, volumes: Option<&'a Vec<Value>>, reserved: impl Fn(&str) -> bool) {
        let mut seen = BTreeSet::new();
        for (f, vol) in self.k8s_items::<Volume>("spec.volumes", "volume", volumes) {
            let f = format!("{f}.name");
            if !is_dns1123_label(&vol.name) {
                self.err(f, format!("{:?} is not a valid volume name", vol.name));
            } else if reserved(&vol.name) {
                self.err(f, format!("{:?} is reserved for volumes fluidform adds", vol.name));
            } else if !seen.insert(vol.name.clone()) {
                self.err(f, format!("{:?} is declared more than once", vol.name));
            }
        }
        self.volume_names =
            volumes.into_iter().flatten().filter_map(|v| v.get("name").and_then(Value::as_str)).collect();
    }

    pub(super) fn volume_mounts(&mut self, field: &str, mounts: Option<&Vec<Value>>) {
        for (f, vm) in self.k8s_items::<VolumeMount>(field, "volume mount", mounts) {
            if vm.mount_path.is_empty() {
                self.err(format!("{f}.mountPath"), "is required");
            }
            if !self.volume_names.contains(vm.name.as_str()) {
                self.err(format!("{f}.name"), format!("{:?} does not name a volume in spec.volumes", vm.name));
            }
        }
    }
}

/// Fields of `input` that `known` (the same value after a round trip through its Kubernetes
/// type) lost: `(path, key)` for each. `null`s are skipped: they mean "not set".
fn unknown_fields(input: &Value, known: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match (input, known) {
        (Value::Object(i), Value::Object(k)) => {
            for (key, v) in i.iter().filter(|(_, v)| !v.is_null()) {
                let p = format!("{path}.{key}");
                match k.get(key) {
                    None => out.push((p, key.clone())),
                    Some(kv) => unknown_fields(v, kv, &p, out),
                }
            }
        }
        (Value::Array(i), Value::Array(k)) => {
            for (n, (iv, kv)) in i.iter().zip(k).enumerate() {
                unknown_fields(iv, kv, &format!("{path}[{n}]"), out);
            }
        }
        _ => {}
    }
}

//! Small builders for Kubernetes container and volume parts, and tier quota arithmetic.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, EnvVar, EnvVarSource, HostPathVolumeSource, ObjectFieldSelector, ResourceRequirements,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use serde_json::Value;

use crate::domain::manifest::{AlluxioRuntimeSpec, Level, Resources, StringOrNumber};
use crate::domain::quantity::parse_quantity;

pub(super) fn or<'s>(v: &'s Option<String>, default: &'s str) -> &'s str {
    v.as_deref().filter(|s| !s.is_empty()).unwrap_or(default)
}

pub(super) fn none_if_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

pub(super) fn map_none_if_empty<K, V>(m: BTreeMap<K, V>) -> Option<BTreeMap<K, V>> {
    (!m.is_empty()).then_some(m)
}

pub(super) fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: path.to_string(), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn value_env(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.to_string(), value: Some(value.to_string()), ..Default::default() }
}

/// fluidform's variables first (unless the user sets the same name), then the user's, sorted.
pub(super) fn env(ours: Vec<EnvVar>, user: &[Option<&BTreeMap<String, String>>]) -> Option<Vec<EnvVar>> {
    let mut merged: BTreeMap<&str, &str> = BTreeMap::new();
    for m in user.iter().flatten() {
        for (k, v) in m.iter() {
            merged.insert(k, v);
        }
    }
    let mut out: Vec<EnvVar> = ours.into_iter().filter(|e| !merged.contains_key(e.name.as_str())).collect();
    out.extend(merged.into_iter().map(|(k, v)| value_env(k, v)));
    none_if_empty(out)
}

pub(super) fn quantity_text(q: &StringOrNumber) -> String {
    parse_quantity(q.as_str()).map(|q| q.to_string()).unwrap_or_else(|_| q.as_str().to_string())
}

pub(super) fn resources(r: Option<&Resources>) -> Option<ResourceRequirements> {
    let r = r?;
    let conv = |m: &Option<BTreeMap<String, StringOrNumber>>| {
        m.as_ref()
            .filter(|m| !m.is_empty())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), K8sQuantity(quantity_text(v)))).collect())
    };
    let out = ResourceRequirements { requests: conv(&r.requests), limits: conv(&r.limits), ..Default::default() };
    (out.requests.is_some() || out.limits.is_some()).then_some(out)
}

pub(super) fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount { name: name.to_string(), mount_path: path.to_string(), ..Default::default() }
}

/// Kubernetes objects kept as JSON in a manifest (tolerations, node selectors), parsed;
/// validation has already refused what does not parse.
pub(super) fn parse_all<T: serde::de::DeserializeOwned>(list: Option<&Vec<Value>>) -> Vec<T> {
    list.into_iter().flatten().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect()
}

pub(super) fn user_mounts(lists: &[Option<&Vec<Value>>]) -> Vec<VolumeMount> {
    let mut seen = BTreeSet::new();
    lists
        .iter()
        .flatten()
        .flat_map(|l| l.iter())
        .filter_map(|v| serde_json::from_value::<VolumeMount>(v.clone()).ok())
        .filter(|m| seen.insert(m.mount_path.clone()))
        .collect()
}

pub(super) fn host_path(name: &str, path: &str, type_: &str) -> Volume {
    Volume {
        name: name.to_string(),
        host_path: Some(HostPathVolumeSource { path: path.to_string(), type_: Some(type_.to_string()) }),
        ..Default::default()
    }
}

pub(super) fn empty_dir(name: &str) -> Volume {
    Volume { name: name.to_string(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Default::default() }
}

/// Per-path quotas of a tier in bytes: `quotaList` when set, else `quota` split evenly.
pub(super) fn level_quotas(level: &Level) -> Vec<Option<u128>> {
    let paths = level.paths();
    if let Some(list) = &level.quota_list {
        return list.split(',').map(|q| parse_quantity(q.trim()).ok().and_then(|q| q.to_bytes())).collect();
    }
    let total = level.quota.as_ref().and_then(|q| parse_quantity(q.as_str()).ok()).and_then(|q| q.to_bytes());
    let n = paths.len().max(1) as u128;
    paths.iter().map(|_| total.map(|t| t / n)).collect()
}

pub(super) fn levels(spec: &AlluxioRuntimeSpec) -> &[Level] {
    spec.tieredstore.as_ref().and_then(|t| t.levels.as_deref()).unwrap_or(&[])
}

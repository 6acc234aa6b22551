//! The few fields of StatefulSets, DaemonSets and pods a rollout reads, deserialized
//! straight from LIST responses (everything else in the objects is skipped unparsed).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::kinds::Kind;
use crate::domain::rollout::{Pod, RolloutState, Workload};

#[derive(Debug, Clone, Deserialize)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub metadata: ListMeta,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    #[serde(rename = "continue", default)]
    pub continue_: Option<String>,
    #[serde(default)]
    pub resource_version: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub resource_version: String,
    #[serde(default)]
    pub generation: i64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub deletion_timestamp: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub owner_references: Vec<OwnerRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

/// What a write's answer (the whole object) is read for: its new resourceVersion and
/// whether it carries the `release` label the rollout watch selects.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Written {
    #[serde(default)]
    pub metadata: WrittenMeta,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrittenMeta {
    #[serde(default)]
    pub resource_version: String,
    #[serde(default)]
    pub labels: ReleaseLabel,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReleaseLabel {
    #[serde(default)]
    pub release: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NameRef {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpecPart {
    #[serde(default)]
    pub image_pull_secrets: Vec<NameRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TemplatePart {
    #[serde(default)]
    pub spec: PodSpecPart,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct WorkloadSpec {
    #[serde(default)]
    pub replicas: Option<i64>,
    #[serde(default)]
    pub template: TemplatePart,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    #[serde(default)]
    pub observed_generation: i64,
    #[serde(default)]
    pub updated_replicas: i64,
    #[serde(default)]
    pub ready_replicas: i64,
    #[serde(default)]
    pub available_replicas: i64,
    #[serde(default)]
    pub update_revision: Option<String>,
    #[serde(default)]
    pub desired_number_scheduled: i64,
    #[serde(default)]
    pub updated_number_scheduled: i64,
    #[serde(default)]
    pub number_ready: i64,
    #[serde(default)]
    pub number_available: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkloadItem {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub spec: WorkloadSpec,
    #[serde(default)]
    pub status: WorkloadStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Condition {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodStatus {
    #[serde(default)]
    pub phase: String,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PodItem {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default)]
    pub spec: PodSpecPart,
    #[serde(default)]
    pub status: PodStatus,
}

fn names(refs: Vec<NameRef>) -> Vec<String> {
    refs.into_iter().map(|r| r.name).collect()
}

pub fn workload(kind: Kind, namespace: &str, w: WorkloadItem) -> Workload {
    let (desired, updated, ready, available) = match kind {
        Kind::DaemonSet => (
            w.status.desired_number_scheduled,
            w.status.updated_number_scheduled,
            w.status.number_ready,
            w.status.number_available,
        ),
        _ => (
            w.spec.replicas.unwrap_or(1),
            w.status.updated_replicas,
            w.status.ready_replicas,
            w.status.available_replicas,
        ),
    };
    Workload {
        kind: Some(kind),
        namespace: namespace.to_string(),
        name: w.metadata.name,
        labels: w.metadata.labels,
        generation: w.metadata.generation,
        observed_generation: w.status.observed_generation,
        desired,
        updated,
        ready,
        available,
        update_revision: w.status.update_revision,
        pull_secrets: names(w.spec.template.spec.image_pull_secrets),
    }
}

pub fn pod(p: PodItem) -> Pod {
    let owner = p
        .metadata
        .owner_references
        .iter()
        .find(|o| o.controller == Some(true))
        .and_then(|o| Kind::parse(&o.kind).map(|k| (k, o.name.clone())));
    let ready = p.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
    let unschedulable =
        p.status.conditions.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False").map(|c| {
            let reason = c.reason.clone().unwrap_or_else(|| "Unschedulable".into());
            match &c.message {
                Some(m) => format!("{reason}: {m}"),
                None => reason,
            }
        });
    Pod {
        name: p.metadata.name,
        uid: p.metadata.uid,
        labels: p.metadata.labels,
        owner,
        deleting: p.metadata.deletion_timestamp.is_some(),
        ready: ready && p.metadata.deletion_timestamp.is_none(),
        phase: p.status.phase,
        pull_secrets: names(p.spec.image_pull_secrets),
        unschedulable,
    }
}

pub fn state(namespace: &str, sts: Vec<WorkloadItem>, ds: Vec<WorkloadItem>, pods: Vec<PodItem>) -> RolloutState {
    let mut workloads: Vec<Workload> = sts.into_iter().map(|w| workload(Kind::StatefulSet, namespace, w)).collect();
    workloads.extend(ds.into_iter().map(|w| workload(Kind::DaemonSet, namespace, w)));
    RolloutState { workloads, pods: pods.into_iter().map(pod).collect() }
}

/// `state` of a LIST across namespaces: one state per namespace the items live in.
pub fn states_by_namespace(
    sts: Vec<WorkloadItem>,
    ds: Vec<WorkloadItem>,
    pods: Vec<PodItem>,
) -> BTreeMap<String, RolloutState> {
    let mut out: BTreeMap<String, RolloutState> = BTreeMap::new();
    for (kind, items) in [(Kind::StatefulSet, sts), (Kind::DaemonSet, ds)] {
        for w in items {
            let ns = w.metadata.namespace.clone();
            let workload = workload(kind, &ns, w);
            out.entry(ns).or_default().workloads.push(workload);
        }
    }
    for p in pods {
        out.entry(p.metadata.namespace.clone()).or_default().pods.push(pod(p));
    }
    out
}

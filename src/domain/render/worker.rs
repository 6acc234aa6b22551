//! The worker StatefulSet (worker and job worker), with the affinity Fluid's controller
//! gives it once the chart is installed (`pkg/ctrl/affinity.go`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodAffinityTerm, PodAntiAffinity,
    PreferredSchedulingTerm, ResourceRequirements, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::context::{Ctx, DATASET_LABEL, PLACEMENT_LABEL};
use super::parts::*;
use super::pod::{AlluxioContainer, PodParts};
use crate::domain::layers::Component;
use crate::domain::ports::PortName;

const HOSTNAME_TOPOLOGY: &str = "kubernetes.io/hostname";

fn term(key: &str, operator: &str, values: Option<Vec<String>>) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.to_string(),
                operator: operator.to_string(),
                values,
            }]),
            ..Default::default()
        }),
        topology_key: HOSTNAME_TOPOLOGY.to_string(),
        ..Default::default()
    }
}

impl Ctx<'_> {
    /// The worker's labels Fluid adds: the dataset it caches and its placement.
    fn worker_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (DATASET_LABEL.to_string(), self.dataset_id()),
            (PLACEMENT_LABEL.to_string(), self.placement().to_string()),
        ])
    }

    /// Exclusive: no two cache workers of any dataset on one node. Shared: spread, and
    /// never beside an exclusive one. Prefer nodes running this runtime's fuse; require
    /// the Dataset's node affinity.
    fn worker_affinity(&self) -> Affinity {
        let pod_anti_affinity = if self.placement() == "Exclusive" {
            PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![term(DATASET_LABEL, "Exists", None)]),
                ..Default::default()
            }
        } else {
            PodAntiAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                    weight: 50,
                    pod_affinity_term: term(DATASET_LABEL, "Exists", None),
                }]),
                required_during_scheduling_ignored_during_execution: Some(vec![term(
                    PLACEMENT_LABEL,
                    "In",
                    Some(vec!["Exclusive".to_string()]),
                )]),
            }
        };
        let required: Option<NodeSelector> = self
            .dataset
            .spec
            .node_affinity
            .as_ref()
            .and_then(|a| a.required.as_ref())
            .and_then(|r| serde_json::from_value(r.clone()).ok());
        Affinity {
            pod_anti_affinity: Some(pod_anti_affinity),
            node_affinity: Some(NodeAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![PreferredSchedulingTerm {
                    weight: 100,
                    preference: NodeSelectorTerm {
                        match_expressions: Some(vec![NodeSelectorRequirement {
                            key: self.fuse_node_label(),
                            operator: "In".to_string(),
                            values: Some(vec!["true".to_string()]),
                        }]),
                        ..Default::default()
                    },
                }]),
                required_during_scheduling_ignored_during_execution: required,
            }),
            ..Default::default()
        }
    }

    /// The worker's resources with the memory request raised to the MEM tiers' quota.
    fn worker_resources(&self) -> Option<ResourceRequirements> {
        let mut r = resources(self.spec.worker.as_ref().and_then(|w| w.resources.as_ref())).unwrap_or_default();
        if let Some(mem) = self.worker_memory_request() {
            r.requests.get_or_insert_default().insert("memory".to_string(), K8sQuantity(mem));
        }
        (r.requests.is_some() || r.limits.is_some()).then_some(r)
    }

    pub fn worker_statefulset(&self) -> StatefulSet {
        let s = self.spec;
        let worker = s.worker.as_ref();
        let host = self.worker_host_network;
        let hostnames = || {
            let mut e = vec![field_env("ALLUXIO_WORKER_HOSTNAME", "status.hostIP")];
            if !host {
                e.push(field_env("ALLUXIO_WORKER_CONTAINER_HOSTNAME", "status.podIP"));
            }
            e
        };
        let (tier_volumes, tier_mounts) = self.worker_tier_volumes();
        let (native_volumes, native_mounts) = self.native_mount_volumes();
        let shared = || {
            let mut m = self.hadoop_mounts();
            m.extend(self.users_mounts());
            m.extend(native_mounts.clone());
            m.extend(tier_mounts.clone());
            m.extend(user_mounts(&[worker.and_then(|w| w.volume_mounts.as_ref())]));
            m
        };
        let mut worker_env = worker.and_then(|w| w.env.clone()).unwrap_or_default();
        worker_env.insert("ALLUXIO_WORKER_TIEREDSTORE_LEVEL0_DIRS_PATH".into(), self.level0_path());
        let containers = vec![
            self.alluxio_container(
                host,
                AlluxioContainer {
                    name: "alluxio-worker",
                    command: "/entrypoint.sh",
                    args: &["worker-only", "--no-format"],
                    env: env(hostnames(), &[Some(&worker_env)]),
                    resources: self.worker_resources(),
                    ports: &[("rpc", PortName::WorkerRpc), ("web", PortName::WorkerWeb)],
                    mounts: shared(),
                    run_as: true,
                },
            ),
            self.alluxio_container(
                host,
                AlluxioContainer {
                    name: "alluxio-job-worker",
                    command: "/entrypoint.sh",
                    args: &["job-worker"],
                    env: Some(hostnames()),
                    resources: resources(s.job_worker.as_ref().and_then(|j| j.resources.as_ref())),
                    ports: &[
                        ("job-rpc", PortName::JobWorkerRpc),
                        ("job-data", PortName::JobWorkerData),
                        ("job-web", PortName::JobWorkerWeb),
                    ],
                    mounts: shared(),
                    run_as: true,
                },
            ),
        ];
        let mut init_containers = Vec::new();
        if self.run_as() {
            // `chmod_tierpath` fails without paths: a runtime without tiers skips it.
            let steps: &[&str] = if self.raw_tier_paths().is_empty() { &[] } else { &["chmod_tierpath"] };
            init_containers.push(self.init_users("init-users", steps, self.tier_paths_env(), tier_mounts.clone()));
        }
        let mut volumes = self.hadoop_volumes();
        volumes.extend(self.users_volumes());
        volumes.extend(tier_volumes);
        volumes.extend(native_volumes);
        let template = self.pod_template(PodParts {
            component: Component::Worker,
            host_network: host,
            node_selector: worker.and_then(|w| w.node_selector.clone()).unwrap_or_default(),
            pod_metadata: worker.and_then(|w| w.pod_metadata.clone()),
            extra_labels: self.worker_labels(),
            init_containers,
            containers,
            volumes,
            affinity: Some(self.worker_affinity()),
            tolerations: self.dataset_tolerations(),
            priority_class: None,
            host_pid: false,
        });
        self.on_delete_statefulset(Component::Worker, self.worker_replicas, template, self.worker_labels())
    }
}

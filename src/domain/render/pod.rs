//! What every pod shares: the pod template (labels, pull secrets, network, scheduling,
//! volumes), Alluxio's containers, the user set-up init containers, and the OnDelete
//! StatefulSet around a template.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, ConfigMapEnvSource, ConfigMapVolumeSource, Container, ContainerPort, EnvFromSource, EnvVar,
    LocalObjectReference, PodSpec, PodTemplateSpec, ResourceRequirements, SecurityContext, Toleration, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::context::{Ctx, ISTIO_INJECT};
use super::mounts::MOUNT_CONF_VOLUME;
use super::parts::*;
use super::properties::config_map_name;
use super::*;
use crate::domain::layers::{Component, ComponentResolution};
use crate::domain::manifest::PodMetadata;
use crate::domain::ports::PortName;

/// No longer rendered (properties moved into `ALLUXIO_JAVA_OPTS`), still reserved so a
/// user volume of that name cannot meet an object an older renderer applied.
pub(super) const LEGACY_CONFIG_VOLUME: &str = "alluxio-config";
pub(super) const JOURNAL_VOLUME: &str = "alluxio-journal";
pub(super) const USERS_VOLUME: &str = "alluxio-users";
pub(super) const HDFS_VOLUME: &str = "hdfs-confs";
pub(super) const FUSE_DEVICE_VOLUME: &str = "alluxio-fuse-device";
pub(super) const FUSE_MOUNT_VOLUME: &str = "alluxio-fuse-mount";
pub(super) const RESERVED_VOLUMES: [&str; 7] = [
    LEGACY_CONFIG_VOLUME,
    JOURNAL_VOLUME,
    USERS_VOLUME,
    HDFS_VOLUME,
    FUSE_DEVICE_VOLUME,
    FUSE_MOUNT_VOLUME,
    MOUNT_CONF_VOLUME,
];

pub(super) struct PodParts {
    pub component: Component,
    pub host_network: bool,
    pub node_selector: BTreeMap<String, String>,
    pub pod_metadata: Option<PodMetadata>,
    /// Labels beyond the common ones (the worker's dataset labels).
    pub extra_labels: BTreeMap<String, String>,
    pub init_containers: Vec<Container>,
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
    pub affinity: Option<Affinity>,
    pub tolerations: Vec<Toleration>,
    pub priority_class: Option<String>,
    pub host_pid: bool,
}

/// The pieces of one Alluxio container that differ between components.
pub(super) struct AlluxioContainer<'c> {
    pub name: &'c str,
    pub command: &'c str,
    pub args: &'c [&'c str],
    pub env: Option<Vec<EnvVar>>,
    pub resources: Option<ResourceRequirements>,
    pub ports: &'c [(&'c str, PortName)],
    pub mounts: Vec<VolumeMount>,
    /// Whether it runs as the runtime's user (the API gateway keeps the image's).
    pub run_as: bool,
}

pub(super) fn role(component: Component) -> &'static str {
    match component {
        Component::Master => "alluxio-master",
        Component::Worker => "alluxio-worker",
        Component::Fuse => "alluxio-fuse",
    }
}

impl Ctx<'_> {
    /// The runtime's user (`runAs`, else root): Fluid sets it on every Alluxio container.
    pub(super) fn container_security(&self) -> SecurityContext {
        SecurityContext { run_as_user: Some(self.uid), run_as_group: Some(self.gid), ..Default::default() }
    }

    /// `/etc/passwd` and `/etc/group` from the pod's `init-users` container, with `runAs`.
    pub(super) fn users_mounts(&self) -> Vec<VolumeMount> {
        if !self.run_as() {
            return Vec::new();
        }
        ["passwd", "group"]
            .into_iter()
            .map(|file| VolumeMount {
                name: USERS_VOLUME.to_string(),
                mount_path: format!("/etc/{file}"),
                sub_path: Some(file.to_string()),
                read_only: Some(true),
                ..Default::default()
            })
            .collect()
    }

    pub(super) fn users_volumes(&self) -> Vec<Volume> {
        if self.run_as() { vec![empty_dir(USERS_VOLUME)] } else { Vec::new() }
    }

    pub(super) fn hadoop_mounts(&self) -> Vec<VolumeMount> {
        match self.spec.hadoop_config {
            Some(_) => vec![VolumeMount { read_only: Some(true), ..mount(HDFS_VOLUME, "/hdfs-config") }],
            None => Vec::new(),
        }
    }

    pub(super) fn hadoop_volumes(&self) -> Vec<Volume> {
        self.spec
            .hadoop_config
            .iter()
            .map(|h| Volume {
                name: HDFS_VOLUME.to_string(),
                config_map: Some(ConfigMapVolumeSource { name: h.clone(), ..Default::default() }),
                ..Default::default()
            })
            .collect()
    }

    /// The Dataset's tolerations: Fluid gives them to the master and worker pods.
    pub(super) fn dataset_tolerations(&self) -> Vec<Toleration> {
        parse_all(self.dataset.spec.tolerations.as_ref())
    }

    fn container_ports(&self, host_network: bool, ports: &[(&str, PortName)]) -> Option<Vec<ContainerPort>> {
        none_if_empty(
            ports
                .iter()
                .map(|&(name, p)| ContainerPort {
                    name: Some(name.to_string()),
                    container_port: self.port(p),
                    host_port: host_network.then(|| self.port(p)),
                    ..Default::default()
                })
                .collect(),
        )
    }

    /// An Alluxio container: the runtime's image, the config ConfigMap, its user.
    pub(super) fn alluxio_container(&self, host_network: bool, c: AlluxioContainer) -> Container {
        Container {
            name: c.name.to_string(),
            image: Some(self.image.clone()),
            image_pull_policy: Some(self.pull_policy.clone()),
            command: Some(vec![c.command.to_string()]),
            args: none_if_empty(c.args.iter().map(|a| a.to_string()).collect()),
            env: c.env,
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource { name: config_map_name(self.name), ..Default::default() }),
                ..Default::default()
            }]),
            ports: self.container_ports(host_network, c.ports),
            resources: c.resources,
            security_context: c.run_as.then(|| self.container_security()),
            volume_mounts: none_if_empty(c.mounts),
            ..Default::default()
        }
    }

    /// An `init-users` style container: writes the runtime's user into the pod's
    /// `alluxio-users` volume, then runs `steps` (e.g. `chmod_tierpath`).
    pub(super) fn init_users(
        &self,
        name: &str,
        steps: &[&str],
        mut ours: Vec<EnvVar>,
        extra_mounts: Vec<VolumeMount>,
    ) -> Container {
        let iu = self.spec.init_users.clone().unwrap_or_default();
        let r = self.spec.run_as.clone().unwrap_or_default();
        let users = format!(
            "{}:{}:{},{}:{}",
            r.uid.unwrap_or_default(),
            r.user.unwrap_or_default(),
            r.gid.unwrap_or_default(),
            r.gid.unwrap_or_default(),
            r.group.unwrap_or_default()
        );
        ours.insert(0, value_env("FLUID_INIT_USERS", &users));
        let mut mounts = vec![mount(USERS_VOLUME, "/tmp")];
        mounts.extend(extra_mounts);
        let mut args = vec!["init_users".to_string()];
        args.extend(steps.iter().map(|s| s.to_string()));
        Container {
            name: name.to_string(),
            image: Some(format!(
                "{}:{}",
                or(&iu.image, DEFAULT_INIT_USERS_IMAGE),
                or(&iu.image_tag, DEFAULT_INIT_USERS_TAG)
            )),
            image_pull_policy: Some(or(&iu.image_pull_policy, DEFAULT_PULL_POLICY).to_string()),
            command: Some(vec!["/entrypoint.sh".to_string()]),
            args: Some(args),
            env: env(ours, &[iu.env.as_ref()]),
            resources: resources(iu.resources.as_ref()),
            volume_mounts: Some(mounts),
            ..Default::default()
        }
    }

    /// `FLUID_TIERSTORE_PATHS`, when the runtime has tiers.
    pub(super) fn tier_paths_env(&self) -> Vec<EnvVar> {
        let paths = self.raw_tier_paths();
        if paths.is_empty() { Vec::new() } else { vec![value_env("FLUID_TIERSTORE_PATHS", &paths)] }
    }

    /// Assemble a pod template from its parts and the component's resolved pull secrets.
    pub(super) fn pod_template(&self, p: PodParts) -> PodTemplateSpec {
        let mut labels = BTreeMap::new();
        let mut annotations = BTreeMap::from([(ISTIO_INJECT.to_string(), "false".to_string())]);
        for pm in [self.spec.pod_metadata.as_ref(), p.pod_metadata.as_ref()].into_iter().flatten() {
            labels.extend(pm.labels.clone().unwrap_or_default());
            annotations.extend(pm.annotations.clone().unwrap_or_default());
        }
        labels.extend(self.labels(p.component.as_str(), Some(role(p.component))));
        labels.insert(ISTIO_INJECT.to_string(), "false".to_string());
        labels.extend(p.extra_labels);

        // Only the user volumes some container mounts.
        let mounted: BTreeSet<&str> = p
            .init_containers
            .iter()
            .chain(&p.containers)
            .flat_map(|c| c.volume_mounts.iter().flatten())
            .map(|m| m.name.as_str())
            .collect();
        let mut volumes = p.volumes.clone();
        volumes.extend(
            parse_all::<Volume>(self.spec.volumes.as_ref()).into_iter().filter(|v| mounted.contains(v.name.as_str())),
        );

        // An AlluxioRuntime's resolution has every component; a missing one pulls with nothing.
        let secret_names = self.resolution.component(p.component).map(ComponentResolution::secret_names);
        let host_network = p.host_network;
        PodTemplateSpec {
            metadata: Some(ObjectMeta { labels: Some(labels), annotations: Some(annotations), ..Default::default() }),
            spec: Some(PodSpec {
                host_network: host_network.then_some(true),
                dns_policy: Some(if host_network { "ClusterFirstWithHostNet" } else { "ClusterFirst" }.to_string()),
                host_pid: p.host_pid.then_some(true),
                enable_service_links: Some(false),
                image_pull_secrets: none_if_empty(
                    secret_names.into_iter().flatten().map(|name| LocalObjectReference { name }).collect(),
                ),
                priority_class_name: p.priority_class,
                node_selector: map_none_if_empty(p.node_selector),
                tolerations: none_if_empty(p.tolerations),
                affinity: p.affinity,
                init_containers: none_if_empty(p.init_containers),
                containers: p.containers,
                restart_policy: Some("Always".to_string()),
                volumes: none_if_empty(volumes),
                ..Default::default()
            }),
        }
    }

    pub(super) fn on_delete_statefulset(
        &self,
        component: Component,
        replicas: i32,
        template: PodTemplateSpec,
        extra_labels: BTreeMap<String, String>,
    ) -> StatefulSet {
        let role = role(component);
        let name = format!("{}-{}", self.name, component.as_str());
        let mut metadata = self.meta(name.clone(), component.as_str(), Some(role));
        metadata.labels.get_or_insert_default().extend(extra_labels);
        StatefulSet {
            metadata,
            spec: Some(StatefulSetSpec {
                replicas: Some(replicas),
                selector: LabelSelector { match_labels: Some(self.selector_labels(role)), ..Default::default() },
                service_name: Some(name),
                pod_management_policy: Some("Parallel".to_string()),
                update_strategy: Some(StatefulSetUpdateStrategy {
                    type_: Some("OnDelete".to_string()),
                    ..Default::default()
                }),
                template,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

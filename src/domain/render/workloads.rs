//! The render context (`Ctx`: defaults applied once, labels), the pod-template assembly
//! every workload shares, and the master and worker StatefulSets.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar,
    LocalObjectReference, PodSecurityContext, PodSpec, PodTemplateSpec, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::Value;

use super::config::{CONFIG_VOLUME, Ports, config_map_name, site_properties_mount};
use super::parts::*;
use super::*;
use crate::domain::layers::{Component, ComponentResolution};
use crate::domain::manifest::{AlluxioRuntimeSpec, ComponentSpec, PodMetadata};
use crate::domain::quantity::Quantity;

pub(super) const JOURNAL_VOLUME: &str = "alluxio-journal";
pub(super) const USERS_VOLUME: &str = "alluxio-users";
pub(super) const HDFS_VOLUME: &str = "hdfs-confs";
pub(super) const FUSE_DEVICE_VOLUME: &str = "alluxio-fuse-device";
pub(super) const FUSE_MOUNT_VOLUME: &str = "alluxio-fuse-mount";
pub(super) const RESERVED_VOLUMES: [&str; 6] =
    [CONFIG_VOLUME, JOURNAL_VOLUME, USERS_VOLUME, HDFS_VOLUME, FUSE_DEVICE_VOLUME, FUSE_MOUNT_VOLUME];
pub(super) const FLUID_FUSE_NODE_LABEL_PREFIX: &str = "fluid.io/f-";

/// Everything the workloads are computed from, with defaults applied once.
pub(super) struct Ctx<'a> {
    pub ns: &'a str,
    pub name: &'a str,
    pub spec: &'a AlluxioRuntimeSpec,
    pub resolution: &'a Resolution,
    pub ports: Ports,
    pub master_replicas: i32,
    pub worker_replicas: i32,
    image: String,
    pull_policy: String,
}

pub(super) struct PodParts {
    pub component: Component,
    pub role: &'static str,
    pub network_mode: Option<String>,
    pub node_selector: BTreeMap<String, String>,
    pub pod_metadata: Option<PodMetadata>,
    pub init_containers: Vec<Container>,
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
    pub security_context: Option<PodSecurityContext>,
}

impl<'a> Ctx<'a> {
    pub fn new(input: &RenderInput<'a>) -> Self {
        let spec = &input.runtime.spec;
        let version = spec.alluxio_version.clone().unwrap_or_default();
        Ctx {
            ns: input.namespace,
            name: input.name,
            spec,
            resolution: input.resolution,
            ports: Ports::new(spec),
            master_replicas: spec.master.as_ref().and_then(|m| m.replicas).filter(|&r| r > 0).unwrap_or(1),
            worker_replicas: spec.replicas.unwrap_or(1).max(0),
            image: format!("{}:{}", or(&version.image, DEFAULT_IMAGE), or(&version.image_tag, DEFAULT_IMAGE_TAG)),
            pull_policy: or(&version.image_pull_policy, DEFAULT_PULL_POLICY).to_string(),
        }
    }

    pub(super) fn role(component: Component) -> &'static str {
        match component {
            Component::Master => "alluxio-master",
            Component::Worker => "alluxio-worker",
            Component::Fuse => "alluxio-fuse",
        }
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

    pub(super) fn run_as(&self) -> Option<(i64, i64)> {
        let r = self.spec.run_as.as_ref()?;
        Some((r.uid?, r.gid?))
    }

    pub(super) fn container_security(&self) -> Option<SecurityContext> {
        self.run_as().map(|(uid, gid)| SecurityContext {
            run_as_user: Some(uid),
            run_as_group: Some(gid),
            ..Default::default()
        })
    }

    pub(super) fn pod_security(&self) -> Option<PodSecurityContext> {
        self.run_as().map(|(_, gid)| PodSecurityContext { fs_group: Some(gid), ..Default::default() })
    }

    /// Mounts every Alluxio container shares: site properties, users, Hadoop config.
    pub(super) fn common_mounts(&self) -> Vec<VolumeMount> {
        let mut m = vec![site_properties_mount()];
        if self.run_as().is_some() {
            for file in ["passwd", "group"] {
                m.push(VolumeMount {
                    name: USERS_VOLUME.to_string(),
                    mount_path: format!("/etc/{file}"),
                    sub_path: Some(file.to_string()),
                    read_only: Some(true),
                    ..Default::default()
                });
            }
        }
        if self.spec.hadoop_config.is_some() {
            m.push(VolumeMount { read_only: Some(true), ..mount(HDFS_VOLUME, "/hdfs-config") });
        }
        m
    }

    pub(super) fn common_volumes(&self) -> Vec<Volume> {
        let mut v = vec![Volume {
            name: CONFIG_VOLUME.to_string(),
            config_map: Some(ConfigMapVolumeSource { name: config_map_name(self.name), ..Default::default() }),
            ..Default::default()
        }];
        if self.run_as().is_some() {
            v.push(empty_dir(USERS_VOLUME));
        }
        if let Some(h) = &self.spec.hadoop_config {
            v.push(Volume {
                name: HDFS_VOLUME.to_string(),
                config_map: Some(ConfigMapVolumeSource { name: h.clone(), ..Default::default() }),
                ..Default::default()
            });
        }
        v
    }

    pub(super) fn ports(&self, host_network: bool, ports: &[(&str, i32)]) -> Option<Vec<ContainerPort>> {
        none_if_empty(
            ports
                .iter()
                .map(|&(name, port)| ContainerPort {
                    name: Some(name.to_string()),
                    container_port: port,
                    host_port: host_network.then_some(port),
                    ..Default::default()
                })
                .collect(),
        )
    }

    /// An Alluxio container: image, config, security context, shared mounts.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn alluxio_container(
        &self,
        name: &str,
        args: &[&str],
        ours: Vec<EnvVar>,
        comp: Option<&ComponentSpec>,
        host_network: bool,
        ports: &[(&str, i32)],
        mut mounts: Vec<VolumeMount>,
    ) -> Container {
        mounts.extend(self.common_mounts());
        Container {
            name: name.to_string(),
            image: Some(self.image.clone()),
            image_pull_policy: Some(self.pull_policy.clone()),
            command: Some(vec!["/entrypoint.sh".to_string()]),
            args: none_if_empty(args.iter().map(|a| a.to_string()).collect()),
            env: env(ours, &[comp.and_then(|c| c.env.as_ref())]),
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource { name: config_map_name(self.name), ..Default::default() }),
                ..Default::default()
            }]),
            ports: self.ports(host_network, ports),
            resources: resources(comp.and_then(|c| c.resources.as_ref())),
            security_context: self.container_security(),
            volume_mounts: none_if_empty(mounts),
            ..Default::default()
        }
    }

    pub(super) fn init_users(&self, extra_mounts: Vec<VolumeMount>, tier_paths: &[&str]) -> Container {
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
        let mut ours = vec![value_env("FLUID_INIT_USERS", &users)];
        if !tier_paths.is_empty() {
            ours.push(value_env("FLUID_TIERSTORE_PATHS", &tier_paths.join(":")));
        }
        let mut mounts = vec![mount(USERS_VOLUME, "/tmp")];
        mounts.extend(extra_mounts);
        Container {
            name: "init-users".to_string(),
            image: Some(format!(
                "{}:{}",
                or(&iu.image, DEFAULT_INIT_USERS_IMAGE),
                or(&iu.image_tag, DEFAULT_INIT_USERS_TAG)
            )),
            image_pull_policy: Some(or(&iu.image_pull_policy, DEFAULT_PULL_POLICY).to_string()),
            command: Some(vec!["/entrypoint.sh".to_string()]),
            args: Some(vec!["init_users".to_string()]),
            env: env(ours, &[iu.env.as_ref()]),
            resources: resources(iu.resources.as_ref()),
            volume_mounts: Some(mounts),
            ..Default::default()
        }
    }

    /// Assemble a pod template from its parts and the component's resolved pull secrets.
    pub(super) fn pod_template(&self, p: PodParts) -> PodTemplateSpec {
        let host_network = p.network_mode.as_deref() != Some("ContainerNetwork");
        let mut labels = BTreeMap::new();
        let mut annotations = BTreeMap::from([("sidecar.istio.io/inject".to_string(), "false".to_string())]);
        for pm in [self.spec.pod_metadata.as_ref(), p.pod_metadata.as_ref()].into_iter().flatten() {
            labels.extend(pm.labels.clone().unwrap_or_default());
            annotations.extend(pm.annotations.clone().unwrap_or_default());
        }
        labels.extend(self.labels(p.component.as_str(), Some(p.role)));

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
            self.spec
                .volumes
                .iter()
                .flatten()
                .filter_map(|v| serde_json::from_value::<Volume>(v.clone()).ok())
                .filter(|v| mounted.contains(v.name.as_str())),
        );

        // An AlluxioRuntime's resolution has every component; a missing one pulls with nothing.
        let secret_names = self.resolution.component(p.component).map(ComponentResolution::secret_names);
        PodTemplateSpec {
            metadata: Some(ObjectMeta { labels: Some(labels), annotations: Some(annotations), ..Default::default() }),
            spec: Some(PodSpec {
                host_network: host_network.then_some(true),
                dns_policy: Some(if host_network { "ClusterFirstWithHostNet" } else { "ClusterFirst" }.to_string()),
                enable_service_links: Some(false),
                image_pull_secrets: none_if_empty(
                    secret_names.into_iter().flatten().map(|name| LocalObjectReference { name }).collect(),
                ),
                node_selector: map_none_if_empty(p.node_selector),
                security_context: p.security_context,
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
        parallel: bool,
    ) -> StatefulSet {
        let role = Self::role(component);
        let name = format!("{}-{}", self.name, component.as_str());
        StatefulSet {
            metadata: self.meta(name.clone(), component.as_str(), Some(role)),
            spec: Some(StatefulSetSpec {
                replicas: Some(replicas),
                selector: LabelSelector { match_labels: Some(self.selector_labels(role)), ..Default::default() },
                service_name: Some(name),
                pod_management_policy: parallel.then(|| "Parallel".to_string()),
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

    pub fn master_statefulset(&self) -> StatefulSet {
        let s = self.spec;
        let master = s.master.as_ref();
        let job_master = s.job_master.as_ref();
        let gateway = s.api_gateway.as_ref().filter(|g| g.enabled == Some(true));
        let host_network = master.and_then(|m| m.network_mode.as_deref()) != Some("ContainerNetwork");
        let ha = self.master_replicas > 1;
        let hostname = if ha {
            field_env("ALLUXIO_MASTER_HOSTNAME", "metadata.name")
        } else {
            field_env("ALLUXIO_MASTER_HOSTNAME", "status.podIP")
        };
        let p = &self.ports;
        let mut master_ports = vec![("rpc", p.master_rpc), ("web", p.master_web)];
        let mut job_ports = vec![("job-rpc", p.job_master_rpc), ("job-web", p.job_master_web)];
        if ha {
            master_ports.push(("embedded", p.master_embedded));
            job_ports.push(("job-embedded", p.job_master_embedded));
        }
        let master_user_mounts = || user_mounts(&[master.and_then(|m| m.volume_mounts.as_ref())]);

        let mut containers = Vec::new();
        if let Some(g) = gateway {
            containers.push(self.alluxio_container(
                "api-gateway",
                &["proxy"],
                vec![field_env("ALLUXIO_MASTER_HOSTNAME", "status.podIP")],
                Some(g),
                host_network,
                &[("rest", p.gateway_rest)],
                user_mounts(&[g.volume_mounts.as_ref()]),
            ));
        }
        let mut mounts = vec![mount(JOURNAL_VOLUME, "/journal")];
        mounts.extend(master_user_mounts());
        containers.push(self.alluxio_container(
            "alluxio-master",
            &["master-only", "--no-format"],
            vec![hostname.clone()],
            master,
            host_network,
            &master_ports,
            mounts,
        ));
        containers.push(self.alluxio_container(
            "alluxio-job-master",
            &["job-master"],
            vec![hostname],
            job_master,
            host_network,
            &job_ports,
            user_mounts(&[
                job_master.and_then(|j| j.volume_mounts.as_ref()),
                master.and_then(|m| m.volume_mounts.as_ref()),
            ]),
        ));

        let mut init_containers = Vec::new();
        if self.run_as().is_some() {
            init_containers.push(self.init_users(Vec::new(), &[]));
        }
        let mut format_mounts = vec![mount(JOURNAL_VOLUME, "/journal")];
        format_mounts.extend(self.common_mounts());
        init_containers.push(Container {
            name: "journal-format".to_string(),
            image: Some(self.image.clone()),
            image_pull_policy: Some(self.pull_policy.clone()),
            command: Some(vec!["alluxio".to_string(), "formatJournal".to_string()]),
            security_context: self.container_security(),
            volume_mounts: Some(format_mounts),
            ..Default::default()
        });

        let mut volumes = vec![empty_dir(JOURNAL_VOLUME)];
        volumes.extend(self.common_volumes());
        let template = self.pod_template(PodParts {
            component: Component::Master,
            role: Self::role(Component::Master),
            network_mode: master.and_then(|m| m.network_mode.clone()),
            node_selector: master.and_then(|m| m.node_selector.clone()).unwrap_or_default(),
            pod_metadata: master.and_then(|m| m.pod_metadata.clone()),
            init_containers,
            containers,
            volumes,
            security_context: self.pod_security(),
        });
        self.on_delete_statefulset(Component::Master, self.master_replicas, template, false)
    }

    /// Tiered-store volumes and their mounts, one per path.
    pub(super) fn tier_volumes(&self) -> (Vec<Volume>, Vec<VolumeMount>) {
        let mut volumes = Vec::new();
        let mut mounts = Vec::new();
        for (i, level) in levels(self.spec).iter().enumerate() {
            let quotas = level_quotas(level);
            for (j, path) in level.paths().into_iter().enumerate() {
                let name = format!("tieredstore-{i}-{j}");
                let emptydir = level.volume_type.as_deref() == Some("emptyDir");
                let volume = if !emptydir {
                    host_path(&name, path, "DirectoryOrCreate")
                } else if let Some(src) = &level.volume_source {
                    let mut v = src.clone();
                    if let Some(obj) = v.as_object_mut() {
                        obj.insert("name".into(), Value::String(name.clone()));
                    }
                    serde_json::from_value(v).unwrap_or_else(|_| empty_dir(&name))
                } else {
                    Volume {
                        name: name.clone(),
                        empty_dir: Some(EmptyDirVolumeSource {
                            medium: (level.mediumtype == "MEM").then(|| "Memory".to_string()),
                            size_limit: quotas
                                .get(j)
                                .copied()
                                .flatten()
                                .map(|b| K8sQuantity(Quantity::from_bytes(b).to_string())),
                        }),
                        ..Default::default()
                    }
                };
                volumes.push(volume);
                mounts.push(mount(&name, path));
            }
        }
        (volumes, mounts)
    }

    pub fn worker_statefulset(&self) -> StatefulSet {
        let s = self.spec;
        let worker = s.worker.as_ref();
        let job_worker = s.job_worker.as_ref();
        let host_network = worker.and_then(|w| w.network_mode.as_deref()) != Some("ContainerNetwork");
        let hostnames = || {
            vec![
                field_env("ALLUXIO_WORKER_HOSTNAME", "status.hostIP"),
                field_env("ALLUXIO_WORKER_CONTAINER_HOSTNAME", "status.podIP"),
            ]
        };
        let p = &self.ports;
        let (tier_volumes, tier_mounts) = self.tier_volumes();
        let mut worker_mounts = tier_mounts.clone();
        worker_mounts.extend(user_mounts(&[worker.and_then(|w| w.volume_mounts.as_ref())]));
        let containers = vec![
            self.alluxio_container(
                "alluxio-worker",
                &["worker-only", "--no-format"],
                hostnames(),
                worker,
                host_network,
                &[("rpc", p.worker_rpc), ("web", p.worker_web)],
                worker_mounts,
            ),
            self.alluxio_container(
                "alluxio-job-worker",
                &["job-worker"],
                hostnames(),
                job_worker,
                host_network,
                &[("job-rpc", p.job_worker_rpc), ("job-data", p.job_worker_data), ("job-web", p.job_worker_web)],
                user_mounts(&[
                    job_worker.and_then(|j| j.volume_mounts.as_ref()),
                    worker.and_then(|w| w.volume_mounts.as_ref()),
                ]),
            ),
        ];
        let mut init_containers = Vec::new();
        if self.run_as().is_some() {
            let paths: Vec<&str> = levels(s).iter().flat_map(|l| l.paths()).collect();
            init_containers.push(self.init_users(tier_mounts, &paths));
        }
        let mut volumes = tier_volumes;
        volumes.extend(self.common_volumes());
        let template = self.pod_template(PodParts {
            component: Component::Worker,
            role: Self::role(Component::Worker),
            network_mode: worker.and_then(|w| w.network_mode.clone()),
            node_selector: worker.and_then(|w| w.node_selector.clone()).unwrap_or_default(),
            pod_metadata: worker.and_then(|w| w.pod_metadata.clone()),
            init_containers,
            containers,
            volumes,
            security_context: self.pod_security(),
        });
        self.on_delete_statefulset(Component::Worker, self.worker_replicas, template, true)
    }
}

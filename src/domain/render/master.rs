//! The master StatefulSet (master, job master, optional API gateway) and one headless
//! Service per master.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    Affinity, EmptyDirVolumeSource, ExecAction, NodeAffinity, NodeSelector, Probe, Service, ServicePort, ServiceSpec,
    Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use serde_json::{Value, json};

use super::context::Ctx;
use super::mounts::{MASTER_ENTRYPOINT, SCRIPTS_DIR};
use super::parts::*;
use super::pod::{AlluxioContainer, JOURNAL_VOLUME, PodParts, role};
use crate::domain::layers::Component;
use crate::domain::ports::PortName;

/// Fluid's journal: an emptyDir of 30Gi at `/journal`.
const JOURNAL_SIZE: &str = "30Gi";

impl Ctx<'_> {
    /// The Dataset's required node affinity, as Fluid's master takes it when a mount is
    /// `local://` (match expressions only: Fluid drops `matchFields`).
    fn master_affinity(&self) -> Option<Affinity> {
        if !self.has_local_mount() {
            return None;
        }
        let required = self.dataset.spec.node_affinity.as_ref()?.required.as_ref()?;
        let terms: Vec<Value> = required
            .get("nodeSelectorTerms")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| json!({"matchExpressions": t.get("matchExpressions").cloned().unwrap_or(json!([]))}))
            .collect();
        let selector: NodeSelector = serde_json::from_value(json!({"nodeSelectorTerms": terms})).ok()?;
        Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(selector),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn mount_script_command() -> Vec<String> {
        vec!["bash".into(), "-c".into(), format!("{SCRIPTS_DIR}/mount.sh >> /proc/1/fd/1 2>&1")]
    }

    pub fn master_statefulset(&self) -> StatefulSet {
        let s = self.spec;
        let master = s.master.as_ref();
        let host = self.master_host_network;
        let ha = self.ha();
        let hostname = || {
            vec![if ha {
                field_env("ALLUXIO_MASTER_HOSTNAME", "metadata.name")
            } else {
                field_env("ALLUXIO_MASTER_HOSTNAME", "status.podIP")
            }]
        };
        let mut master_ports = vec![("rpc", PortName::MasterRpc), ("web", PortName::MasterWeb)];
        let mut job_ports = vec![("job-rpc", PortName::JobMasterRpc), ("job-web", PortName::JobMasterWeb)];
        if ha {
            master_ports.push(("embedded", PortName::MasterEmbedded));
            job_ports.push(("job-embedded", PortName::JobMasterEmbedded));
        }

        // Mounts both master containers share: Hadoop config, users, native UFS mounts,
        // `spec.master.volumeMounts` and the Secrets of encrypted mount options.
        let (native_volumes, native_mounts) = self.native_mount_volumes();
        let (secret_volumes, secret_mounts) = self.mount_secret_volumes();
        let mut user = user_mounts(&[master.and_then(|m| m.volume_mounts.as_ref())]);
        user.extend(secret_mounts);
        let shared = |journal: bool| {
            let mut m = self.hadoop_mounts();
            m.extend(self.users_mounts());
            if journal {
                m.push(mount(JOURNAL_VOLUME, "/journal"));
            }
            m.extend(native_mounts.clone());
            m.extend(user.clone());
            m
        };
        let conf = self.mounts_data.then(|| self.mount_conf_volume());

        let mut containers = Vec::new();
        if self.gateway().is_some() {
            containers.push(self.alluxio_container(
                host,
                AlluxioContainer {
                    name: "api-gateway",
                    command: "/entrypoint.sh",
                    args: &["proxy"],
                    env: Some(vec![field_env("ALLUXIO_MASTER_HOSTNAME", "status.podIP")]),
                    resources: None,
                    ports: &[("rest", PortName::ApiGatewayRest)],
                    mounts: Vec::new(),
                    run_as: false,
                },
            ));
        }
        let mut master_env_map = master.and_then(|m| m.env.clone()).unwrap_or_default();
        master_env_map.insert("ALLUXIO_WORKER_TIEREDSTORE_LEVEL0_DIRS_PATH".into(), self.level0_path());
        let mut ours = hostname();
        if conf.is_some() && ha {
            ours.push(value_env("FLUIDFORM_MOUNT_AT_START", "true"));
        }
        let mut master_mounts = shared(true);
        master_mounts.extend(conf.as_ref().map(|(_, m)| m.clone()));
        let mut alluxio_master = self.alluxio_container(
            host,
            AlluxioContainer {
                name: "alluxio-master",
                command: if conf.is_some() { MASTER_ENTRYPOINT } else { "/entrypoint.sh" },
                args: &["master-only", "--no-format"],
                env: env(ours, &[Some(&master_env_map)]),
                resources: resources(master.and_then(|m| m.resources.as_ref())),
                ports: &master_ports,
                mounts: master_mounts,
                run_as: true,
            },
        );
        if conf.is_some() && !ha {
            // A single master applies mount.info before it counts as started, as in
            // Fluid's chart; several masters must see each other first (see the script).
            alluxio_master.startup_probe = Some(Probe {
                exec: Some(ExecAction { command: Some(Self::mount_script_command()) }),
                initial_delay_seconds: Some(5),
                failure_threshold: Some(10),
                timeout_seconds: Some(15),
                period_seconds: Some(20),
                ..Default::default()
            });
        }
        containers.push(alluxio_master);
        containers.push(self.alluxio_container(
            host,
            AlluxioContainer {
                name: "alluxio-job-master",
                command: "/entrypoint.sh",
                args: &["job-master"],
                env: Some(hostname()),
                resources: resources(s.job_master.as_ref().and_then(|j| j.resources.as_ref())),
                ports: &job_ports,
                mounts: shared(false),
                run_as: true,
            },
        ));

        let mut init_containers = Vec::new();
        if self.run_as() {
            init_containers.push(self.init_users("init-users", &[], self.tier_paths_env(), Vec::new()));
        }

        let mut volumes: Vec<Volume> = conf.into_iter().map(|(v, _)| v).collect();
        volumes.extend(self.hadoop_volumes());
        volumes.extend(self.users_volumes());
        volumes.push(Volume {
            name: JOURNAL_VOLUME.to_string(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(K8sQuantity(JOURNAL_SIZE.to_string())),
                ..Default::default()
            }),
            ..Default::default()
        });
        volumes.extend(native_volumes);
        volumes.extend(secret_volumes);
        let template = self.pod_template(PodParts {
            component: Component::Master,
            host_network: host,
            node_selector: master.and_then(|m| m.node_selector.clone()).unwrap_or_default(),
            pod_metadata: master.and_then(|m| m.pod_metadata.clone()),
            extra_labels: Default::default(),
            init_containers,
            containers,
            volumes,
            affinity: self.master_affinity(),
            tolerations: self.dataset_tolerations(),
            priority_class: None,
            host_pid: false,
        });
        self.on_delete_statefulset(Component::Master, self.master_replicas, template, Default::default())
    }

    /// One headless Service per master replica, selecting exactly that pod: its name is
    /// the master's hostname in Alluxio's configuration.
    pub fn master_services(&self) -> Vec<Service> {
        let monitored = self.spec.disable_prometheus != Some(true);
        let mut ports = vec![
            ("rpc", PortName::MasterRpc),
            ("web", PortName::MasterWeb),
            ("job-rpc", PortName::JobMasterRpc),
            ("job-web", PortName::JobMasterWeb),
        ];
        if self.gateway().is_some() {
            ports.push(("rest", PortName::ApiGatewayRest));
        }
        if self.ha() {
            ports.push(("embedded", PortName::MasterEmbedded));
            ports.push(("job-embedded", PortName::JobMasterEmbedded));
        }
        let role = role(Component::Master);
        (0..self.master_replicas)
            .map(|i| {
                let pod = format!("{}-master-{i}", self.name);
                let mut meta = self.meta(pod.clone(), "master", Some(role));
                if monitored && let Some(l) = meta.labels.as_mut() {
                    l.insert("monitor".to_string(), "alluxio_runtime_metrics".to_string());
                }
                let mut selector = self.selector_labels(role);
                selector.insert("statefulset.kubernetes.io/pod-name".to_string(), pod);
                Service {
                    metadata: meta,
                    spec: Some(ServiceSpec {
                        cluster_ip: Some("None".to_string()),
                        ports: Some(
                            ports
                                .iter()
                                .map(|&(name, p)| ServicePort {
                                    name: Some(name.to_string()),
                                    port: self.port(p),
                                    ..Default::default()
                                })
                                .collect(),
                        ),
                        selector: Some(selector),
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            })
            .collect()
    }
}

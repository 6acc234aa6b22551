//! The fuse DaemonSet: privileged, critical, tolerating every taint, on the nodes Fluid
//! labels for this runtime, reading cached blocks from the host-path tiers directly.

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, Container, EnvFromSource, ExecAction, Lifecycle, LifecycleHandler, ResourceRequirements,
    SecurityContext, Toleration, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::context::{Ctx, FUSE_HOST_PID_ANNOTATION};
use super::parts::*;
use super::pod::{FUSE_DEVICE_VOLUME, FUSE_MOUNT_VOLUME, PodParts, role};
use super::properties::config_map_name;
use super::*;
use crate::domain::layers::Component;
use crate::domain::quantity::{Quantity, parse_quantity};

/// Fluid's fuse memory limit when `limits.memory` is given as zero.
const DEFAULT_FUSE_MEMORY_LIMIT: u128 = 50 << 30;

impl Ctx<'_> {
    /// Fluid renders the fuse's resources only when they give a memory limit, and adds
    /// the MEM tiers' quota to it (the fuse maps cached blocks into its memory).
    fn fuse_resources(&self) -> Option<ResourceRequirements> {
        let given = self.spec.fuse.as_ref().and_then(|f| f.resources.as_ref())?;
        let limit = given.limits.as_ref()?.get("memory")?;
        let mut r = resources(Some(given)).unwrap_or_default();
        let mem = self.mem_quota();
        let bytes = parse_quantity(limit.as_str()).ok().and_then(|q| q.to_bytes()).unwrap_or(0);
        if mem > 0 || bytes == 0 {
            let base = if bytes == 0 { DEFAULT_FUSE_MEMORY_LIMIT } else { bytes };
            let total = Quantity::from_bytes(base + mem).to_string();
            r.limits.get_or_insert_default().insert("memory".to_string(), K8sQuantity(total));
        }
        Some(r)
    }

    fn host_pid(&self) -> bool {
        let a = self.runtime.metadata.annotations.as_ref().and_then(|a| a.get(FUSE_HOST_PID_ANNOTATION));
        a.is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
    }

    pub fn fuse_daemonset(&self) -> DaemonSet {
        let fuse = self.spec.fuse.clone().unwrap_or_default();
        let root = self.fuse_mount_root();
        let mount_point = self.fuse_mount_point();
        let mut fuse_env = fuse.env.clone().unwrap_or_default();
        if !super::context::new_fuse_args(self.fuse_image_tag()) {
            fuse_env.insert("MOUNT_POINT".into(), mount_point.clone());
        }
        let (tier_volumes, tier_mounts) = self.fuse_tier_volumes();
        let mut mounts = self.users_mounts();
        mounts.push(mount(FUSE_DEVICE_VOLUME, "/dev/fuse"));
        mounts.push(VolumeMount {
            mount_propagation: Some("Bidirectional".to_string()),
            ..mount(FUSE_MOUNT_VOLUME, &root)
        });
        mounts.extend(tier_mounts);
        mounts.extend(user_mounts(&[fuse.volume_mounts.as_ref()]));
        let container = Container {
            name: "alluxio-fuse".to_string(),
            image: Some(format!("{}:{}", or(&fuse.image, DEFAULT_IMAGE), self.fuse_image_tag())),
            image_pull_policy: Some(or(&fuse.image_pull_policy, DEFAULT_PULL_POLICY).to_string()),
            command: Some(vec!["/entrypoint.sh".to_string()]),
            args: Some(self.fuse_args.clone()),
            env: env(
                vec![
                    field_env("ALLUXIO_CLIENT_HOSTNAME", "status.hostIP"),
                    value_env("ALLUXIO_CLIENT_JAVA_OPTS", " -Dalluxio.user.hostname=${ALLUXIO_CLIENT_HOSTNAME} "),
                    value_env("FLUID_RUNTIME_TYPE", "alluxio"),
                    value_env("FLUID_RUNTIME_NS", self.ns),
                    value_env("FLUID_RUNTIME_NAME", self.name),
                ],
                &[Some(&fuse_env)],
            ),
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource { name: config_map_name(self.name), ..Default::default() }),
                ..Default::default()
            }]),
            resources: self.fuse_resources(),
            security_context: Some(SecurityContext { privileged: Some(true), ..self.container_security() }),
            lifecycle: Some(Lifecycle {
                pre_stop: Some(LifecycleHandler {
                    exec: Some(ExecAction {
                        command: Some(vec![
                            "/opt/alluxio/integration/fuse/bin/alluxio-fuse".to_string(),
                            "unmount".to_string(),
                            mount_point,
                        ]),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            volume_mounts: Some(mounts),
            ..Default::default()
        };
        let mut init_containers = Vec::new();
        if self.run_as() {
            // Writes the user for the fuse container and opens the mount root to it, as
            // root (Fluid's `init-fuse`, plus the user set-up the other pods run).
            let mut c = self.init_users(
                "init-fuse",
                &["chmod_fuse_mountpoint"],
                vec![value_env("FLUID_FUSE_MOUNTPOINT", &root)],
                vec![mount(FUSE_MOUNT_VOLUME, &root)],
            );
            c.security_context =
                Some(SecurityContext { run_as_user: Some(0), run_as_group: Some(0), ..Default::default() });
            init_containers.push(c);
        }
        let mut volumes = self.users_volumes();
        volumes.push(host_path(FUSE_DEVICE_VOLUME, "/dev/fuse", "CharDevice"));
        volumes.push(host_path(FUSE_MOUNT_VOLUME, &root, "DirectoryOrCreate"));
        volumes.extend(tier_volumes);
        let mut node_selector = fuse.node_selector.clone().unwrap_or_default();
        node_selector.insert(self.fuse_node_label(), "true".to_string());
        let role = role(Component::Fuse);
        let template = self.pod_template(PodParts {
            component: Component::Fuse,
            host_network: self.fuse_host_network,
            node_selector,
            pod_metadata: fuse.pod_metadata.clone(),
            extra_labels: Default::default(),
            init_containers,
            containers: vec![container],
            volumes,
            affinity: None,
            tolerations: vec![Toleration { operator: Some("Exists".to_string()), ..Default::default() }],
            priority_class: Some("system-node-critical".to_string()),
            host_pid: self.host_pid(),
        });
        DaemonSet {
            metadata: self.meta(format!("{}-fuse", self.name), "fuse", Some(role)),
            spec: Some(DaemonSetSpec {
                selector: LabelSelector { match_labels: Some(self.selector_labels(role)), ..Default::default() },
                update_strategy: Some(DaemonSetUpdateStrategy {
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

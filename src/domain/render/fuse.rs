//! The fuse DaemonSet: privileged, on the nodes Fluid labels for this runtime.

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapEnvSource, Container, EnvFromSource, ExecAction, Lifecycle, LifecycleHandler,
    SecurityContext, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::config::config_map_name;
use super::parts::*;
use super::workloads::*;
use super::*;
use crate::domain::layers::Component;

impl Ctx<'_> {
    /// The node label Fluid puts on nodes that may run this runtime's fuse.
    pub fn fuse_node_label(&self) -> String {
        format!("{FLUID_FUSE_NODE_LABEL_PREFIX}{}-{}", self.ns, self.name)
    }

    pub fn fuse_mount_root(&self) -> String {
        format!("/runtime-mnt/alluxio/{}/{}", self.ns, self.name)
    }

    pub fn fuse_daemonset(&self) -> DaemonSet {
        let fuse = self.spec.fuse.clone().unwrap_or_default();
        let root = self.fuse_mount_root();
        let mount_point = format!("{root}/alluxio-fuse");
        let args = fuse.args.clone().filter(|a| !a.is_empty()).unwrap_or_else(|| {
            vec![
                "fuse".to_string(),
                "--fuse-opts=kernel_cache,rw,max_read=131072,attr_timeout=7200,entry_timeout=7200,nonempty".to_string(),
                mount_point.clone(),
                "/".to_string(),
            ]
        });
        let mut mounts = vec![
            mount(FUSE_DEVICE_VOLUME, "/dev/fuse"),
            VolumeMount { mount_propagation: Some("Bidirectional".to_string()), ..mount(FUSE_MOUNT_VOLUME, &root) },
        ];
        mounts.extend(user_mounts(&[fuse.volume_mounts.as_ref()]));
        mounts.extend(self.common_mounts());
        let container = Container {
            name: "alluxio-fuse".to_string(),
            image: Some(format!("{}:{}", or(&fuse.image, DEFAULT_IMAGE), or(&fuse.image_tag, DEFAULT_IMAGE_TAG))),
            image_pull_policy: Some(or(&fuse.image_pull_policy, DEFAULT_PULL_POLICY).to_string()),
            command: Some(vec!["/entrypoint.sh".to_string()]),
            args: Some(args),
            env: env(
                vec![
                    field_env("ALLUXIO_CLIENT_HOSTNAME", "status.hostIP"),
                    value_env("FLUID_RUNTIME_TYPE", "alluxio"),
                    value_env("FLUID_RUNTIME_NS", self.ns),
                    value_env("FLUID_RUNTIME_NAME", self.name),
                ],
                &[fuse.env.as_ref()],
            ),
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource { name: config_map_name(self.name), ..Default::default() }),
                ..Default::default()
            }]),
            resources: resources(fuse.resources.as_ref()),
            security_context: Some(SecurityContext {
                privileged: Some(true),
                capabilities: Some(Capabilities { add: Some(vec!["SYS_ADMIN".to_string()]), ..Default::default() }),
                ..Default::default()
            }),
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
        let mut volumes = vec![
            host_path(FUSE_DEVICE_VOLUME, "/dev/fuse", "CharDevice"),
            host_path(FUSE_MOUNT_VOLUME, &root, "DirectoryOrCreate"),
        ];
        volumes.extend(self.common_volumes());
        let mut node_selector = fuse.node_selector.clone().unwrap_or_default();
        node_selector.insert(self.fuse_node_label(), "true".to_string());
        let role = Self::role(Component::Fuse);
        let template = self.pod_template(PodParts {
            component: Component::Fuse,
            role,
            network_mode: fuse.network_mode.clone(),
            node_selector,
            pod_metadata: fuse.pod_metadata.clone(),
            init_containers: Vec::new(),
            containers: vec![container],
            volumes,
            security_context: None,
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

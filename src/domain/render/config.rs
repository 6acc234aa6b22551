//! The ConfigMap `<name>-config` (Alluxio properties and JAVA_OPTS), the port plan, and the
//! headless master Services.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Service, ServicePort, ServiceSpec, VolumeMount};

use super::parts::{level_quotas, levels};
use super::workloads::Ctx;
use crate::domain::manifest::{AlluxioRuntimeSpec, ComponentSpec};
use crate::domain::quantity::alluxio_size;

pub(super) const CONFIG_VOLUME: &str = "alluxio-config";
pub(super) const SITE_PROPERTIES_KEY: &str = "alluxio-site.properties";
const SITE_PROPERTIES_PATH: &str = "/opt/alluxio/conf/alluxio-site.properties";

pub(super) fn config_map_name(runtime: &str) -> String {
    format!("{runtime}-config")
}

pub(super) fn site_properties_mount() -> VolumeMount {
    VolumeMount {
        name: CONFIG_VOLUME.to_string(),
        mount_path: SITE_PROPERTIES_PATH.to_string(),
        sub_path: Some(SITE_PROPERTIES_KEY.to_string()),
        read_only: Some(true),
        ..Default::default()
    }
}

/// Every port, with Fluid's defaults where the spec gives none.
pub(super) struct Ports {
    pub master_rpc: i32,
    pub master_web: i32,
    pub master_embedded: i32,
    pub job_master_rpc: i32,
    pub job_master_web: i32,
    pub job_master_embedded: i32,
    pub worker_rpc: i32,
    pub worker_web: i32,
    pub job_worker_rpc: i32,
    pub job_worker_web: i32,
    pub job_worker_data: i32,
    pub gateway_rest: i32,
}

fn port(c: &Option<ComponentSpec>, name: &str, default: i32) -> i32 {
    c.as_ref()
        .and_then(|c| c.ports.as_ref())
        .and_then(|p| p.get(name))
        .and_then(|&p| i32::try_from(p).ok())
        .unwrap_or(default)
}

impl Ports {
    pub fn new(s: &AlluxioRuntimeSpec) -> Self {
        Ports {
            master_rpc: port(&s.master, "rpc", 19998),
            master_web: port(&s.master, "web", 19999),
            master_embedded: port(&s.master, "embedded", 19200),
            job_master_rpc: port(&s.job_master, "rpc", 20001),
            job_master_web: port(&s.job_master, "web", 20002),
            job_master_embedded: port(&s.job_master, "embedded", 20003),
            worker_rpc: port(&s.worker, "rpc", 29999),
            worker_web: port(&s.worker, "web", 30000),
            job_worker_rpc: port(&s.job_worker, "rpc", 30001),
            job_worker_data: port(&s.job_worker, "data", 30002),
            job_worker_web: port(&s.job_worker, "web", 30003),
            gateway_rest: port(&s.api_gateway, "rest", 39999),
        }
    }
}

/// Global Alluxio properties: computed ones, overridden by `spec.properties`.
pub(super) fn site_properties(ctx: &Ctx) -> BTreeMap<String, String> {
    let s = ctx.spec;
    let p = &ctx.ports;
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        props.insert(k.to_string(), v);
    };
    let masters: Vec<String> = (0..ctx.master_replicas).map(|i| format!("{}-master-{i}", ctx.name)).collect();
    if ctx.master_replicas > 1 {
        set("alluxio.master.journal.type", "EMBEDDED".into());
        let join = |port: i32| masters.iter().map(|m| format!("{m}:{port}")).collect::<Vec<_>>().join(",");
        set("alluxio.master.embedded.journal.addresses", join(p.master_embedded));
        set("alluxio.job.master.embedded.journal.addresses", join(p.job_master_embedded));
        set("alluxio.master.embedded.journal.port", p.master_embedded.to_string());
        set("alluxio.job.master.embedded.journal.port", p.job_master_embedded.to_string());
    } else {
        set("alluxio.master.hostname", masters[0].clone());
        set("alluxio.master.journal.type", "UFS".into());
    }
    set("alluxio.master.journal.folder", "/journal".into());
    set("alluxio.master.rpc.port", p.master_rpc.to_string());
    set("alluxio.master.web.port", p.master_web.to_string());
    set("alluxio.job.master.rpc.port", p.job_master_rpc.to_string());
    set("alluxio.job.master.web.port", p.job_master_web.to_string());
    set("alluxio.worker.rpc.port", p.worker_rpc.to_string());
    set("alluxio.worker.web.port", p.worker_web.to_string());
    set("alluxio.job.worker.rpc.port", p.job_worker_rpc.to_string());
    set("alluxio.job.worker.data.port", p.job_worker_data.to_string());
    set("alluxio.job.worker.web.port", p.job_worker_web.to_string());
    set("alluxio.proxy.web.port", p.gateway_rest.to_string());

    let levels = levels(s);
    if !levels.is_empty() {
        set("alluxio.worker.tieredstore.levels", levels.len().to_string());
    }
    for (i, level) in levels.iter().enumerate() {
        let key = |k: &str| format!("alluxio.worker.tieredstore.level{i}.{k}");
        let paths = level.paths();
        set(&key("alias"), level.mediumtype.clone());
        set(&key("dirs.path"), paths.join(","));
        set(&key("dirs.mediumtype"), vec![level.mediumtype.as_str(); paths.len()].join(","));
        let quotas: Vec<String> = level_quotas(level).into_iter().map(|q| alluxio_size(q.unwrap_or(0))).collect();
        set(&key("dirs.quota"), quotas.join(","));
        if let Some(h) = &level.high {
            set(&key("watermark.high.ratio"), h.as_str().to_string());
        }
        if let Some(l) = &level.low {
            set(&key("watermark.low.ratio"), l.as_str().to_string());
        }
    }
    props.extend(s.properties.clone().unwrap_or_default());
    props
}

/// `jvmOptions` then `-Dkey=value` for each component property, space-separated.
fn java_opts(jvm: Option<&Vec<String>>, props: Option<&BTreeMap<String, String>>) -> String {
    jvm.into_iter()
        .flatten()
        .cloned()
        .chain(props.into_iter().flatten().map(|(k, v)| format!("-D{k}={v}")))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn config_map(ctx: &Ctx) -> ConfigMap {
    let s = ctx.spec;
    let site: String = site_properties(ctx).iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let mut data = BTreeMap::from([(SITE_PROPERTIES_KEY.to_string(), site)]);
    let comp = |c: &Option<ComponentSpec>| {
        java_opts(c.as_ref().and_then(|c| c.jvm_options.as_ref()), c.as_ref().and_then(|c| c.properties.as_ref()))
    };
    let fuse = s.fuse.as_ref();
    let opts = [
        ("ALLUXIO_JAVA_OPTS", java_opts(s.jvm_options.as_ref(), None)),
        ("ALLUXIO_MASTER_JAVA_OPTS", comp(&s.master)),
        ("ALLUXIO_JOB_MASTER_JAVA_OPTS", comp(&s.job_master)),
        ("ALLUXIO_WORKER_JAVA_OPTS", comp(&s.worker)),
        ("ALLUXIO_JOB_WORKER_JAVA_OPTS", comp(&s.job_worker)),
        ("ALLUXIO_PROXY_JAVA_OPTS", comp(&s.api_gateway)),
        (
            "ALLUXIO_FUSE_JAVA_OPTS",
            java_opts(fuse.and_then(|f| f.jvm_options.as_ref()), fuse.and_then(|f| f.properties.as_ref())),
        ),
    ];
    for (k, v) in opts {
        if !v.is_empty() {
            data.insert(k.to_string(), v);
        }
    }
    ConfigMap { metadata: ctx.meta(config_map_name(ctx.name), "config", None), data: Some(data), ..Default::default() }
}

/// One headless Service per master replica, selecting exactly that pod.
pub(super) fn master_services(ctx: &Ctx) -> Vec<Service> {
    let p = &ctx.ports;
    let gateway = ctx.spec.api_gateway.as_ref().is_some_and(|g| g.enabled == Some(true));
    let monitored = ctx.spec.disable_prometheus != Some(true);
    let mut ports = vec![
        ("rpc", p.master_rpc),
        ("web", p.master_web),
        ("job-rpc", p.job_master_rpc),
        ("job-web", p.job_master_web),
    ];
    if gateway {
        ports.push(("rest", p.gateway_rest));
    }
    if ctx.master_replicas > 1 {
        ports.push(("embedded", p.master_embedded));
        ports.push(("job-embedded", p.job_master_embedded));
    }
    (0..ctx.master_replicas)
        .map(|i| {
            let pod = format!("{}-master-{i}", ctx.name);
            let mut meta = ctx.meta(pod.clone(), "master", Some("alluxio-master"));
            if monitored && let Some(l) = meta.labels.as_mut() {
                l.insert("monitor".to_string(), "alluxio_runtime_metrics".to_string());
            }
            let mut selector = ctx.selector_labels("alluxio-master");
            selector.insert("statefulset.kubernetes.io/pod-name".to_string(), pod);
            Service {
                metadata: meta,
                spec: Some(ServiceSpec {
                    cluster_ip: Some("None".to_string()),
                    ports: Some(
                        ports
                            .iter()
                            .map(|&(name, port)| ServicePort {
                                name: Some(name.to_string()),
                                port,
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

//! Alluxio's configuration as Fluid passes it: the ConfigMap `<name>-config` of
//! `ALLUXIO_*_JAVA_OPTS` (one line of `-D` options per process), which every Alluxio
//! container reads through `envFrom`; Alluxio's `/entrypoint.sh` writes them into
//! `alluxio-env.sh`, so `${VAR}` references expand inside the container.
//!
//! Global properties follow Fluid's transform: `spec.properties`, then the values Fluid
//! always sets (root UFS and its options, replication, short-circuit, user translation),
//! then Fluid's tuned defaults and the ports, each unless `spec.properties` or the
//! master's, worker's or fuse's `properties` name it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::context::Ctx;
use crate::domain::ports::PortName;

pub(super) fn config_map_name(runtime: &str) -> String {
    format!("{runtime}-config")
}

/// Fluid's tuned defaults (`optimizeDefaultProperties`, `transformPermission`); the
/// journal type, direct memory I/O and HTTP tuning depend on the runtime (`tuned_defaults`).
const TUNED: &[(&str, &str)] = &[
    ("alluxio.master.security.impersonation.root.users", "*"),
    ("alluxio.master.security.impersonation.root.groups", "*"),
    ("alluxio.security.authorization.permission.enabled", "false"),
    ("alluxio.fuse.jnifuse.enabled", "true"),
    ("alluxio.fuse.jnifuse.libfuse.version", "3"),
    ("alluxio.master.metastore", "ROCKS"),
    ("alluxio.user.update.file.accesstime.disabled", "true"),
    ("alluxio.user.client.cache.enabled", "false"),
    ("alluxio.master.metastore.inode.cache.max.size", "10000000"),
    ("alluxio.master.journal.log.size.bytes.max", "500MB"),
    ("alluxio.master.metadata.sync.concurrency.level", "128"),
    ("alluxio.master.metadata.sync.executor.pool.size", "128"),
    ("alluxio.master.metadata.sync.ufs.prefetch.pool.size", "128"),
    ("alluxio.user.block.worker.client.pool.min", "512"),
    ("alluxio.fuse.debug.enabled", "false"),
    ("alluxio.user.ufs.block.read.location.policy", "alluxio.client.block.policy.LocalFirstPolicy"),
    ("alluxio.user.block.write.location.policy.class", "alluxio.client.block.policy.LocalFirstAvoidEvictionPolicy"),
    ("alluxio.worker.allocator.class", "alluxio.worker.block.allocator.MaxFreeAllocator"),
    ("alluxio.user.block.size.bytes.default", "16MB"),
    ("alluxio.user.streaming.reader.chunk.size.bytes", "32MB"),
    ("alluxio.user.local.reader.chunk.size.bytes", "32MB"),
    ("alluxio.worker.network.reader.buffer.size", "32MB"),
    ("alluxio.user.metrics.collection.enabled", "true"),
    ("alluxio.master.rpc.executor.max.pool.size", "1024"),
    ("alluxio.master.rpc.executor.core.pool.size", "128"),
    ("alluxio.user.file.passive.cache.enabled", "false"),
    ("alluxio.user.block.avoid.eviction.policy.reserved.size.bytes", "2GB"),
    ("alluxio.master.journal.folder", "/journal"),
    ("alluxio.user.block.master.client.pool.gc.threshold", "10min"),
    ("alluxio.user.file.master.client.threads", "1024"),
    ("alluxio.user.block.master.client.threads", "1024"),
    ("alluxio.user.file.create.ttl.action", "FREE"),
    ("alluxio.user.file.readtype.default", "CACHE"),
    ("alluxio.security.stale.channel.purge.interval", "365d"),
    ("alluxio.user.metadata.cache.enabled", "true"),
    ("alluxio.user.metadata.cache.expiration.time", "10min"),
    ("alluxio.user.metadata.cache.max.size", "6000000"),
    ("alluxio.fuse.cached.paths.max", "1000000"),
    ("alluxio.job.worker.threadpool.size", "32"),
    ("alluxio.user.worker.list.refresh.interval", "2min"),
    ("alluxio.user.logging.threshold", "1000ms"),
    ("alluxio.fuse.logging.threshold", "1000ms"),
    ("alluxio.worker.block.master.client.pool.size", "1024"),
    ("alluxio.job.master.finished.job.retention.time", "30sec"),
    ("alluxio.underfs.object.store.breadcrumbs.enabled", "false"),
];

/// Fluid's tuning when every mount is HTTP(S) (`optimizeDefaultPropertiesAndFuseForHTTP`).
const HTTP_TUNED: [(&str, &str); 5] = [
    ("alluxio.user.block.size.bytes.default", "256MB"),
    ("alluxio.user.streaming.reader.chunk.size.bytes", "256MB"),
    ("alluxio.user.local.reader.chunk.size.bytes", "256MB"),
    ("alluxio.worker.network.reader.buffer.size", "256MB"),
    ("alluxio.user.streaming.data.timeout", "300sec"),
];

/// JVM options of a component when the runtime gives none (Fluid's `optimizeDefaultFor*`).
pub(super) const MASTER_JVM: [&str; 2] = ["-Xmx16G", "-XX:+UnlockExperimentalVMOptions"];
pub(super) const WORKER_JVM: [&str; 3] = ["-Xmx12G", "-XX:+UnlockExperimentalVMOptions", "-XX:MaxDirectMemorySize=32g"];
pub(super) const FUSE_JVM: [&str; 5] =
    ["-Xmx16G", "-Xms16G", "-XX:+UseG1GC", "-XX:MaxDirectMemorySize=32g", "-XX:+UnlockExperimentalVMOptions"];

impl Ctx<'_> {
    fn tuned_defaults(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&str, String)> = TUNED.iter().map(|&(k, v)| (k, v.to_string())).collect();
        out.push(("alluxio.master.journal.type", if self.ha() { "EMBEDDED" } else { "UFS" }.to_string()));
        let spec_levels: Vec<_> = self.tiers.iter().filter(|t| t.from_spec).collect();
        if self.dataset.is_read_only() && spec_levels.len() == 1 && spec_levels[0].paths.len() == 1 {
            out.push(("alluxio.user.direct.memory.io.enabled", "true".to_string()));
        }
        if self.all_http() {
            out.extend(HTTP_TUNED.iter().map(|&(k, v)| (k, v.to_string())));
        }
        for p in self.ports.keys() {
            out.push((p.property(), self.port(*p).to_string()));
        }
        if self.ha() {
            let embedded = self.port(PortName::MasterEmbedded);
            let addresses: Vec<String> =
                (0..self.master_replicas).map(|i| format!("{}-master-{i}:{embedded}", self.name)).collect();
            out.push(("alluxio.master.embedded.journal.addresses", addresses.join(",")));
        }
        out
    }

    /// The global properties, as Fluid computes them.
    pub(super) fn properties(&self) -> BTreeMap<String, String> {
        let mut p = self.spec.properties.clone().unwrap_or_default();
        let (root, options) = self.root_ufs();
        p.extend(options);
        p.insert("alluxio.master.mount.table.root.ufs".into(), root);
        let replicas = self.spec.data.as_ref().and_then(|d| d.replicas).filter(|&r| r > 0).unwrap_or(1);
        p.insert("alluxio.user.file.replication.max".into(), replicas.to_string());
        if self.tiers.iter().any(|t| t.from_spec && t.empty_dir) {
            p.insert("alluxio.user.short.circuit.enabled".into(), "false".into());
        }
        if self.fuse_translation {
            p.insert("alluxio.fuse.user.group.translation.enabled".into(), "true".into());
        }
        for (k, v) in self.tuned_defaults() {
            if !self.merged_properties.contains_key(k) {
                p.insert(k.to_string(), v);
            }
        }
        p
    }

    /// `ALLUXIO_JAVA_OPTS`: the chart's fixed options, the tiers, then every property
    /// (later `-D` options win), then `spec.jvmOptions`.
    fn global_java_opts(&self) -> Vec<String> {
        let mut o = Vec::new();
        if !self.ha() {
            o.push(format!("-Dalluxio.master.hostname={}-master-0.{}", self.name, self.ns));
        }
        o.push("-Dalluxio.user.hostname=${ALLUXIO_CLIENT_HOSTNAME}".into());
        o.push("-Dalluxio.master.journal.type=EMBEDDED".into());
        o.push("-Dalluxio.master.journal.folder=/journal".into());
        o.push(format!("-Dalluxio.worker.tieredstore.levels={}", self.tiers.len()));
        o.extend(self.tiers.iter().flat_map(|t| t.java_opts()));
        if self.ha() {
            let addresses: String =
                (0..self.master_replicas).map(|i| format!(",{}-master-{i}:19200", self.name)).collect();
            o.push(format!("-Dalluxio.master.embedded.journal.addresses={addresses}"));
        }
        o.extend(self.properties().iter().map(|(k, v)| format!("-D{k}={v}")));
        o.extend(self.spec.jvm_options.iter().flatten().cloned());
        o
    }

    fn worker_java_opts(&self) -> Vec<String> {
        let w = self.spec.worker.as_ref();
        let mut o = vec![
            "-Dalluxio.worker.hostname=${ALLUXIO_WORKER_HOSTNAME}".to_string(),
            format!("-Dalluxio.worker.rpc.port={}", self.port(PortName::WorkerRpc)),
            format!("-Dalluxio.worker.web.port={}", self.port(PortName::WorkerWeb)),
        ];
        if !self.worker_host_network {
            o.push("-Dalluxio.worker.container.hostname=${ALLUXIO_WORKER_CONTAINER_HOSTNAME}".into());
        }
        if let Some(mem) = self.worker_memory_request() {
            o.push(format!("-Dalluxio.worker.memory.size={mem}"));
        }
        o.extend(props_opts(w.and_then(|w| w.properties.as_ref())));
        o.extend(jvm_or(w.and_then(|w| w.jvm_options.as_ref()), &WORKER_JVM));
        o
    }

    pub(super) fn config_map(&self) -> ConfigMap {
        let s = self.spec;
        let master = s.master.as_ref();
        let fuse = s.fuse.as_ref();
        let master_host = "-Dalluxio.master.hostname=${ALLUXIO_MASTER_HOSTNAME}".to_string();
        let mut master_opts = vec![master_host.clone()];
        master_opts.extend(props_opts(master.and_then(|m| m.properties.as_ref())));
        master_opts.extend(jvm_or(master.and_then(|m| m.jvm_options.as_ref()), &MASTER_JVM));
        let job_worker_opts = [
            "-Dalluxio.worker.hostname=${ALLUXIO_WORKER_HOSTNAME}".to_string(),
            format!("-Dalluxio.job.worker.rpc.port={}", self.port(PortName::JobWorkerRpc)),
            format!("-Dalluxio.job.worker.data.port={}", self.port(PortName::JobWorkerData)),
            format!("-Dalluxio.job.worker.web.port={}", self.port(PortName::JobWorkerWeb)),
        ];
        let mut fuse_opts: Vec<String> = props_opts(fuse.and_then(|f| f.properties.as_ref())).collect();
        fuse_opts.extend(jvm_or(fuse.and_then(|f| f.jvm_options.as_ref()), &FUSE_JVM));
        let data = BTreeMap::from([
            ("ALLUXIO_JAVA_OPTS".to_string(), self.global_java_opts().join(" ")),
            ("ALLUXIO_MASTER_JAVA_OPTS".to_string(), master_opts.join(" ")),
            ("ALLUXIO_JOB_MASTER_JAVA_OPTS".to_string(), master_host),
            ("ALLUXIO_WORKER_JAVA_OPTS".to_string(), self.worker_java_opts().join(" ")),
            ("ALLUXIO_JOB_WORKER_JAVA_OPTS".to_string(), job_worker_opts.join(" ")),
            ("ALLUXIO_FUSE_JAVA_OPTS".to_string(), fuse_opts.join(" ")),
            (
                "ALLUXIO_WORKER_TIEREDSTORE_LEVEL0_DIRS_PATH".to_string(),
                "${ALLUXIO_WORKER_TIEREDSTORE_LEVEL0_DIRS_PATH}".to_string(),
            ),
        ]);
        ConfigMap {
            metadata: self.meta(config_map_name(self.name), "config", None),
            data: Some(data),
            ..Default::default()
        }
    }
}

fn props_opts(props: Option<&BTreeMap<String, String>>) -> impl Iterator<Item = String> + '_ {
    props.into_iter().flatten().map(|(k, v)| format!("-D{k}={v}"))
}

/// The component's `jvmOptions`, or Fluid's default heap when it gives none.
fn jvm_or(given: Option<&Vec<String>>, default: &[&str]) -> Vec<String> {
    match given.filter(|g| !g.is_empty()) {
        Some(g) => g.clone(),
        None => default.iter().map(|s| s.to_string()).collect(),
    }
}

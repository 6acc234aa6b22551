//! Host ports for runtimes on host networking: which named ports a runtime needs from the
//! cluster's allocator, and the allocation itself, as pure functions.
//!
//! Fluid's controller allocates each AlluxioRuntime's ports from `--runtime-node-port-range`
//! (default `20000-25000`, `cmd/alluxio/app/alluxio.go`) so that two runtimes on one node
//! never bind the same host port (`pkg/ddc/alluxio/transform.go`, `allocatePorts`). It asks
//! for 9 ports (master rpc, web; worker rpc, web; job master rpc, web; job worker rpc, web,
//! data), 1 more with the API gateway, 2 more (master and job master embedded journal) when
//! the master has more than one replica. A port named in `spec.properties` (e.g.
//! `alluxio.master.rpc.port`) wins, then `spec.<component>.ports`, then the allocator.
//!
//! Where fluidform differs, on purpose:
//! - Ports are allocated per pod: a pod on `ContainerNetwork` binds no host port, so its
//!   ports are not taken from the range (Fluid allocates all of them when either the master
//!   or the worker pod is on host network). A container-network pod listens on Fluid's
//!   fixed ports (`PortName::fixed`) unless an override names another.
//! - Overrides use the port names fluidform's validation accepts: `rpc`, `web`, `embedded`,
//!   `data`, `rest`. Fluid reads the journal port from `embeddedJournal` and the API
//!   gateway's from `web` (`quirks` warns about both).
//! - Allocation is deterministic, lowest free port first, and never hands out a port in
//!   `taken`. Fluid's default policy (`random`) draws random ports without checking what
//!   other runtimes hold; its `bitmap` policy rebuilds the used set from every runtime's
//!   values ConfigMap when the controller starts.
//! - Allocations are stable: a runtime keeps the ports it had for every name it still
//!   needs, and only new names are allocated (Fluid allocates once, at install, and never
//!   again). The caller stores the result and releases it when the runtime is deleted, as
//!   Fluid's `ReleaseReservedPorts` does.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::manifest::{AlluxioRuntime, ComponentSpec};

/// One named port of an AlluxioRuntime, written as its spec path
/// (`spec.<component>.ports.<name>`) without the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum PortName {
    #[serde(rename = "master.rpc")]
    MasterRpc,
    #[serde(rename = "master.web")]
    MasterWeb,
    #[serde(rename = "worker.rpc")]
    WorkerRpc,
    #[serde(rename = "worker.web")]
    WorkerWeb,
    #[serde(rename = "jobMaster.rpc")]
    JobMasterRpc,
    #[serde(rename = "jobMaster.web")]
    JobMasterWeb,
    #[serde(rename = "jobWorker.rpc")]
    JobWorkerRpc,
    #[serde(rename = "jobWorker.web")]
    JobWorkerWeb,
    #[serde(rename = "jobWorker.data")]
    JobWorkerData,
    #[serde(rename = "apiGateway.rest")]
    ApiGatewayRest,
    #[serde(rename = "master.embedded")]
    MasterEmbedded,
    #[serde(rename = "jobMaster.embedded")]
    JobMasterEmbedded,
}

/// Which pod binds a port: the master pod (master, job master, API gateway) or the worker
/// pod (worker, job worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPod {
    Master,
    Worker,
}

impl PortName {
    /// Fluid's allocation order (`allocatePorts`).
    pub const ALL: [PortName; 12] = [
        PortName::MasterRpc,
        PortName::MasterWeb,
        PortName::WorkerRpc,
        PortName::WorkerWeb,
        PortName::JobMasterRpc,
        PortName::JobMasterWeb,
        PortName::JobWorkerRpc,
        PortName::JobWorkerWeb,
        PortName::JobWorkerData,
        PortName::ApiGatewayRest,
        PortName::MasterEmbedded,
        PortName::JobMasterEmbedded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PortName::MasterRpc => "master.rpc",
            PortName::MasterWeb => "master.web",
            PortName::MasterEmbedded => "master.embedded",
            PortName::WorkerRpc => "worker.rpc",
            PortName::WorkerWeb => "worker.web",
            PortName::JobMasterRpc => "jobMaster.rpc",
            PortName::JobMasterWeb => "jobMaster.web",
            PortName::JobMasterEmbedded => "jobMaster.embedded",
            PortName::JobWorkerRpc => "jobWorker.rpc",
            PortName::JobWorkerWeb => "jobWorker.web",
            PortName::JobWorkerData => "jobWorker.data",
            PortName::ApiGatewayRest => "apiGateway.rest",
        }
    }

    /// `(component, port)` as written under `spec.<component>.ports.<port>`.
    pub fn spec_key(self) -> (&'static str, &'static str) {
        match self {
            PortName::MasterRpc => ("master", "rpc"),
            PortName::MasterWeb => ("master", "web"),
            PortName::MasterEmbedded => ("master", "embedded"),
            PortName::WorkerRpc => ("worker", "rpc"),
            PortName::WorkerWeb => ("worker", "web"),
            PortName::JobMasterRpc => ("jobMaster", "rpc"),
            PortName::JobMasterWeb => ("jobMaster", "web"),
            PortName::JobMasterEmbedded => ("jobMaster", "embedded"),
            PortName::JobWorkerRpc => ("jobWorker", "rpc"),
            PortName::JobWorkerWeb => ("jobWorker", "web"),
            PortName::JobWorkerData => ("jobWorker", "data"),
            PortName::ApiGatewayRest => ("apiGateway", "rest"),
        }
    }

    /// The Alluxio property that sets this port.
    pub fn property(self) -> &'static str {
        match self {
            PortName::MasterRpc => "alluxio.master.rpc.port",
            PortName::MasterWeb => "alluxio.master.web.port",
            PortName::MasterEmbedded => "alluxio.master.embedded.journal.port",
            PortName::WorkerRpc => "alluxio.worker.rpc.port",
            PortName::WorkerWeb => "alluxio.worker.web.port",
            PortName::JobMasterRpc => "alluxio.job.master.rpc.port",
            PortName::JobMasterWeb => "alluxio.job.master.web.port",
            PortName::JobMasterEmbedded => "alluxio.job.master.embedded.journal.port",
            PortName::JobWorkerRpc => "alluxio.job.worker.rpc.port",
            PortName::JobWorkerWeb => "alluxio.job.worker.web.port",
            PortName::JobWorkerData => "alluxio.job.worker.data.port",
            PortName::ApiGatewayRest => "alluxio.proxy.web.port",
        }
    }

    /// Fluid's fixed port, used off host network (`generateStaticPorts`) and when no
    /// allocation is given.
    pub fn fixed(self) -> u16 {
        match self {
            PortName::MasterRpc => 19998,
            PortName::MasterWeb => 19999,
            PortName::MasterEmbedded => 19200,
            PortName::WorkerRpc => 29999,
            PortName::WorkerWeb => 30000,
            PortName::JobMasterRpc => 20001,
            PortName::JobMasterWeb => 20002,
            PortName::JobMasterEmbedded => 20003,
            PortName::JobWorkerRpc => 30001,
            PortName::JobWorkerData => 30002,
            PortName::JobWorkerWeb => 30003,
            PortName::ApiGatewayRest => 39999,
        }
    }

    pub fn pod(self) -> PortPod {
        match self.spec_key().0 {
            "worker" | "jobWorker" => PortPod::Worker,
            _ => PortPod::Master,
        }
    }
}

impl fmt::Display for PortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PortName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PortName::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| format!("{s:?} is not a port name"))
    }
}

/// An inclusive range of host ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// Fluid's `--runtime-node-port-range` default for Alluxio.
    pub const DEFAULT: PortRange = PortRange { first: 20000, last: 25000 };

    /// How many ports the range holds (none when `last < first`).
    pub fn len(self) -> usize {
        if self.last < self.first { 0 } else { usize::from(self.last - self.first) + 1 }
    }

    pub fn is_empty(self) -> bool {
        self.last < self.first
    }

    pub fn contains(self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

impl Default for PortRange {
    fn default() -> Self {
        PortRange::DEFAULT
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Parses `"<first>-<last>"` (inclusive, `1 <= first <= last <= 65535`) or a single port.
pub fn parse_port_range(s: &str) -> Result<PortRange, String> {
    let port = |p: &str| -> Result<u16, String> {
        let p = p.trim();
        match p.parse::<u16>() {
            Ok(0) => Err(format!("{s:?}: port 0 is not a host port")),
            Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(format!("{s:?} is not a port range such as 20000-25000 (ports 1-65535)")),
        }
    };
    let (first, last) = match s.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(s)?;
            (p, p)
        }
    };
    if first > last {
        return Err(format!("{s:?}: the first port is above the last"));
    }
    Ok(PortRange { first, last })
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_port_range(s)
    }
}

/// The range has too few free ports for what a runtime needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host port range {range} is exhausted: {needed} more ports needed, {free} free")]
pub struct Exhausted {
    pub range: PortRange,
    /// Ports this allocation had still to find.
    pub needed: usize,
    /// Free ports left in the range.
    pub free: usize,
}

fn component<'a>(rt: &'a AlluxioRuntime, key: &str) -> Option<&'a ComponentSpec> {
    let s = &rt.spec;
    match key {
        "master" => s.master.as_ref(),
        "worker" => s.worker.as_ref(),
        "jobMaster" => s.job_master.as_ref(),
        "jobWorker" => s.job_worker.as_ref(),
        _ => s.api_gateway.as_ref(),
    }
}

/// True when the pod runs on the host network (`networkMode` empty or `HostNetwork`).
pub fn host_network(rt: &AlluxioRuntime, pod: PortPod) -> bool {
    let c = match pod {
        PortPod::Master => rt.spec.master.as_ref(),
        PortPod::Worker => rt.spec.worker.as_ref(),
    };
    c.and_then(|c| c.network_mode.as_deref()) != Some("ContainerNetwork")
}

/// Every port name the runtime's pods listen on, in Fluid's order: the gateway's only when
/// it is enabled, the embedded journal's only with more than one master.
pub fn used(rt: &AlluxioRuntime) -> Vec<PortName> {
    let gateway = rt.spec.api_gateway.as_ref().is_some_and(|g| g.enabled == Some(true));
    let ha = rt.spec.master.as_ref().and_then(|m| m.replicas).unwrap_or(0) > 1;
    PortName::ALL
        .into_iter()
        .filter(|p| match p {
            PortName::ApiGatewayRest => gateway,
            PortName::MasterEmbedded | PortName::JobMasterEmbedded => ha,
            _ => true,
        })
        .collect()
}

/// Ports the runtime fixes itself: a number in `spec.properties` (the port's Alluxio
/// property) wins, then `spec.<component>.ports`. Applies on every network.
pub fn overrides(rt: &AlluxioRuntime) -> BTreeMap<PortName, u16> {
    let props = rt.spec.properties.as_ref();
    used(rt)
        .into_iter()
        .filter_map(|p| {
            let from_props =
                props.and_then(|m| m.get(p.property())).and_then(|v| v.trim().parse::<u16>().ok()).filter(|&n| n > 0);
            let (comp, key) = p.spec_key();
            let from_spec = || {
                component(rt, comp)
                    .and_then(|c| c.ports.as_ref())
                    .and_then(|m| m.get(key))
                    .and_then(|&n| u16::try_from(n).ok())
                    .filter(|&n| n > 0)
            };
            from_props.or_else(from_spec).map(|n| (p, n))
        })
        .collect()
}

/// The port names the runtime needs from the allocator: those of host-network pods that
/// no override fixes, in Fluid's allocation order.
pub fn needed(rt: &AlluxioRuntime) -> Vec<PortName> {
    let fixed = overrides(rt);
    used(rt).into_iter().filter(|p| host_network(rt, p.pod()) && !fixed.contains_key(p)).collect()
}

/// The host ports the runtime's pods bind, given its allocation: what other runtimes on
/// the cluster must not be given. Container-network pods bind none.
pub fn host_ports(rt: &AlluxioRuntime, allocated: &BTreeMap<PortName, u16>) -> BTreeSet<u16> {
    let fixed = overrides(rt);
    used(rt)
        .into_iter()
        .filter(|p| host_network(rt, p.pod()))
        .filter_map(|p| fixed.get(&p).or_else(|| allocated.get(&p)).copied())
        .collect()
}

/// Allocates a port for every name in `needed`: the port `previous` gave the name when it is
/// still in `range` and not in `taken`, else the lowest port of `range` that is neither in
/// `taken` nor given to another name. Names not in `needed` are dropped (their ports are
/// free again). `taken` is what the runtime must not use: the host ports of every other
/// runtime on the cluster (`host_ports`) and this runtime's own `overrides`.
pub fn allocate(
    range: PortRange,
    taken: &BTreeSet<u16>,
    previous: &BTreeMap<PortName, u16>,
    needed: &[PortName],
) -> Result<BTreeMap<PortName, u16>, Exhausted> {
    let mut out = BTreeMap::new();
    let mut used: BTreeSet<u16> = taken.clone();
    let mut fresh: Vec<PortName> = Vec::new();
    for &name in needed {
        if out.contains_key(&name) || fresh.contains(&name) {
            continue;
        }
        match previous.get(&name) {
            Some(&p) if range.contains(p) && used.insert(p) => {
                out.insert(name, p);
            }
            _ => fresh.push(name),
        }
    }
    let free: Vec<u16> = (range.first..=range.last).filter(|p| !used.contains(p)).take(fresh.len()).collect();
    if free.len() < fresh.len() {
        return Err(Exhausted { range, needed: fresh.len(), free: free.len() });
    }
    out.extend(fresh.into_iter().zip(free));
    Ok(out)
}

#[cfg(test)]
#[path = "ports_tests.rs"]
mod tests;

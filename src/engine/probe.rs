//! Probing a registered cluster: its version, what is installed of Fluid (recorded on the
//! cluster: an `auto` cluster gets its mode from it), and whether its credentials may do
//! what fluidform needs there (SelfSubjectAccessReview for every verb on every kind it
//! writes in that mode).

use super::{ConnectError, Context, ReachError};
use crate::domain::fluid::{Detection, Mode};
use crate::domain::kinds::{KINDS, Kind};

pub struct Probe {
    pub version: String,
    /// (verb, group, resource, allowed)
    pub permissions: Vec<(String, String, String, bool)>,
    pub detection: Detection,
    pub mode: Mode,
}

/// The kinds a standalone cluster needs fluidform to write.
const STANDALONE: [Kind; 5] = [Kind::Secret, Kind::ConfigMap, Kind::Service, Kind::StatefulSet, Kind::DaemonSet];
/// The kinds a fluid cluster needs fluidform to write (workloads: their pull-secret lists).
const FLUID: [Kind; 8] = [
    Kind::Secret,
    Kind::Dataset,
    Kind::AlluxioRuntime,
    Kind::JindoRuntime,
    Kind::ThinRuntime,
    Kind::ThinRuntimeProfile,
    Kind::StatefulSet,
    Kind::DaemonSet,
];

/// Connects, reads the server version and what is installed of Fluid, and checks every
/// verb fluidform needs on the objects it manages, cluster-wide.
pub async fn probe(ctx: &Context, name: &str) -> Result<Probe, ReachError> {
    probe_named(ctx, name).await.map_err(|e| ReachError::new(name, e))
}

async fn probe_named(ctx: &Context, name: &str) -> Result<Probe, ConnectError> {
    let client = ctx.cluster(name).await?;
    let version = client.version().await?;
    let (resources, controllers) = client.discover_fluid().await?;
    let detection = Detection::from_resources(resources, controllers, ctx.now());
    let rec = ctx.store.record_detection(name, &detection).await?;
    let mode = rec.effective_mode().unwrap_or(Mode::Standalone);
    let kinds: &[Kind] = if mode == Mode::Fluid { &FLUID } else { &STANDALONE };
    let mut permissions = Vec::new();
    for info in KINDS.iter().filter(|k| kinds.contains(&k.kind)) {
        for verb in ["get", "list", "create", "patch", "delete"] {
            let allowed = client.can_i(verb, info.group, info.plural, None).await?;
            permissions.push((verb.to_string(), info.group.to_string(), info.plural.to_string(), allowed));
        }
    }
    for verb in ["get", "create"] {
        let allowed = client.can_i(verb, "", "namespaces", None).await?;
        permissions.push((verb.to_string(), String::new(), "namespaces".to_string(), allowed));
    }
    Ok(Probe { version, permissions, detection, mode })
}

//! Probing a registered cluster: its version and whether its credentials may do what
//! fluidform needs (SelfSubjectAccessReview for every verb on every kind it writes).

use super::{ConnectError, Context};
use crate::domain::kinds::{KINDS, Kind};

pub struct Probe {
    pub version: String,
    /// (verb, group, resource, allowed)
    pub permissions: Vec<(String, String, String, bool)>,
}

/// The kinds a standalone cluster needs fluidform to write.
const STANDALONE: [Kind; 5] = [Kind::Secret, Kind::ConfigMap, Kind::Service, Kind::StatefulSet, Kind::DaemonSet];

/// Connects, reads the server version and checks every verb fluidform needs on the
/// objects it manages, cluster-wide.
pub async fn probe(ctx: &Context, name: &str) -> Result<Probe, ConnectError> {
    let client = ctx.cluster(name).await?;
    let version = client.version().await?;
    let mut permissions = Vec::new();
    for info in KINDS.iter().filter(|k| STANDALONE.contains(&k.kind)) {
        for verb in ["get", "list", "create", "patch", "delete"] {
            let allowed = client.can_i(verb, info.group, info.plural, None).await?;
            permissions.push((verb.to_string(), info.group.to_string(), info.plural.to_string(), allowed));
        }
    }
    for verb in ["get", "create"] {
        let allowed = client.can_i(verb, "", "namespaces", None).await?;
        permissions.push((verb.to_string(), String::new(), "namespaces".to_string(), allowed));
    }
    Ok(Probe { version, permissions })
}

//! The one table of Kubernetes kinds fluidform writes or reads: API version, plural,
//! scope, and the apply wave each belongs to.
//!
//! A run applies objects wave by wave, and within a wave concurrently: namespaces first
//! (when the plan creates them), then the credential Secrets pods pull with, then the
//! objects workloads read (ConfigMaps, Services, Datasets, ThinRuntimeProfiles), then the
//! workloads and runtime custom resources. Deletions run after every apply, in reverse
//! wave order, so a workload goes before the Secret it pulled with.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Kind {
    Namespace,
    Secret,
    ConfigMap,
    Service,
    StatefulSet,
    DaemonSet,
    Pod,
    Dataset,
    AlluxioRuntime,
    JindoRuntime,
    ThinRuntime,
    ThinRuntimeProfile,
}

/// What the API server and a run need to know about a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    pub kind: Kind,
    pub name: &'static str,
    pub group: &'static str,
    pub api_version: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// The apply wave (see the module doc); `None` for kinds a run never writes.
    pub wave: Option<u8>,
}

const fn info(
    kind: Kind,
    name: &'static str,
    group: &'static str,
    api_version: &'static str,
    plural: &'static str,
    namespaced: bool,
    wave: Option<u8>,
) -> KindInfo {
    KindInfo { kind, name, group, api_version, plural, namespaced, wave }
}

const FLUID: &str = "data.fluid.io";
const FLUID_V: &str = "data.fluid.io/v1alpha1";

/// Every kind, in apply order.
pub const KINDS: [KindInfo; 12] = [
    info(Kind::Namespace, "Namespace", "", "v1", "namespaces", false, Some(0)),
    info(Kind::Secret, "Secret", "", "v1", "secrets", true, Some(1)),
    info(Kind::ConfigMap, "ConfigMap", "", "v1", "configmaps", true, Some(2)),
    info(Kind::Service, "Service", "", "v1", "services", true, Some(2)),
    info(Kind::Dataset, "Dataset", FLUID, FLUID_V, "datasets", true, Some(2)),
    info(Kind::ThinRuntimeProfile, "ThinRuntimeProfile", FLUID, FLUID_V, "thinruntimeprofiles", false, Some(2)),
    info(Kind::StatefulSet, "StatefulSet", "apps", "apps/v1", "statefulsets", true, Some(3)),
    info(Kind::DaemonSet, "DaemonSet", "apps", "apps/v1", "daemonsets", true, Some(3)),
    info(Kind::AlluxioRuntime, "AlluxioRuntime", FLUID, FLUID_V, "alluxioruntimes", true, Some(3)),
    info(Kind::JindoRuntime, "JindoRuntime", FLUID, FLUID_V, "jindoruntimes", true, Some(3)),
    info(Kind::ThinRuntime, "ThinRuntime", FLUID, FLUID_V, "thinruntimes", true, Some(3)),
    info(Kind::Pod, "Pod", "", "v1", "pods", true, None),
];

/// Waves a run goes through, in order.
pub const WAVES: [u8; 4] = [0, 1, 2, 3];

impl Kind {
    pub fn info(self) -> &'static KindInfo {
        KINDS.iter().find(|k| k.kind == self).expect("every kind is in the table")
    }

    pub fn as_str(self) -> &'static str {
        self.info().name
    }

    pub fn api_version(self) -> &'static str {
        self.info().api_version
    }

    /// The kind named `name` (`"StatefulSet"`), if fluidform knows it.
    pub fn parse(name: &str) -> Option<Kind> {
        KINDS.iter().find(|k| k.name == name).map(|k| k.kind)
    }

    /// The apply wave; kinds a run never writes sort last.
    pub fn wave(self) -> u8 {
        self.info().wave.unwrap_or(u8::MAX)
    }

    /// The kinds of objects a workload runs pods from.
    pub fn is_workload(self) -> bool {
        matches!(self, Kind::StatefulSet | Kind::DaemonSet)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_kind_once_in_wave_order() {
        for k in KINDS {
            assert_eq!(Kind::parse(k.name), Some(k.kind));
            assert_eq!(serde_json::to_value(k.kind).unwrap(), k.name, "serde and the table agree");
            assert_eq!(KINDS.iter().filter(|o| o.kind == k.kind).count(), 1);
        }
        let waves: Vec<u8> = KINDS.iter().map(|k| k.kind.wave()).collect();
        assert!(waves.windows(2).all(|w| w[0] <= w[1]), "{waves:?}");
        assert_eq!(Kind::parse("Deployment"), None);
        assert!(Kind::Secret.wave() < Kind::StatefulSet.wave());
        assert!(Kind::Dataset.wave() < Kind::AlluxioRuntime.wave());
        assert!(!Kind::ThinRuntimeProfile.info().namespaced);
    }
}

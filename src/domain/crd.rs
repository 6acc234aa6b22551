//! fluidform's own CustomResourceDefinitions for the kinds it writes (Dataset,
//! AlluxioRuntime, JindoRuntime, ThinRuntime, ThinRuntimeProfile), generated from its
//! manifest types, so a cluster or a test API server without Fluid can hold the objects
//! fluidform applies, validated by exactly the fields fluidform models.
//!
//! - Group `data.fluid.io`, one version `v1alpha1` (served, storage), names, short names,
//!   categories and scope as Fluid's CRDs (a826600): ThinRuntimeProfile is cluster-scoped,
//!   the others namespaced.
//! - `spec` is the structural form of the type's utoipa schema (see `schema`): the same
//!   fields the API accepts, Kubernetes-typed values preserved whole, quantities
//!   int-or-string. `metadata` is `type: object`, as Kubernetes requires.
//! - `status` is a subresource; its schema is `type: object` with
//!   `x-kubernetes-preserve-unknown-fields: true`, because Fluid's controllers write it and
//!   fluidform never does. AlluxioRuntime and JindoRuntime also carry Fluid's `scale`
//!   subresource (`.spec.replicas`, `.status.currentWorkerNumberScheduled`, Alluxio's
//!   selector `.status.selector`), so `kubectl scale` behaves as with Fluid's CRDs.
//! - Printer columns are not carried: they read status fields that only Fluid fills.
//! - On a cluster running Fluid, Fluid's own CRDs stay authoritative; these are not meant
//!   to replace them.

use serde_json::{Value, json};
use utoipa::ToSchema;

use super::dataset::Dataset;
use super::jindo::JindoRuntime;
use super::manifest::AlluxioRuntime;
use super::thin::{ThinRuntime, ThinRuntimeProfile};

pub mod schema;

pub const GROUP: &str = "data.fluid.io";
pub const VERSION: &str = "v1alpha1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// The `scale` subresource's paths.
#[derive(Debug, Clone, Copy)]
struct Scale {
    label_selector_path: Option<&'static str>,
}

/// How one kind is named and served, as in Fluid's CRD.
#[derive(Debug, Clone, Copy)]
struct Names {
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    scope: Scope,
    scale: Option<Scale>,
}

const DATASET: Names = Names {
    kind: "Dataset",
    plural: "datasets",
    singular: "dataset",
    short_names: &["dataset"],
    categories: &["fluid"],
    scope: Scope::Namespaced,
    scale: None,
};
const ALLUXIO: Names = Names {
    kind: "AlluxioRuntime",
    plural: "alluxioruntimes",
    singular: "alluxioruntime",
    short_names: &["alluxio"],
    categories: &["fluid"],
    scope: Scope::Namespaced,
    scale: Some(Scale { label_selector_path: Some(".status.selector") }),
};
const JINDO: Names = Names {
    kind: "JindoRuntime",
    plural: "jindoruntimes",
    singular: "jindoruntime",
    short_names: &["jindo"],
    categories: &["fluid"],
    scope: Scope::Namespaced,
    scale: Some(Scale { label_selector_path: None }),
};
const THIN: Names = Names {
    kind: "ThinRuntime",
    plural: "thinruntimes",
    singular: "thinruntime",
    short_names: &[],
    categories: &[],
    scope: Scope::Namespaced,
    scale: None,
};
const THIN_PROFILE: Names = Names {
    kind: "ThinRuntimeProfile",
    plural: "thinruntimeprofiles",
    singular: "thinruntimeprofile",
    short_names: &[],
    categories: &[],
    scope: Scope::Cluster,
    scale: None,
};

fn definition<T: ToSchema>(n: &Names) -> Value {
    // The models are fixed at compile time; a failure here is a defect the tests catch.
    let mut root = schema::structural::<T>().unwrap_or_else(|e| panic!("{}: {e}", n.kind));
    root["properties"]["metadata"] = json!({"type": "object"});
    root["properties"]["status"] = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    let mut names = json!({
        "kind": n.kind,
        "listKind": format!("{}List", n.kind),
        "plural": n.plural,
        "singular": n.singular,
    });
    if !n.short_names.is_empty() {
        names["shortNames"] = json!(n.short_names);
    }
    if !n.categories.is_empty() {
        names["categories"] = json!(n.categories);
    }
    let mut subresources = json!({"status": {}});
    if let Some(scale) = n.scale {
        subresources["scale"] =
            json!({"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.currentWorkerNumberScheduled"});
        if let Some(selector) = scale.label_selector_path {
            subresources["scale"]["labelSelectorPath"] = json!(selector);
        }
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{}.{GROUP}", n.plural)},
        "spec": {
            "group": GROUP,
            "names": names,
            "scope": match n.scope { Scope::Namespaced => "Namespaced", Scope::Cluster => "Cluster" },
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": root},
                "subresources": subresources,
            }],
        },
    })
}

/// The CustomResourceDefinitions of every kind fluidform writes, in a stable order.
pub fn crds() -> Vec<Value> {
    vec![
        definition::<Dataset>(&DATASET),
        definition::<AlluxioRuntime>(&ALLUXIO),
        definition::<JindoRuntime>(&JINDO),
        definition::<ThinRuntime>(&THIN),
        definition::<ThinRuntimeProfile>(&THIN_PROFILE),
    ]
}

#[cfg(test)]
mod tests;

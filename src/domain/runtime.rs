//! Runtime manifests of every kind fluidform manages: `AlluxioRuntime`, `JindoRuntime` and
//! `ThinRuntime`, behind one `RuntimeManifest` the engine handles without caring which.
//!
//! - `RuntimeManifest` serializes to exactly the inner manifest's JSON (no wrapper, no tag
//!   of ours): the manifest's own `kind` says what it is.
//! - `parse_manifest` reads `kind` first and then parses strictly as that kind, so an
//!   unknown field is reported against the right schema. A missing or unknown `kind` is a
//!   `FieldError` on `kind` listing the supported kinds. Deserializing a
//!   `RuntimeManifest` (from the store, say) follows the same rule.
//! - A ThinRuntime has no master: `RuntimeKind::components` says which components a kind
//!   has, and the master layer of a Thin manifest is always empty.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::FieldError;
use super::jindo::JindoRuntime;
use super::layers::Component;
use super::manifest::{AlluxioRuntime, ObjectMeta, RuntimeLayers};
use super::parse::{ManifestFormat, from_value, parse_into, parse_value};
use super::thin::ThinRuntime;
use super::validate::{validate_jindo, validate_runtime, validate_thin};

/// The kinds of runtime fluidform manages, named as Kubernetes names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum RuntimeKind {
    #[serde(rename = "AlluxioRuntime")]
    Alluxio,
    #[serde(rename = "JindoRuntime")]
    Jindo,
    #[serde(rename = "ThinRuntime")]
    Thin,
}

impl RuntimeKind {
    pub const ALL: [RuntimeKind; 3] = [RuntimeKind::Alluxio, RuntimeKind::Jindo, RuntimeKind::Thin];

    /// The Kubernetes kind name (`AlluxioRuntime`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Alluxio => "AlluxioRuntime",
            RuntimeKind::Jindo => "JindoRuntime",
            RuntimeKind::Thin => "ThinRuntime",
        }
    }

    pub fn from_kind(kind: &str) -> Option<RuntimeKind> {
        RuntimeKind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// The components whose pods this kind runs, in `Component::ALL` order.
    pub fn components(self) -> &'static [Component] {
        match self {
            RuntimeKind::Alluxio | RuntimeKind::Jindo => &Component::ALL,
            RuntimeKind::Thin => &[Component::Worker, Component::Fuse],
        }
    }

    pub fn has(self, c: Component) -> bool {
        self.components().contains(&c)
    }
}

impl std::fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A runtime manifest of any supported kind.
// A manifest is held a few at a time; boxing the variants would add indirection to every
// match for a saving of a kilobyte or two.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RuntimeManifest {
    Alluxio(AlluxioRuntime),
    Jindo(JindoRuntime),
    Thin(ThinRuntime),
}

impl<'de> Deserialize<'de> for RuntimeManifest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        manifest_from_value(value).map_err(serde::de::Error::custom)
    }
}

fn unsupported_kind(kind: Option<&str>) -> FieldError {
    let supported: Vec<&str> = RuntimeKind::ALL.iter().map(|k| k.as_str()).collect();
    let what = match kind {
        None | Some("") => "is required".to_string(),
        Some(k) => format!("{k:?} is not a supported runtime kind"),
    };
    FieldError::new("kind", format!("{what}; supported kinds are {}", supported.join(", ")))
}

fn kind_of(value: &Value) -> Result<RuntimeKind, FieldError> {
    match value.get("kind") {
        None | Some(Value::Null) => Err(unsupported_kind(None)),
        Some(Value::String(k)) => RuntimeKind::from_kind(k).ok_or_else(|| unsupported_kind(Some(k))),
        Some(_) => Err(FieldError::new("kind", "must be a string")),
    }
}

fn manifest_from_value(value: Value) -> Result<RuntimeManifest, FieldError> {
    Ok(match kind_of(&value)? {
        RuntimeKind::Alluxio => RuntimeManifest::Alluxio(from_value(value)?),
        RuntimeKind::Jindo => RuntimeManifest::Jindo(from_value(value)?),
        RuntimeKind::Thin => RuntimeManifest::Thin(from_value(value)?),
    })
}

/// Parse a runtime manifest of any supported kind, strictly, as a Fluid user writes it.
pub fn parse_manifest(body: &[u8], format: ManifestFormat) -> Result<RuntimeManifest, FieldError> {
    let value = parse_value(body, format)?;
    Ok(match kind_of(&value)? {
        RuntimeKind::Alluxio => RuntimeManifest::Alluxio(parse_into(body, format, value)?),
        RuntimeKind::Jindo => RuntimeManifest::Jindo(parse_into(body, format, value)?),
        RuntimeKind::Thin => RuntimeManifest::Thin(parse_into(body, format, value)?),
    })
}

/// Fluid's rules plus fluidform's for the manifest's kind; every violation, with its field.
pub fn validate_manifest(m: &RuntimeManifest, path_namespace: &str, path_name: &str) -> Vec<FieldError> {
    match m {
        RuntimeManifest::Alluxio(rt) => validate_runtime(rt, path_namespace, path_name),
        RuntimeManifest::Jindo(rt) => validate_jindo(rt, path_namespace, path_name),
        RuntimeManifest::Thin(rt) => validate_thin(rt, path_namespace, path_name),
    }
}

impl RuntimeManifest {
    pub fn kind(&self) -> RuntimeKind {
        match self {
            RuntimeManifest::Alluxio(_) => RuntimeKind::Alluxio,
            RuntimeManifest::Jindo(_) => RuntimeKind::Jindo,
            RuntimeManifest::Thin(_) => RuntimeKind::Thin,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            RuntimeManifest::Alluxio(rt) => &rt.metadata,
            RuntimeManifest::Jindo(rt) => &rt.metadata,
            RuntimeManifest::Thin(rt) => &rt.metadata,
        }
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.metadata().name
    }

    /// `metadata.labels`, for selection.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.metadata().labels.clone().unwrap_or_default()
    }

    /// `metadata.annotations`.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.metadata().annotations.clone().unwrap_or_default()
    }

    /// The runtime-declared pull-secret layers; a Thin manifest's master layer is empty.
    pub fn layers(&self) -> RuntimeLayers {
        match self {
            RuntimeManifest::Alluxio(rt) => rt.layers(),
            RuntimeManifest::Jindo(rt) => rt.layers(),
            RuntimeManifest::Thin(rt) => rt.layers(),
        }
    }

    /// Replaces the pull-secret name `from` by `to` in one layer (`global`, `master`,
    /// `worker` or `fuse`), keeping its position; true when something changed.
    pub fn replace_in_layer(&mut self, layer: &str, from: &str, to: &str) -> bool {
        match self {
            RuntimeManifest::Alluxio(rt) => rt.replace_in_layer(layer, from, to),
            RuntimeManifest::Jindo(rt) => rt.replace_in_layer(layer, from, to),
            RuntimeManifest::Thin(rt) => rt.replace_in_layer(layer, from, to),
        }
    }

    /// The same manifest with its pull-secret layers set to `layers` (an empty layer
    /// removes its field; a ThinRuntime has no master layer, so `layers.master` is
    /// ignored for it). Every other field is kept as it is.
    pub fn with_layers(&self, layers: &RuntimeLayers) -> Result<RuntimeManifest, FieldError> {
        let mut v = serde_json::to_value(self).map_err(|e| FieldError::new("", e.to_string()))?;
        let spec = v
            .as_object_mut()
            .map(|o| o.entry("spec").or_insert_with(|| Value::Object(Default::default())))
            .and_then(Value::as_object_mut)
            .ok_or_else(|| FieldError::new("spec", "must be an object"))?;
        let refs = |names: &[String]| -> Value {
            Value::Array(names.iter().map(|n| serde_json::json!({"name": n})).collect())
        };
        if layers.global.is_empty() {
            spec.remove("imagePullSecrets");
        } else {
            spec.insert("imagePullSecrets".into(), refs(&layers.global));
        }
        let mut components = vec![("worker", &layers.worker), ("fuse", &layers.fuse)];
        if self.kind().has(Component::Master) {
            components.insert(0, ("master", &layers.master));
        }
        for (key, names) in components {
            let empty = names.is_empty();
            if empty && !spec.contains_key(key) {
                continue;
            }
            let comp = spec.entry(key).or_insert_with(|| Value::Object(Default::default()));
            let Some(c) = comp.as_object_mut() else { continue };
            if empty {
                if c.remove("imagePullSecrets").is_some() && c.is_empty() {
                    spec.remove(key);
                }
            } else {
                c.insert("imagePullSecrets".into(), refs(names));
            }
        }
        manifest_from_value(v)
    }

    /// The ThinRuntimeProfile a ThinRuntime names; `None` for every other kind.
    pub fn profile_name(&self) -> Option<&str> {
        match self {
            RuntimeManifest::Thin(rt) => rt.profile_name(),
            _ => None,
        }
    }
}

impl From<AlluxioRuntime> for RuntimeManifest {
    fn from(rt: AlluxioRuntime) -> Self {
        RuntimeManifest::Alluxio(rt)
    }
}

impl From<JindoRuntime> for RuntimeManifest {
    fn from(rt: JindoRuntime) -> Self {
        RuntimeManifest::Jindo(rt)
    }
}

impl From<ThinRuntime> for RuntimeManifest {
    fn from(rt: ThinRuntime) -> Self {
        RuntimeManifest::Thin(rt)
    }
}

#[cfg(test)]
#[path = "runtime_tests.rs"]
mod tests;

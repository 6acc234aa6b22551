//! A runtime's layer history as the API shows it.

use serde::Serialize;

use crate::store::runtimes as store;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LayerChange {
    /// `cluster`, `global`, `master`, `worker` or `fuse`.
    pub layer: String,
    pub old: Vec<String>,
    pub new: Vec<String>,
}

impl From<store::LayerChange> for LayerChange {
    fn from(r: store::LayerChange) -> Self {
        Self { layer: r.layer, old: r.old, new: r.new }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BindingChange {
    pub credential: String,
    pub old: Option<u32>,
    pub new: Option<u32>,
}

impl From<store::BindingChange> for BindingChange {
    fn from(r: store::BindingChange) -> Self {
        Self { credential: r.credential, old: r.old, new: r.new }
    }
}

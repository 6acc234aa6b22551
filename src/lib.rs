//! fluidform: declarative provisioning of Fluid data runtimes across Kubernetes clusters.
//!
//! Layers point one way: `api` → `service` → `store` → `domain`. The domain is pure.

pub mod api;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod plan;
pub mod rotation;
pub mod secrets;
pub mod service;
pub mod store;
pub mod sync;

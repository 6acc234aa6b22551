//! fluidform: declarative provisioning of Fluid data runtimes across Kubernetes clusters.
//!
//! Layers point one way: `api` → `engine` → {`service`, `store`, the `Clusters` port} →
//! `domain`; `k8s` implements the port over kube-rs. The domain is pure.

pub mod api;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod domain;
pub mod engine;
pub mod k8s;
pub mod metrics;
pub mod registry;
pub mod secrets;
pub mod service;
pub mod store;

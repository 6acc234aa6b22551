//! The one integration-test binary: the real app on real SQLite files (and, for cluster
//! behaviour, a real kube-apiserver).

#[path = "../support/mod.rs"]
mod support;

mod apply;
mod auth;
mod cli;
mod clusters;
mod credentials;
mod drift;
mod fluid;
mod hardening;
mod openapi;
mod ops;
mod registry;
mod replicas;
mod restart;
mod rotation;
mod runtimes;
mod secrets;
mod standalone;
mod ui;

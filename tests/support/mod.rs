//! Test helpers: the app in process on a temp SQLite file, and (in `cluster`) a real
//! Kubernetes control plane.

#![allow(dead_code)]

pub mod app;
pub mod cluster;
pub mod daemon;
pub mod faults;
pub mod fluid;
pub mod live;
pub mod receiver;
pub mod registry;

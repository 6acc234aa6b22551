//! Runtimes: accept a manifest as a Fluid user writes it, validate it, store it; resolve its
//! pull-secret layers; render its workloads (credential data redacted unless asked for the
//! real bytes, which only the apply path does).

use std::collections::BTreeSet;

use super::credentials::version_secret;
use super::{Result, ServiceError};
use crate::domain::layers::{Resolution, resolve};
use crate::domain::manifest::{ManifestFormat, parse_runtime};
use crate::domain::render::{CredentialSecret, RenderInput, RenderedObject, render};
use crate::domain::validate::validate_runtime;
use crate::secrets::MasterKey;
use crate::store::Store;
use crate::store::runtimes::{RuntimeContext, RuntimeRecord};

pub struct PutRuntime<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub cluster: &'a str,
    pub body: &'a [u8],
    pub format: ManifestFormat,
    pub if_match: Option<&'a str>,
    pub actor: &'a str,
}

pub async fn put_runtime(store: &Store, req: PutRuntime<'_>) -> Result<(RuntimeRecord, bool)> {
    let runtime = parse_runtime(req.body, req.format).map_err(|e| ServiceError::Invalid(vec![e]))?;
    let errors = validate_runtime(&runtime, req.namespace, req.name);
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    Ok(store.put_runtime(req.namespace, req.name, req.cluster, &runtime, req.if_match, req.actor).await?)
}

pub fn resolution(ctx: &RuntimeContext) -> Resolution {
    resolve(&ctx.runtime.layers(), &ctx.cluster_default, &ctx.bindings)
}

/// How credential Secrets appear in rendered output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretData {
    Redacted,
    Real,
}

/// Renders every object of a runtime.
pub async fn render_runtime(
    store: &Store,
    key: &MasterKey,
    ctx: &RuntimeContext,
    data: SecretData,
) -> Result<Vec<RenderedObject>> {
    let resolution = resolution(ctx);
    let mut in_use: BTreeSet<(String, u32)> = BTreeSet::new();
    for (_, comp) in resolution.components() {
        for s in &comp.image_pull_secrets {
            if let (Some(c), Some(v)) = (&s.credential, s.version) {
                in_use.insert((c.clone(), v));
            }
        }
    }
    let mut secrets = Vec::with_capacity(in_use.len());
    for (credential, version) in in_use {
        let dockerconfigjson = match data {
            SecretData::Redacted => None,
            SecretData::Real => Some(version_secret(store, key, &credential, version).await?),
        };
        secrets.push(CredentialSecret { credential, version, dockerconfigjson });
    }
    Ok(render(&RenderInput {
        namespace: &ctx.record.namespace,
        name: &ctx.record.name,
        runtime: &ctx.runtime,
        resolution: &resolution,
        secrets: &secrets,
    }))
}

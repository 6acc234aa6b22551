//! Runtimes: accept a manifest as a Fluid user writes it, validate it, store it; resolve its
//! pull-secret layers; render its workloads (credential data redacted unless asked for the
//! real bytes, which only the apply path does).

use std::collections::{BTreeMap, BTreeSet};

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

/// Decrypted credential versions, kept for the length of one run (each version is opened
/// once however many runtimes pull with it).
pub type SecretCache = BTreeMap<(String, u32), Vec<u8>>;

/// The credential versions a runtime's pods pull with.
pub fn secrets_in_use(resolution: &Resolution) -> BTreeSet<(String, u32)> {
    let mut in_use = BTreeSet::new();
    for (_, comp) in resolution.components() {
        for s in &comp.image_pull_secrets {
            if let (Some(c), Some(v)) = (&s.credential, s.version) {
                in_use.insert((c.clone(), v));
            }
        }
    }
    in_use
}

fn render_with(ctx: &RuntimeContext, resolution: &Resolution, secrets: &[CredentialSecret]) -> Vec<RenderedObject> {
    render(&RenderInput {
        namespace: &ctx.record.namespace,
        name: &ctx.record.name,
        runtime: &ctx.runtime,
        resolution,
        secrets,
        ports: None,
        dataset: None,
    })
}

/// Renders every object of a runtime with credential Secrets redacted (no data): what plans
/// compare and the manifests view shows. Pure.
pub fn render_redacted(ctx: &RuntimeContext) -> Vec<RenderedObject> {
    let resolution = resolution(ctx);
    let secrets: Vec<CredentialSecret> = secrets_in_use(&resolution)
        .into_iter()
        .map(|(credential, version)| CredentialSecret { credential, version, dockerconfigjson: None })
        .collect();
    render_with(ctx, &resolution, &secrets)
}

/// The `.dockerconfigjson` of a credential version, opened once per cache.
pub async fn cached_secret(
    store: &Store,
    key: &MasterKey,
    cache: &mut SecretCache,
    credential: &str,
    version: u32,
) -> Result<Vec<u8>> {
    if let Some(b) = cache.get(&(credential.to_string(), version)) {
        return Ok(b.clone());
    }
    let bytes = version_secret(store, key, credential, version).await?;
    cache.insert((credential.to_string(), version), bytes.clone());
    Ok(bytes)
}

/// Renders every object of a runtime with the real Secret bytes: only the apply path does.
pub async fn render_real(
    store: &Store,
    key: &MasterKey,
    ctx: &RuntimeContext,
    cache: &mut SecretCache,
) -> Result<Vec<RenderedObject>> {
    let resolution = resolution(ctx);
    let mut secrets = Vec::new();
    for (credential, version) in secrets_in_use(&resolution) {
        let bytes = cached_secret(store, key, cache, &credential, version).await?;
        secrets.push(CredentialSecret { credential, version, dockerconfigjson: Some(bytes) });
    }
    Ok(render_with(ctx, &resolution, &secrets))
}

//! Runtimes: accept a manifest as a Fluid user writes it, validate it, store it; resolve its
//! pull-secret layers; render its workloads (credential data redacted unless asked for the
//! real bytes, which only the apply path does).

use std::collections::{BTreeMap, BTreeSet};

use super::credentials::version_secret;
use super::{Result, ServiceError};
use crate::domain::FieldError;
use crate::domain::dataset::parse_dataset;
use crate::domain::fluid::{FLUID_RENDERER, FluidInput, Mode, render_fluid};
use crate::domain::layers::{Resolution, resolve_layers};
use crate::domain::manifest::{ManifestFormat, RuntimeLayers};
use crate::domain::quirks::{Quirk, quirks};
use crate::domain::render::{CredentialSecret, RENDERER, RenderInput, RenderedObject, render};
use crate::domain::runtime::{RuntimeKind, RuntimeManifest, parse_manifest, validate_manifest};
use crate::domain::validate::validate_dataset;
use crate::secrets::MasterKey;
use crate::store::Store;
use crate::store::datasets::DatasetRecord;
use crate::store::runtimes::{LayerRevision, RuntimeContext, RuntimeRecord};

pub struct PutRuntime<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub cluster: &'a str,
    pub body: &'a [u8],
    pub format: ManifestFormat,
    pub if_match: Option<&'a str>,
    pub actor: &'a str,
}

/// What a runtime PUT stored.
pub struct PutRuntimeOutcome {
    pub record: RuntimeRecord,
    pub created: bool,
    /// The Dataset given in the same body, when there was one.
    pub dataset: Option<(DatasetRecord, bool)>,
    /// See `runtime_warnings`.
    pub warnings: Vec<Quirk>,
}

/// The documents of a body: one for JSON, each `---`-separated one for YAML.
fn documents(body: &[u8], format: ManifestFormat) -> Vec<Vec<u8>> {
    if format == ManifestFormat::Json {
        return vec![body.to_vec()];
    }
    let text = String::from_utf8_lossy(body);
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            docs.push(line.strip_prefix("---").unwrap_or_default().trim_start().to_string());
            continue;
        }
        let last = docs.last_mut().expect("never empty");
        last.push_str(line);
        last.push('\n');
    }
    docs.into_iter()
        .filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')))
        .map(String::into_bytes)
        .collect()
}

fn kind_of(doc: &[u8], format: ManifestFormat) -> Option<String> {
    let v: serde_json::Value = match format {
        ManifestFormat::Json => serde_json::from_slice(doc).ok()?,
        ManifestFormat::Yaml => serde_saphyr::from_slice(doc).ok()?,
    };
    v.get("kind").and_then(|k| k.as_str()).map(String::from)
}

fn prefixed(prefix: &str, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| {
            FieldError::new(
                if e.field.is_empty() { prefix.to_string() } else { format!("{prefix}.{}", e.field) },
                e.message,
            )
        })
        .collect()
}

/// Validates and stores a runtime manifest (any supported kind), and the Dataset of the same
/// namespace and name when the body carries one as a second YAML document. A JindoRuntime
/// or ThinRuntime on a `standalone` cluster is refused (standalone rendering is
/// AlluxioRuntime only); a ThinRuntime must name a ThinRuntimeProfile stored for its cluster.
pub async fn put_runtime(store: &Store, req: PutRuntime<'_>) -> Result<PutRuntimeOutcome> {
    let docs = documents(req.body, req.format);
    let multi = docs.len() > 1;
    let (mut runtime_doc, mut dataset_doc) = (None, None);
    for (i, d) in docs.iter().enumerate() {
        match kind_of(d, req.format).as_deref() {
            Some("Dataset") if multi && dataset_doc.is_none() => dataset_doc = Some(d),
            Some("Dataset") if multi => {
                return Err(ServiceError::invalid(
                    format!("documents[{i}]"),
                    "a second Dataset; give one runtime and at most one Dataset",
                ));
            }
            _ if runtime_doc.is_none() => runtime_doc = Some(d),
            _ => {
                return Err(ServiceError::invalid(
                    format!("documents[{i}]"),
                    "a second runtime; give one runtime and at most one Dataset",
                ));
            }
        }
    }
    let body = runtime_doc.map(Vec::as_slice).unwrap_or(req.body);
    let runtime = parse_manifest(body, req.format).map_err(|e| ServiceError::Invalid(vec![e]))?;
    let mut errors = validate_manifest(&runtime, req.namespace, req.name);
    let dataset = match dataset_doc {
        Some(d) => match parse_dataset(d, req.format) {
            Ok(ds) => {
                errors.extend(prefixed("dataset", validate_dataset(&ds, req.namespace, req.name)));
                Some(ds)
            }
            Err(e) => {
                errors.extend(prefixed("dataset", vec![e]));
                None
            }
        },
        None => None,
    };
    let cluster = store.get_cluster(req.cluster).await.ok();
    if let Some(cluster) = &cluster {
        if runtime.kind() != RuntimeKind::Alluxio && cluster.mode == crate::domain::fluid::ClusterMode::Standalone {
            errors.push(FieldError::new(
                "kind",
                format!(
                    "{} needs Fluid: cluster {:?} is standalone, where fluidform renders AlluxioRuntimes only",
                    runtime.kind(),
                    req.cluster
                ),
            ));
        }
        if let Some(p) = runtime.profile_name()
            && store.get_profile(req.cluster, p).await.is_err()
        {
            errors.push(FieldError::new(
                "spec.profileName",
                format!("ThinRuntimeProfile {p:?} is not stored for cluster {:?}; PUT /v1/thinruntimeprofiles/{p}?cluster={} first", req.cluster, req.cluster),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let (record, created, dataset) = store
        .put_runtime_with_dataset(
            req.namespace,
            req.name,
            req.cluster,
            &runtime,
            dataset.as_ref(),
            req.if_match,
            req.actor,
        )
        .await?;
    let default = cluster.map(|c| c.default_image_pull_secrets).unwrap_or_default();
    let warnings = runtime_warnings(store, &record, &runtime, &default).await?;
    Ok(PutRuntimeOutcome { record, created, dataset, warnings })
}

/// The runtime's own layers (global, master, worker, fuse) as they were after layer
/// revision `revision`, replayed from its history; `None` when there is no such revision.
pub fn layers_at(history: &[LayerRevision], revision: i64) -> Option<RuntimeLayers> {
    if !history.iter().any(|r| r.revision == revision) {
        return None;
    }
    let mut out = RuntimeLayers::default();
    for r in history.iter().filter(|r| r.revision <= revision) {
        for c in &r.layers {
            match c.layer.as_str() {
                "global" => out.global = c.new.clone(),
                "master" => out.master = c.new.clone(),
                "worker" => out.worker = c.new.clone(),
                "fuse" => out.fuse = c.new.clone(),
                _ => {} // the cluster layer is the cluster's
            }
        }
    }
    Some(out)
}

/// Restores every layer the runtime declares to what it was after layer revision
/// `revision`, as a new revision (a manifest change: generation up; the history keeps
/// both). Bindings are not rolled back: a name the runtime references keeps the version
/// it is bound to (versions move by rotation). The cluster layer belongs to the cluster and
/// is not touched. Without `if_match` the read-modify-write is guarded by the ETag read,
/// and retried when another write came between.
pub async fn rollback_layers(
    store: &Store,
    namespace: &str,
    name: &str,
    revision: i64,
    if_match: Option<&str>,
    actor: &str,
) -> Result<PutRuntimeOutcome> {
    if revision < 1 {
        return Err(ServiceError::invalid("revision", "must be a layer revision, 1 or more"));
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        let record = store.get_runtime(namespace, name).await?;
        let history = store.layer_history(namespace, name).await?;
        let Some(layers) = layers_at(&history, revision) else {
            return Err(ServiceError::Store(crate::store::StoreError::not_found(format!(
                "layer revision {revision} of runtime {namespace}/{name}"
            ))));
        };
        let current = record.runtime()?;
        let restored = current.with_layers(&layers).map_err(|e| ServiceError::Invalid(vec![e]))?;
        let errors = validate_manifest(&restored, namespace, name);
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let etag = record.etag();
        let guard = if_match.unwrap_or(&etag);
        let reason = format!("layers rolled back to revision {revision}");
        match store.put_runtime_because(namespace, name, &record.cluster, &restored, Some(guard), actor, &reason).await
        {
            Ok((record, _)) => {
                let default = store.get_cluster(&record.cluster).await?.default_image_pull_secrets;
                let warnings = runtime_warnings(store, &record, &restored, &default).await?;
                return Ok(PutRuntimeOutcome { record, created: false, dataset: None, warnings });
            }
            Err(crate::store::StoreError::PreconditionFailed { .. }) if if_match.is_none() && attempts < 3 => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

pub fn resolution(ctx: &RuntimeContext) -> Resolution {
    let layers = ctx.runtime.layers();
    let profile = ctx.profile.as_ref().map(|p| p.layers());
    resolve_layers(&ctx.layer_inputs(&layers, profile.as_ref()), &ctx.bindings)
}

/// The renderer objects of `mode` come from (recorded with what was applied).
pub fn renderer(mode: Mode) -> &'static str {
    match mode {
        Mode::Standalone => RENDERER,
        Mode::Fluid => FLUID_RENDERER,
    }
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

fn render_with(
    ctx: &RuntimeContext,
    mode: Mode,
    resolution: &Resolution,
    secrets: &[CredentialSecret],
) -> Result<Vec<RenderedObject>> {
    match (mode, &ctx.runtime) {
        (Mode::Standalone, RuntimeManifest::Alluxio(rt)) => Ok(render(&RenderInput {
            namespace: &ctx.record.namespace,
            name: &ctx.record.name,
            runtime: rt,
            resolution,
            secrets,
            ports: Some(&ctx.ports),
            dataset: ctx.dataset.as_ref(),
        })),
        (Mode::Standalone, other) => Err(ServiceError::invalid(
            "kind",
            format!(
                "{} {}/{} needs Fluid: its cluster runs standalone, where fluidform renders AlluxioRuntimes only",
                other.kind(),
                ctx.record.namespace,
                ctx.record.name
            ),
        )),
        (Mode::Fluid, manifest) => Ok(render_fluid(&FluidInput {
            namespace: &ctx.record.namespace,
            name: &ctx.record.name,
            manifest,
            resolution,
            bindings: &ctx.bindings,
            dataset: ctx.dataset.as_ref(),
            secrets,
        })),
    }
}

/// What a user should know about a stored runtime although it is valid: Fluid's quirks
/// it runs into (fields Fluid accepts and ignores, components Fluid would resolve
/// otherwise; see `domain::quirks`) and host ports its manifest fixes that another
/// runtime of the cluster binds too.
pub async fn runtime_warnings(
    store: &Store,
    record: &RuntimeRecord,
    runtime: &RuntimeManifest,
    cluster_default: &[String],
) -> Result<Vec<Quirk>> {
    let mut out = match runtime {
        RuntimeManifest::Alluxio(rt) => quirks(rt, cluster_default),
        _ => Vec::new(),
    };
    let props = match runtime {
        RuntimeManifest::Alluxio(rt) => rt.spec.properties.clone().unwrap_or_default(),
        _ => BTreeMap::new(),
    };
    for shared in store.shared_ports(record.id).await? {
        let (component, port) = shared.name.spec_key();
        let field = if props.contains_key(shared.name.property()) {
            format!("spec.properties[{:?}]", shared.name.property())
        } else {
            format!("spec.{component}.ports.{port}")
        };
        out.push(Quirk {
            field,
            message: format!(
                "host port {} is also bound by runtime {} on this cluster: their pods cannot share a node",
                shared.port, shared.other
            ),
        });
    }
    Ok(out)
}

/// Renders every object of a runtime for a cluster running in `mode`, credential Secrets
/// redacted (no data): what plans compare and the manifests view shows. Pure.
pub fn render_redacted(ctx: &RuntimeContext, mode: Mode) -> Result<Vec<RenderedObject>> {
    let resolution = resolution(ctx);
    let secrets: Vec<CredentialSecret> = secrets_in_use(&resolution)
        .into_iter()
        .map(|(credential, version)| CredentialSecret { credential, version, dockerconfigjson: None })
        .collect();
    render_with(ctx, mode, &resolution, &secrets)
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
    mode: Mode,
    cache: &mut SecretCache,
) -> Result<Vec<RenderedObject>> {
    let resolution = resolution(ctx);
    let mut secrets = Vec::new();
    for (credential, version) in secrets_in_use(&resolution) {
        let bytes = cached_secret(store, key, cache, &credential, version).await?;
        secrets.push(CredentialSecret { credential, version, dockerconfigjson: Some(bytes) });
    }
    render_with(ctx, mode, &resolution, &secrets)
}

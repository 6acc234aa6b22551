//! Reading a saved plan: its summary with the first page of changed objects, and pages of
//! its objects with their diffs. A create shows the object as rendered now, checked against
//! the digest the plan recorded; a delete shows what is recorded as applied.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

use super::compare::object_digest;
use super::{Action, Plan, PlanError, PlanInputs, PlanObject, PlanRequest, PlanSummary, PlanWarning, Reason};
use crate::domain::FieldError;
use crate::domain::diff::{diff, normalize};
use crate::domain::fluid::Mode;
use crate::domain::layers::parse_managed_secret_name;
use crate::domain::render::{CredentialSecret, credential_secret_object};
use crate::engine::Context;
use crate::service::runtimes::render_redacted;
use crate::store::StoreError;
use crate::store::plans::{PlanObjectFilter, PlanObjectRow, PlanRecord};
use crate::store::sync::{AppliedObject, ObjectKey};

/// The first page a plan's own answer carries: at most this many objects…
const FIRST_PAGE: usize = 100;
/// …and about this many bytes of them.
const FIRST_PAGE_BYTES: usize = 48 * 1024;

#[derive(Debug, Clone, Default)]
pub struct PlanObjectQuery {
    pub action: Option<Action>,
    pub cluster: Option<String>,
    pub kind: Option<String>,
    pub cursor: Option<String>,
    pub limit: usize,
}

pub struct ObjectPage {
    pub items: Vec<PlanObject>,
    pub next: Option<String>,
}

fn corrupt(id: &str) -> impl Fn(serde_json::Error) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("plan {id}: {e}"))
}

/// A plan's summary and its first changed objects.
pub async fn get_plan(ctx: &Context, id: &str) -> Result<Plan, PlanError> {
    let r: PlanRecord = ctx.store.get_plan(id).await?;
    let rows = ctx.store.plan_objects(id, &PlanObjectFilter::default(), -1, FIRST_PAGE as i64 + 1).await?;
    let more = rows.len() > FIRST_PAGE;
    let mut objects = materialize(ctx, id, rows.into_iter().take(FIRST_PAGE).collect()).await?;
    let mut bytes = 0;
    let mut keep = 0;
    for o in &objects {
        bytes += serde_json::to_vec(o).map(|v| v.len()).unwrap_or(0);
        if keep > 0 && bytes > FIRST_PAGE_BYTES {
            break;
        }
        keep += 1;
    }
    let cut = keep < objects.len() || more;
    objects.truncate(keep);
    let next = cut.then(|| objects.last().map(|_| seq_cursor(keep as i64 - 1))).flatten();
    Ok(Plan {
        request: serde_json::from_value::<PlanRequest>(r.request).map_err(corrupt(id))?,
        inputs: serde_json::from_value::<PlanInputs>(r.inputs).map_err(corrupt(id))?,
        summary: serde_json::from_value::<PlanSummary>(r.summary).map_err(corrupt(id))?,
        warnings: serde_json::from_value::<Vec<PlanWarning>>(r.warnings)
            .map_err(corrupt(id))?
            .into_iter()
            .take(100)
            .collect(),
        warning_count: r.warning_count as usize,
        objects,
        next,
        id: r.id,
        created_at: r.created_at,
        expires_at: r.expires_at,
        created_by: r.created_by,
        run_id: r.run_id,
    })
}

fn seq_cursor(seq: i64) -> String {
    B64.encode(format!("s:{seq}"))
}

fn key_cursor(k: &ObjectKey) -> String {
    B64.encode(format!("k:{}", serde_json::to_string(k).expect("keys serialize")))
}

enum Cursor {
    Seq(i64),
    Key(ObjectKey),
}

fn parse_cursor(c: &str) -> Option<Cursor> {
    let text = String::from_utf8(B64.decode(c).ok()?).ok()?;
    match text.split_once(':')? {
        ("s", n) => n.parse().ok().map(Cursor::Seq),
        ("k", k) => serde_json::from_str(k).ok().map(Cursor::Key),
        _ => None,
    }
}

/// A page of a plan's objects; no-op objects only when asked for with `action: no-op`.
pub async fn plan_objects(ctx: &Context, id: &str, q: &PlanObjectQuery) -> Result<ObjectPage, PlanError> {
    ctx.store.get_plan(id).await?;
    let bad_cursor = || PlanError::Invalid(vec![FieldError::new("cursor", "not a cursor this API returned")]);
    let cursor = q.cursor.as_deref().map(|c| parse_cursor(c).ok_or_else(bad_cursor)).transpose()?;
    if q.action == Some(Action::NoOp) {
        let after = match cursor {
            None => {
                ObjectKey { cluster: String::new(), namespace: String::new(), kind: String::new(), name: String::new() }
            }
            Some(Cursor::Key(k)) => k,
            Some(Cursor::Seq(_)) => return Err(bad_cursor()),
        };
        let rows = ctx
            .store
            .plan_unchanged_objects(id, q.cluster.as_deref(), q.kind.as_deref(), &after, q.limit as i64 + 1)
            .await?;
        let more = rows.len() > q.limit;
        let items: Vec<AppliedObject> = rows.into_iter().take(q.limit).collect();
        let next = more.then(|| items.last().map(|a| key_cursor(&a.key))).flatten();
        let items = items
            .into_iter()
            .map(|a| PlanObject {
                api_version: a.api_version,
                runtime: a.runtime.map(|(ns, n)| format!("{ns}/{n}")),
                cluster: a.key.cluster,
                namespace: a.key.namespace,
                kind: a.key.kind,
                name: a.key.name,
                action: Action::NoOp,
                reasons: vec![],
                diff: vec![],
                patch: (a.scope == crate::store::sync::Scope::PullSecrets).then(|| "imagePullSecrets".into()),
                note: None,
            })
            .collect();
        return Ok(ObjectPage { items, next });
    }
    let after = match cursor {
        None => -1,
        Some(Cursor::Seq(s)) => s,
        Some(Cursor::Key(_)) => return Err(bad_cursor()),
    };
    let filter = PlanObjectFilter {
        action: q.action.map(|a| a.as_str().to_string()),
        cluster: q.cluster.clone(),
        kind: q.kind.clone(),
    };
    let rows = ctx.store.plan_objects(id, &filter, after, q.limit as i64 + 1).await?;
    let more = rows.len() > q.limit;
    let rows: Vec<PlanObjectRow> = rows.into_iter().take(q.limit).collect();
    let next = more.then(|| rows.last().map(|r| seq_cursor(r.seq))).flatten();
    Ok(ObjectPage { items: materialize(ctx, id, rows).await?, next })
}

/// Plan object rows with their diffs filled in.
async fn materialize(ctx: &Context, id: &str, rows: Vec<PlanObjectRow>) -> Result<Vec<PlanObject>, PlanError> {
    let deleted: Vec<ObjectKey> = rows
        .iter()
        .filter(|r| r.action == "delete")
        .map(|r| ObjectKey {
            cluster: r.cluster.clone(),
            namespace: r.namespace.clone(),
            kind: r.kind.clone(),
            name: r.name.clone(),
        })
        .collect();
    let applied: HashMap<ObjectKey, Value> =
        ctx.store.applied_by_keys(&deleted).await?.into_iter().map(|a| (a.key, a.fields)).collect();
    let mut rendered: HashMap<String, Vec<(String, String, Value)>> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let action = Action::parse(&r.action).ok_or_else(|| StoreError::Corrupt(format!("plan {id}: action")))?;
        let reasons: Vec<Reason> = serde_json::from_value(r.reasons.clone()).map_err(corrupt(id))?;
        let key = ObjectKey {
            cluster: r.cluster.clone(),
            namespace: r.namespace.clone(),
            kind: r.kind.clone(),
            name: r.name.clone(),
        };
        let mut note = None;
        let diff_now = match action {
            Action::Update => {
                serde_json::from_value(r.diff.clone().unwrap_or(Value::Array(vec![]))).map_err(corrupt(id))?
            }
            Action::Delete => applied.get(&key).map(|f| diff(f, &Value::Null)).unwrap_or_default(),
            Action::Create | Action::NoOp | Action::Conflict => {
                let desired = desired_now(ctx, &r, &mut rendered).await?;
                match desired {
                    Some(d) if r.digest.as_deref().is_none_or(|g| g == object_digest(&d)) => {
                        diff(&Value::Null, &normalize(&d))
                    }
                    _ => {
                        note = Some("the desired object changed since this plan was made; make a new plan".into());
                        vec![]
                    }
                }
            }
        };
        out.push(PlanObject {
            cluster: r.cluster,
            namespace: r.namespace,
            api_version: r.api_version,
            kind: r.kind,
            name: r.name,
            runtime: r.runtime,
            action,
            reasons,
            diff: diff_now,
            patch: (r.scope == crate::store::sync::Scope::PullSecrets).then(|| "imagePullSecrets".into()),
            note,
        });
    }
    Ok(out)
}

/// The object as it would be rendered now (Secret data redacted), if it still is.
async fn desired_now(
    ctx: &Context,
    r: &PlanObjectRow,
    cache: &mut HashMap<String, Vec<(String, String, Value)>>,
) -> Result<Option<Value>, PlanError> {
    if r.kind == "Secret" {
        return Ok(parse_managed_secret_name(&r.name).map(|(credential, version)| {
            let s = CredentialSecret { credential: credential.into(), version, dockerconfigjson: None };
            credential_secret_object(&r.namespace, &s).object
        }));
    }
    if r.kind == "ThinRuntimeProfile" {
        return Ok(match ctx.store.get_profile(&r.cluster, &r.name).await {
            Ok(p) => Some(crate::domain::fluid::render_profile(&p.profile()?).object),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        });
    }
    let Some(owner) = &r.runtime else { return Ok(None) };
    if !cache.contains_key(owner) {
        let mode = ctx.store.get_cluster(&r.cluster).await?.effective_mode().unwrap_or(Mode::Standalone);
        let objects = match owner.split_once('/') {
            Some((ns, n)) => match ctx.store.runtime_context(ns, n).await {
                Ok(rt) => render_redacted(&rt, mode)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|o| (o.kind, o.name, o.object))
                    .collect(),
                Err(StoreError::NotFound { .. }) => vec![],
                Err(e) => return Err(e.into()),
            },
            None => vec![],
        };
        cache.insert(owner.clone(), objects);
    }
    Ok(cache[owner].iter().find(|(k, n, _)| *k == r.kind && *n == r.name).map(|(_, _, o)| o.clone()))
}

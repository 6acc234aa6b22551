//! `/v1/thinruntimeprofiles`: Fluid's cluster-scoped ThinRuntimeProfiles, stored per cluster
//! (admins write: a profile is shared by every ThinRuntime of its cluster that names it).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::runtimes::{manifest_format, unknown_cluster};
use super::{AppState, ListResponse, if_match};
use crate::domain::thin::ThinRuntimeProfile;
use crate::service::fluid::{PutDocument, put_profile as put_profile_service};
use crate::store::profiles::ProfileRecord;
use crate::store::tokens::Role;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileResponse {
    pub cluster: String,
    pub name: String,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The stored ThinRuntimeProfile.
    #[schema(value_type = ThinRuntimeProfile)]
    pub manifest: serde_json::Value,
}

impl From<ProfileRecord> for ProfileResponse {
    fn from(p: ProfileRecord) -> Self {
        Self {
            cluster: p.cluster,
            name: p.name,
            generation: p.generation,
            created_at: p.created_at,
            updated_at: p.updated_at,
            manifest: p.manifest,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProfileQuery {
    /// The cluster the profile is for (required).
    pub cluster: Option<String>,
}

fn cluster_of(q: &ProfileQuery) -> Result<String, ApiError> {
    q.cluster.clone().filter(|c| !c.is_empty()).ok_or_else(|| {
        ApiError::field(
            "cluster",
            "required: a ThinRuntimeProfile is stored per cluster (?cluster=<registered cluster>)",
        )
    })
}

#[utoipa::path(
    operation_id = "put_thinruntimeprofile", tag = "thinruntimeprofiles", security(("bearer" = [])),
    params(
        ("name" = String, Path, description = "Profile name"),
        ProfileQuery,
        ("If-Match" = Option<String>, Header, description = "ETag the profile must still have"),
    ),
    request_body(content(
        (ThinRuntimeProfile = "application/json"),
        (ThinRuntimeProfile = "application/yaml"),
    ), description = "A Fluid ThinRuntimeProfile as a Fluid user writes it"),
    responses(
        (status = 200, description = "Replaced (or unchanged)", body = ProfileResponse, headers(("ETag" = String))),
        (status = 201, description = "Created", body = ProfileResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/thinruntimeprofiles/{name}")]
pub async fn put_thinruntimeprofile(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ProfileQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    let cluster = cluster_of(&query)?;
    let format = manifest_format(&req)?;
    let if_match = if_match(&req);
    let put = PutDocument {
        namespace: "",
        name: &path,
        cluster: &cluster,
        body: &body,
        format,
        if_match: if_match.as_deref(),
        actor: &caller.name,
    };
    let (rec, created) = put_profile_service(&state.store, put).await.map_err(unknown_cluster(&cluster))?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).insert_header(("ETag", rec.etag())).json(ProfileResponse::from(rec)))
}

#[utoipa::path(
    operation_id = "get_thinruntimeprofile", tag = "thinruntimeprofiles", security(("bearer" = [])),
    params(("name" = String, Path, description = "Profile name"), ProfileQuery),
    responses(
        (status = 200, description = "The profile", body = ProfileResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/thinruntimeprofiles/{name}")]
pub async fn get_thinruntimeprofile(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<ProfileQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let rec = state.store.get_profile(&cluster_of(&query)?, &path).await?;
    Ok(HttpResponse::Ok().insert_header(("ETag", rec.etag())).json(ProfileResponse::from(rec)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListProfilesQuery {
    /// Only profiles of this cluster.
    pub cluster: Option<String>,
}

#[utoipa::path(
    operation_id = "list_thinruntimeprofiles", tag = "thinruntimeprofiles", security(("bearer" = [])),
    params(ListProfilesQuery),
    responses(
        (status = 200, description = "Profiles ordered by cluster and name", body = ListResponse<ProfileResponse>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/thinruntimeprofiles")]
pub async fn list_thinruntimeprofiles(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListProfilesQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let items = state.store.list_profiles(query.cluster.as_deref()).await?;
    Ok(HttpResponse::Ok()
        .json(ListResponse { items: items.into_iter().map(ProfileResponse::from).collect(), next: None }))
}

#[utoipa::path(
    operation_id = "delete_thinruntimeprofile", tag = "thinruntimeprofiles", security(("bearer" = [])),
    params(("name" = String, Path, description = "Profile name"), ProfileQuery,
        ("If-Match" = Option<String>, Header, description = "ETag the profile must still have")),
    responses(
        (status = 204, description = "Deleted from the desired state"),
        (status = "4XX", description = "Problem: profile_in_use while a ThinRuntime names it", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/thinruntimeprofiles/{name}")]
pub async fn delete_thinruntimeprofile(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ProfileQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Admin)?;
    state.store.delete_profile(&cluster_of(&query)?, &path, if_match(&req).as_deref()).await?;
    Ok(HttpResponse::NoContent().finish())
}

//! `/v1/datasets`: Fluid's Datasets as desired state (operators write). A Dataset lives
//! beside the runtime of the same namespace and name, on the same cluster, and is applied
//! with it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::runtimes::{manifest_format, unknown_cluster};
use super::{AppState, ListResponse, if_match};
use crate::domain::dataset::Dataset;
use crate::service::fluid::{PutDocument, put_dataset as put_dataset_service};
use crate::store::datasets::DatasetRecord;
use crate::store::tokens::Role;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetResponse {
    pub namespace: String,
    pub name: String,
    pub cluster: String,
    pub generation: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The stored Dataset.
    #[schema(value_type = Dataset)]
    pub manifest: serde_json::Value,
}

impl From<DatasetRecord> for DatasetResponse {
    fn from(d: DatasetRecord) -> Self {
        Self {
            namespace: d.namespace,
            name: d.name,
            cluster: d.cluster,
            generation: d.generation,
            created_at: d.created_at,
            updated_at: d.updated_at,
            manifest: d.manifest,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DatasetQuery {
    /// Target cluster (needed to create; must be the runtime's).
    pub cluster: Option<String>,
}

#[utoipa::path(
    operation_id = "put_dataset", tag = "datasets", security(("bearer" = [])),
    params(
        ("namespace" = String, Path, description = "Namespace (DNS-1123 label)"),
        ("name" = String, Path, description = "Dataset name: the runtime's (DNS-1035 label)"),
        DatasetQuery,
        ("If-Match" = Option<String>, Header, description = "ETag the Dataset must still have"),
    ),
    request_body(content(
        (Dataset = "application/json"),
        (Dataset = "application/yaml"),
    ), description = "A Fluid Dataset as a Fluid user writes it; secret mount options by reference (encryptOptions) only"),
    responses(
        (status = 200, description = "Replaced (or unchanged)", body = DatasetResponse, headers(("ETag" = String))),
        (status = 201, description = "Created", body = DatasetResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/datasets/{namespace}/{name}")]
pub async fn put_dataset(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<DatasetQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    let (namespace, name) = path.into_inner();
    let format = manifest_format(&req)?;
    let cluster = match query.cluster.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => c.to_string(),
        None => match state.store.get_dataset(&namespace, &name).await {
            Ok(d) => d.cluster,
            Err(crate::store::StoreError::NotFound { .. }) => match state.store.get_runtime(&namespace, &name).await {
                Ok(r) => r.cluster,
                Err(crate::store::StoreError::NotFound { .. }) => {
                    return Err(ApiError::field(
                        "cluster",
                        "required: add ?cluster=<registered cluster> to create a Dataset",
                    ));
                }
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        },
    };
    let if_match = if_match(&req);
    let put = PutDocument {
        namespace: &namespace,
        name: &name,
        cluster: &cluster,
        body: &body,
        format,
        if_match: if_match.as_deref(),
        actor: &caller.name,
    };
    let (rec, created) = put_dataset_service(&state.store, put).await.map_err(unknown_cluster(&cluster))?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(HttpResponse::build(status).insert_header(("ETag", rec.etag())).json(DatasetResponse::from(rec)))
}

#[utoipa::path(
    operation_id = "get_dataset", tag = "datasets", security(("bearer" = [])),
    params(("namespace" = String, Path), ("name" = String, Path)),
    responses(
        (status = 200, description = "The Dataset", body = DatasetResponse, headers(("ETag" = String))),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/datasets/{namespace}/{name}")]
pub async fn get_dataset(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let rec = state.store.get_dataset(&path.0, &path.1).await?;
    Ok(HttpResponse::Ok().insert_header(("ETag", rec.etag())).json(DatasetResponse::from(rec)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListDatasetsQuery {
    /// Only Datasets on this cluster.
    pub cluster: Option<String>,
    /// Only Datasets in this namespace.
    pub namespace: Option<String>,
}

#[utoipa::path(
    operation_id = "list_datasets", tag = "datasets", security(("bearer" = [])),
    params(ListDatasetsQuery),
    responses(
        (status = 200, description = "Datasets ordered by namespace and name", body = ListResponse<DatasetResponse>),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/datasets")]
pub async fn list_datasets(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListDatasetsQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Viewer)?;
    let items = state.store.list_datasets(query.cluster.as_deref(), query.namespace.as_deref()).await?;
    Ok(HttpResponse::Ok()
        .json(ListResponse { items: items.into_iter().map(DatasetResponse::from).collect(), next: None }))
}

#[utoipa::path(
    operation_id = "delete_dataset", tag = "datasets", security(("bearer" = [])),
    params(("namespace" = String, Path), ("name" = String, Path),
        ("If-Match" = Option<String>, Header, description = "ETag the Dataset must still have")),
    responses(
        (status = 204, description = "Deleted from the desired state (the next plan of its runtime deletes it from the cluster)"),
        (status = "4XX", description = "Problem", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/datasets/{namespace}/{name}")]
pub async fn delete_dataset(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Role::Operator)?;
    state.store.delete_dataset(&path.0, &path.1, if_match(&req).as_deref()).await?;
    Ok(HttpResponse::NoContent().finish())
}

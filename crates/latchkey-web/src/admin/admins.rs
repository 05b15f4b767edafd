//! Administrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_proto::admin::{AdminView, CreateAdmin, CreatedAdmin};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AdminAuth, JsonBody, PathParams};
use crate::routes::Routes;

pub(crate) fn routes(r: Routes) -> Routes {
    r.get("/api/v1/admin/admins", list_admins)
        .post("/api/v1/admin/admins", create_admin)
        .delete("/api/v1/admin/admins/{name}", delete_admin)
}

/// Administrators in the caller's scope.
#[utoipa::path(
    get, path = "/api/v1/admin/admins", tag = "admins",
    responses((status = 200, description = "Administrators, by name", body = [AdminView]))
)]
pub async fn list_admins(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
) -> Result<Json<Vec<AdminView>>, ApiError> {
    Ok(Json(s.admin.list_admins(&actor).await?))
}

/// Creates an administrator; the API token and console password are shown this once.
#[utoipa::path(
    post, path = "/api/v1/admin/admins", tag = "admins", request_body = CreateAdmin,
    responses((status = 201, description = "Created; credentials are shown once", body = CreatedAdmin))
)]
pub async fn create_admin(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    JsonBody(req): JsonBody<CreateAdmin>,
) -> Result<(StatusCode, Json<CreatedAdmin>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.admin.create_admin(&actor, req).await?),
    ))
}

/// Deletes another administrator.
#[utoipa::path(
    delete, path = "/api/v1/admin/admins/{name}", tag = "admins",
    params(("name" = String, Path, description = "Administrator name")),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_admin(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(name): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.delete_admin(&actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Users.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_proto::admin::{CreateUser, SetPin, UpdateUser, UserView};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AdminAuth, JsonBody, PathParams};
use crate::routes::Routes;

pub(crate) fn routes(r: Routes) -> Routes {
    r.get("/api/v1/admin/users", list_users)
        .post("/api/v1/admin/users", create_user)
        .get("/api/v1/admin/users/{login}", show_user)
        .patch("/api/v1/admin/users/{login}", update_user)
        .delete("/api/v1/admin/users/{login}", delete_user)
        .put("/api/v1/admin/users/{login}/on-demand", enable_on_demand)
        .delete("/api/v1/admin/users/{login}/on-demand", disable_on_demand)
}

/// Enables on-demand tokencodes for a user (the user types this PIN alone; a tokencode goes
/// to their phone by SMS and answers a next-tokencode challenge), or replaces the PIN.
#[utoipa::path(
    put, path = "/api/v1/admin/users/{login}/on-demand", tag = "users", request_body = SetPin,
    params(("login" = String, Path, description = "Login name")),
    responses((status = 204, description = "Enabled"))
)]
pub async fn enable_on_demand(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
    JsonBody(req): JsonBody<SetPin>,
) -> Result<StatusCode, ApiError> {
    s.admin.enable_on_demand(&actor, &login, &req.pin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disables on-demand tokencodes for a user.
#[utoipa::path(
    delete, path = "/api/v1/admin/users/{login}/on-demand", tag = "users",
    params(("login" = String, Path, description = "Login name")),
    responses((status = 204, description = "Disabled"))
)]
pub async fn disable_on_demand(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.disable_on_demand(&actor, &login).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Users in the caller's scope.
#[utoipa::path(
    get, path = "/api/v1/admin/users", tag = "users",
    responses((status = 200, description = "Users in the caller's scope, by login", body = [UserView]))
)]
pub async fn list_users(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
) -> Result<Json<Vec<UserView>>, ApiError> {
    Ok(Json(s.admin.list_users(&actor).await?))
}

/// Creates a user.
#[utoipa::path(
    post, path = "/api/v1/admin/users", tag = "users", request_body = CreateUser,
    responses((status = 201, description = "Created", body = UserView))
)]
pub async fn create_user(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    JsonBody(req): JsonBody<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.admin.create_user(&actor, req).await?),
    ))
}

/// One user with the serials of their tokens.
#[utoipa::path(
    get, path = "/api/v1/admin/users/{login}", tag = "users",
    params(("login" = String, Path, description = "Login name")),
    responses((status = 200, description = "The user", body = UserView))
)]
pub async fn show_user(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.admin.show_user(&actor, &login).await?))
}

/// Changes status, e-mail, phones or domain of a user.
#[utoipa::path(
    patch, path = "/api/v1/admin/users/{login}", tag = "users", request_body = UpdateUser,
    params(("login" = String, Path, description = "Login name")),
    responses((status = 200, description = "The changed user", body = UserView))
)]
pub async fn update_user(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
    JsonBody(req): JsonBody<UpdateUser>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(s.admin.update_user(&actor, &login, req).await?))
}

/// Deletes a user; their tokens stay, unassigned.
#[utoipa::path(
    delete, path = "/api/v1/admin/users/{login}", tag = "users",
    params(("login" = String, Path, description = "Login name")),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_user(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.delete_user(&actor, &login).await?;
    Ok(StatusCode::NO_CONTENT)
}

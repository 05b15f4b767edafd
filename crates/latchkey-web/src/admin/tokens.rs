//! Tokens: import, generation, assignment, PINs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_proto::admin::{
    GenerateToken, GeneratedToken, ImportToken, SetPin, TokenView, UpdateToken,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AdminAuth, JsonBody, PathParams, QueryParams};
use crate::routes::Routes;

pub(crate) fn routes(r: Routes) -> Routes {
    r.get("/api/v1/admin/tokens", list_tokens)
        .post("/api/v1/admin/tokens/import", import_token)
        .post("/api/v1/admin/tokens/generate", generate_token)
        .get("/api/v1/admin/tokens/{serial}", show_token)
        .patch("/api/v1/admin/tokens/{serial}", update_token)
        .delete("/api/v1/admin/tokens/{serial}", delete_token)
        .put("/api/v1/admin/tokens/{serial}/pin", set_pin)
        .delete("/api/v1/admin/tokens/{serial}/pin", clear_pin)
        .post(
            "/api/v1/admin/tokens/{serial}/require-new-pin",
            require_new_pin,
        )
}

/// Query of `GET /tokens`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// Only this user's tokens.
    pub user: Option<String>,
}

/// Tokens in the caller's scope, optionally only one user's.
#[utoipa::path(
    get, path = "/api/v1/admin/tokens", tag = "tokens", params(TokenQuery),
    responses((status = 200, description = "Tokens, by serial; never seeds or PINs", body = [TokenView]))
)]
pub async fn list_tokens(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    QueryParams(q): QueryParams<TokenQuery>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(s.admin.list_tokens(&actor, q.user.as_deref()).await?))
}

/// Imports a token with a known seed (base32 or `otpauth://` URI).
#[utoipa::path(
    post, path = "/api/v1/admin/tokens/import", tag = "tokens", request_body = ImportToken,
    responses((status = 201, description = "Imported", body = TokenView))
)]
pub async fn import_token(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    JsonBody(req): JsonBody<ImportToken>,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.admin.import_token(&actor, req).await?),
    ))
}

/// Generates a token; the seed is shown this once, as a URI and a QR code.
#[utoipa::path(
    post, path = "/api/v1/admin/tokens/generate", tag = "tokens", request_body = GenerateToken,
    responses((status = 201, description = "Generated; the seed is shown once", body = GeneratedToken))
)]
pub async fn generate_token(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    JsonBody(req): JsonBody<GenerateToken>,
) -> Result<(StatusCode, Json<GeneratedToken>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.admin.generate_token(&actor, req).await?),
    ))
}

/// One token.
#[utoipa::path(
    get, path = "/api/v1/admin/tokens/{serial}", tag = "tokens",
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 200, description = "The token; never its seed or PIN", body = TokenView))
)]
pub async fn show_token(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(s.admin.show_token(&actor, &serial).await?))
}

/// Enables, disables, assigns or unassigns a token.
#[utoipa::path(
    patch, path = "/api/v1/admin/tokens/{serial}", tag = "tokens", request_body = UpdateToken,
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 200, description = "The changed token", body = TokenView))
)]
pub async fn update_token(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
    JsonBody(req): JsonBody<UpdateToken>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(s.admin.update_token(&actor, &serial, req).await?))
}

/// Deletes a token.
#[utoipa::path(
    delete, path = "/api/v1/admin/tokens/{serial}", tag = "tokens",
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_token(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.delete_token(&actor, &serial).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a token's PIN (checked against the domain's token policy).
#[utoipa::path(
    put, path = "/api/v1/admin/tokens/{serial}/pin", tag = "tokens", request_body = SetPin,
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 200, description = "The token, now with a PIN", body = TokenView))
)]
pub async fn set_pin(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
    JsonBody(req): JsonBody<SetPin>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(s.admin.set_pin(&actor, &serial, &req.pin).await?))
}

/// Clears a token's PIN; the next authentication sets a new one.
#[utoipa::path(
    delete, path = "/api/v1/admin/tokens/{serial}/pin", tag = "tokens",
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 204, description = "Cleared; a new PIN is required"))
)]
pub async fn clear_pin(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.require_new_pin(&actor, &serial, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes the next authentication with this token set a new PIN (the current one still works
/// until then).
#[utoipa::path(
    post, path = "/api/v1/admin/tokens/{serial}/require-new-pin", tag = "tokens",
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 200, description = "The token, now requiring a new PIN", body = TokenView))
)]
pub async fn require_new_pin(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(s.admin.require_new_pin(&actor, &serial, false).await?))
}

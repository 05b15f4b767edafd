//! The deployment's SMS/voice providers (`/api/v1/admin/messaging/providers`): super
//! administrators only. Answers never carry a credential: each stored secret is shown as
//! `"set"`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_proto::messaging::{ProviderList, SetProviders};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AdminAuth, JsonBody};
use crate::routes::Routes;

pub(crate) fn routes(r: Routes) -> Routes {
    r.get("/api/v1/admin/messaging/providers", list_providers)
        .put("/api/v1/admin/messaging/providers", set_providers)
        .delete("/api/v1/admin/messaging/providers", clear_providers)
}

/// The providers in use, in the order they are tried: the stored list (`source: database`)
/// or, while there is none, the configuration file's (`source: file`).
#[utoipa::path(
    get, path = "/api/v1/admin/messaging/providers", tag = "messaging",
    responses((status = 200, description = "Providers in order; secrets shown as \"set\"", body = ProviderList))
)]
pub async fn list_providers(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
) -> Result<Json<ProviderList>, ApiError> {
    Ok(Json(s.admin.list_messaging_providers(&actor).await?))
}

/// Replaces the whole ordered provider list, validated completely first (400 and nothing
/// stored when any provider is wrong). A secret omitted, `null` or `"set"` on a provider of
/// the same name and type keeps the stored secret. Every node uses the new list from its
/// next send.
#[utoipa::path(
    put, path = "/api/v1/admin/messaging/providers", tag = "messaging", request_body = SetProviders,
    responses((status = 200, description = "Stored; the list now in use", body = ProviderList))
)]
pub async fn set_providers(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    JsonBody(req): JsonBody<SetProviders>,
) -> Result<Json<ProviderList>, ApiError> {
    Ok(Json(
        s.admin
            .set_messaging_providers(&actor, &req.providers)
            .await?,
    ))
}

/// Removes the stored list: the configuration file's providers apply again (on every node
/// from its next send). Idempotent.
#[utoipa::path(
    delete, path = "/api/v1/admin/messaging/providers", tag = "messaging",
    responses((status = 204, description = "The file's list is in use"))
)]
pub async fn clear_providers(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
) -> Result<StatusCode, ApiError> {
    s.admin.clear_messaging_providers(&actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Emergency access: online emergency tokencodes of a token, the offline emergency passcode
//! of a user and the offline emergency tokencode of a token, and the notification outbox.
//! Reading an offline value is a `POST` (it is audited, needs a reason, and may generate the
//! value), never a `GET`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_proto::emergency::{
    DeliveryView, EacView, GenerateEac, GeneratedEac, GrantOnlineEmergency, GrantedOnlineEmergency,
    OfflineEmergencyView, OnlineEmergencyView, OutboxView, ResetOfflineRequest, RevealRequest,
    UpdateOfflineTokencode,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AdminAuth, JsonBody, PathParams, QueryParams};
use crate::routes::Routes;

const ONLINE: &str = "/api/v1/admin/tokens/{serial}/emergency/online";
const TOKENCODE: &str = "/api/v1/admin/tokens/{serial}/emergency/offline-tokencode";
const PASSCODE: &str = "/api/v1/admin/users/{login}/emergency/offline-passcode";

pub(crate) fn routes(r: Routes) -> Routes {
    r.put(ONLINE, grant_online)
        .get(ONLINE, show_online)
        .delete(ONLINE, end_online)
        .get(PASSCODE, show_passcode)
        .post(
            "/api/v1/admin/users/{login}/emergency/offline-passcode/reveal",
            reveal_passcode,
        )
        .post(
            "/api/v1/admin/users/{login}/emergency/offline-passcode/reset",
            reset_passcode,
        )
        .get(TOKENCODE, show_tokencode)
        .patch(TOKENCODE, update_tokencode)
        .post(
            "/api/v1/admin/tokens/{serial}/emergency/offline-tokencode/reveal",
            reveal_tokencode,
        )
        .post(
            "/api/v1/admin/tokens/{serial}/emergency/offline-tokencode/reset",
            reset_tokencode,
        )
        .get("/api/v1/admin/outbox", list_outbox)
        .get("/api/v1/admin/deliveries", list_deliveries)
        .post(EAC, generate_eac)
        .get(EAC, show_eac)
        .delete(EAC, revoke_eac)
}

const EAC: &str = "/api/v1/admin/users/{login}/emergency/access-code";

/// Generates a user's emergency access code (cloud channel and offline hosts), replacing the
/// previous one. The code is shown once.
#[utoipa::path(
    post, path = "/api/v1/admin/users/{login}/emergency/access-code", tag = "emergency",
    request_body = GenerateEac,
    params(("login" = String, Path, description = "Login name")),
    responses((status = 201, description = "Generated; `code` shown once", body = GeneratedEac))
)]
pub async fn generate_eac(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
    JsonBody(req): JsonBody<GenerateEac>,
) -> Result<(StatusCode, Json<GeneratedEac>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.admin.generate_eac(&actor, &login, &req).await?),
    ))
}

/// A user's emergency access code, without the code.
#[utoipa::path(
    get, path = "/api/v1/admin/users/{login}/emergency/access-code", tag = "emergency",
    params(("login" = String, Path, description = "Login name")),
    responses((status = 200, description = "State", body = EacView))
)]
pub async fn show_eac(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
) -> Result<Json<EacView>, ApiError> {
    Ok(Json(s.admin.show_eac(&actor, &login).await?))
}

/// Revokes a user's emergency access code.
#[utoipa::path(
    delete, path = "/api/v1/admin/users/{login}/emergency/access-code", tag = "emergency",
    params(("login" = String, Path, description = "Login name")),
    responses((status = 204, description = "Revoked"))
)]
pub async fn revoke_eac(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.revoke_eac(&actor, &login).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Puts an assigned, enabled token into emergency access mode with a temporary fixed
/// tokencode or a set of one-time tokencodes, replacing any it had. The codes are shown once.
#[utoipa::path(
    put, path = "/api/v1/admin/tokens/{serial}/emergency/online", tag = "emergency",
    request_body = GrantOnlineEmergency,
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 200, description = "Granted; `code` (fixed) or `codes` (one-time) shown once", body = GrantedOnlineEmergency))
)]
pub async fn grant_online(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
    JsonBody(req): JsonBody<GrantOnlineEmergency>,
) -> Result<Json<GrantedOnlineEmergency>, ApiError> {
    Ok(Json(
        s.admin.grant_online_emergency(&actor, &serial, req).await?,
    ))
}

/// A token's online emergency access, without its codes.
#[utoipa::path(
    get, path = "/api/v1/admin/tokens/{serial}/emergency/online", tag = "emergency",
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 200, description = "In force (possibly expired)", body = OnlineEmergencyView))
)]
pub async fn show_online(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
) -> Result<Json<OnlineEmergencyView>, ApiError> {
    Ok(Json(s.admin.show_online_emergency(&actor, &serial).await?))
}

/// Ends a token's online emergency access now.
#[utoipa::path(
    delete, path = "/api/v1/admin/tokens/{serial}/emergency/online", tag = "emergency",
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 204, description = "Ended"))
)]
pub async fn end_online(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.end_online_emergency(&actor, &serial).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's offline emergency passcode: generation, expiry and holders, not the value.
#[utoipa::path(
    get, path = "/api/v1/admin/users/{login}/emergency/offline-passcode", tag = "emergency",
    params(("login" = String, Path, description = "Login name")),
    responses((status = 200, description = "State, without the value", body = OfflineEmergencyView))
)]
pub async fn show_passcode(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
) -> Result<Json<OfflineEmergencyView>, ApiError> {
    crate::offline::with_holders(&s, s.admin.show_offline_passcode(&actor, &login).await?).await
}

/// Reads a user's offline emergency passcode out (generated when first needed). The reason
/// is required and recorded with the reader; the user is notified.
#[utoipa::path(
    post, path = "/api/v1/admin/users/{login}/emergency/offline-passcode/reveal", tag = "emergency",
    request_body = RevealRequest,
    params(("login" = String, Path, description = "Login name")),
    responses((status = 200, description = "The passcode and its expiry", body = OfflineEmergencyView))
)]
pub async fn reveal_passcode(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
    JsonBody(req): JsonBody<RevealRequest>,
) -> Result<Json<OfflineEmergencyView>, ApiError> {
    crate::offline::with_holders(
        &s,
        s.admin
            .reveal_offline_passcode(&actor, &login, &req.reason)
            .await?,
    )
    .await
}

/// Replaces a user's offline emergency passcode with a new one, delivered to offline hosts at
/// the user's next online authentication.
#[utoipa::path(
    post, path = "/api/v1/admin/users/{login}/emergency/offline-passcode/reset", tag = "emergency",
    request_body = ResetOfflineRequest,
    params(("login" = String, Path, description = "Login name")),
    responses((status = 200, description = "The new generation, without the value", body = OfflineEmergencyView))
)]
pub async fn reset_passcode(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
    JsonBody(req): JsonBody<ResetOfflineRequest>,
) -> Result<Json<OfflineEmergencyView>, ApiError> {
    crate::offline::with_holders(
        &s,
        s.admin.reset_offline_passcode(&actor, &login, &req).await?,
    )
    .await
}

/// A token's offline emergency tokencode: generation, expiry, online use, not the value.
#[utoipa::path(
    get, path = "/api/v1/admin/tokens/{serial}/emergency/offline-tokencode", tag = "emergency",
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 200, description = "State, without the value", body = OfflineEmergencyView))
)]
pub async fn show_tokencode(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
) -> Result<Json<OfflineEmergencyView>, ApiError> {
    crate::offline::with_holders(&s, s.admin.show_offline_tokencode(&actor, &serial).await?).await
}

/// Sets "use offline code for online access" of a token's offline emergency tokencode.
#[utoipa::path(
    patch, path = "/api/v1/admin/tokens/{serial}/emergency/offline-tokencode", tag = "emergency",
    request_body = UpdateOfflineTokencode,
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 200, description = "State, without the value", body = OfflineEmergencyView))
)]
pub async fn update_tokencode(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
    JsonBody(req): JsonBody<UpdateOfflineTokencode>,
) -> Result<Json<OfflineEmergencyView>, ApiError> {
    crate::offline::with_holders(
        &s,
        s.admin
            .set_offline_tokencode_online_use(&actor, &serial, req.online_use)
            .await?,
    )
    .await
}

/// Reads a token's offline emergency tokencode out; reason required and recorded.
#[utoipa::path(
    post, path = "/api/v1/admin/tokens/{serial}/emergency/offline-tokencode/reveal", tag = "emergency",
    request_body = RevealRequest,
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 200, description = "The tokencode and its expiry", body = OfflineEmergencyView))
)]
pub async fn reveal_tokencode(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
    JsonBody(req): JsonBody<RevealRequest>,
) -> Result<Json<OfflineEmergencyView>, ApiError> {
    crate::offline::with_holders(
        &s,
        s.admin
            .reveal_offline_tokencode(&actor, &serial, &req.reason)
            .await?,
    )
    .await
}

/// Replaces a token's offline emergency tokencode (optionally setting its online use).
#[utoipa::path(
    post, path = "/api/v1/admin/tokens/{serial}/emergency/offline-tokencode/reset", tag = "emergency",
    request_body = ResetOfflineRequest,
    params(("serial" = String, Path, description = "Serial number")),
    responses((status = 200, description = "The new generation, without the value", body = OfflineEmergencyView))
)]
pub async fn reset_tokencode(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(serial): PathParams<String>,
    JsonBody(req): JsonBody<ResetOfflineRequest>,
) -> Result<Json<OfflineEmergencyView>, ApiError> {
    crate::offline::with_holders(
        &s,
        s.admin
            .reset_offline_tokencode(&actor, &serial, &req)
            .await?,
    )
    .await
}

/// Query of `GET /outbox`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only this user's notifications.
    pub user: Option<String>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<u32>,
}

/// Notifications queued for users in the caller's scope, newest first.
#[utoipa::path(
    get, path = "/api/v1/admin/outbox", tag = "emergency", params(OutboxQuery),
    responses((status = 200, description = "Notifications; never a code", body = [OutboxView]))
)]
pub async fn list_outbox(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    QueryParams(q): QueryParams<OutboxQuery>,
) -> Result<Json<Vec<OutboxView>>, ApiError> {
    Ok(Json(
        s.admin
            .list_outbox(&actor, q.user.as_deref(), q.limit.unwrap_or(100))
            .await?,
    ))
}

/// SMS and voice codes sent to users in the caller's scope, newest first, with each provider
/// attempt (never the code).
#[utoipa::path(
    get, path = "/api/v1/admin/deliveries", tag = "emergency", params(OutboxQuery),
    responses((status = 200, description = "Deliveries", body = [DeliveryView]))
)]
pub async fn list_deliveries(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    QueryParams(q): QueryParams<OutboxQuery>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    Ok(Json(
        s.admin
            .list_deliveries(&actor, q.user.as_deref(), q.limit.unwrap_or(100))
            .await?,
    ))
}

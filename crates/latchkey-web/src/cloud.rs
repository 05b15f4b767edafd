//! The cloud authentication API, `/api/v1/cloud/...`, for agents of kind `cloud-app`: list a
//! user's methods, start one (an SMS or a call goes out then), answer its challenge. Same
//! rules as the manager channel's API ([`crate::authn`]): 200 with an [`AuthnResponse`], one
//! FAIL body, the reasons only in the audit log.

use axum::Json;
use axum::extract::State;
use latchkey_proto::authn::{AuthnResponse, VerifyRequest};
use latchkey_proto::cloud::{MethodsRequest, MethodsResponse, StartRequest};

use crate::AppState;
use crate::authn::caller;
use crate::error::ApiError;
use crate::extract::{CloudAgentAuth, JsonBody};
use crate::routes::Routes;

/// Prefix of every cloud authentication route.
pub const PREFIX: &str = "/api/v1/cloud";

pub(crate) fn routes(r: Routes) -> Routes {
    r.post("/api/v1/cloud/methods", methods)
        .post("/api/v1/cloud/start", start)
        .post("/api/v1/cloud/verify", verify)
}

/// The methods a user can use (SMS and voice only with a phone number).
#[utoipa::path(
    post, path = "/api/v1/cloud/methods", tag = "cloud", request_body = MethodsRequest,
    security(("agent_key" = [])),
    responses((status = 200, description = "Methods to offer", body = MethodsResponse))
)]
pub async fn methods(
    State(s): State<AppState>,
    _auth: CloudAgentAuth,
    JsonBody(req): JsonBody<MethodsRequest>,
) -> Result<Json<MethodsResponse>, ApiError> {
    Ok(Json(s.authn.cloud_methods(&req).await?))
}

/// Starts a method: a CHALLENGE to answer with `/verify` (for SMS and voice the code is sent
/// now), or FAIL.
#[utoipa::path(
    post, path = "/api/v1/cloud/start", tag = "cloud", request_body = StartRequest,
    security(("agent_key" = [])),
    responses((status = 200, description = "CHALLENGE or FAIL", body = AuthnResponse))
)]
pub async fn start(
    State(s): State<AppState>,
    CloudAgentAuth(auth): CloudAgentAuth,
    JsonBody(req): JsonBody<StartRequest>,
) -> Result<Json<AuthnResponse>, ApiError> {
    let caller = caller(auth, req.client_address.as_deref())?;
    Ok(Json(s.authn.cloud_start(&caller, &req).await?))
}

/// Answers the challenge of a started method.
#[utoipa::path(
    post, path = "/api/v1/cloud/verify", tag = "cloud", request_body = VerifyRequest,
    security(("agent_key" = [])),
    responses((status = 200, description = "SUCCESS, CHALLENGE (another try) or FAIL", body = AuthnResponse))
)]
pub async fn verify(
    State(s): State<AppState>,
    CloudAgentAuth(auth): CloudAgentAuth,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> Result<Json<AuthnResponse>, ApiError> {
    let caller = caller(auth, req.client_address.as_deref())?;
    Ok(Json(s.authn.verify(&caller, &req).await?))
}

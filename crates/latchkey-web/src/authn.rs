//! The agent authentication API, `/api/v1/authn/...`: the initialize/verify loop of a REST
//! agent (manager channel).
//!
//! Invariants:
//! - Every handler takes [`AgentAuth`] first: a missing or invalid agent key is a 401 (an
//!   agent problem), decided before the body is read; an admin token is not an agent key.
//! - SUCCESS, CHALLENGE and FAIL are all 200 with an [`AuthnResponse`]; every FAIL is the one
//!   body [`AuthnResponse::fail`], whatever the reason (which only the audit log records).
//! - Bodies follow the admin API's rules ([`JsonBody`]): 400 without repeating any value (a
//!   passcode typed into the wrong field never comes back), 413 over the limit.

use axum::Json;
use axum::extract::State;
use latchkey_core::authn::Caller;
use latchkey_proto::authn::AuthnResponse;
use latchkey_proto::offline::{AuthnResponseWithOffline, InitializeWithOffline, VerifyWithOffline};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AgentAuth, JsonBody};
use crate::routes::Routes;

/// Prefix of every authentication route.
pub const PREFIX: &str = "/api/v1/authn";

/// Longest accepted `client_address`, in characters.
pub const CLIENT_ADDRESS_MAX: usize = 64;

pub(crate) fn routes(r: Routes) -> Routes {
    r.post("/api/v1/authn/initialize", initialize)
        .post("/api/v1/authn/verify", verify)
}

/// The caller of the service: the agent, its address, and the end user's address it reports.
pub(crate) fn caller(auth: AgentAuth, client: Option<&str>) -> Result<Caller, ApiError> {
    if client.is_some_and(|c| c.chars().count() > CLIENT_ADDRESS_MAX) {
        return Err(ApiError::invalid(
            format!("must be at most {CLIENT_ADDRESS_MAX} characters"),
            Some("client_address".to_owned()),
        ));
    }
    Ok(Caller {
        agent: auth.agent,
        source: auth.source,
        client: client.map(str::to_owned),
    })
}

/// Starts an authentication with a user's passcode (PIN followed by the tokencode).
#[utoipa::path(
    post, path = "/api/v1/authn/initialize", tag = "authn", request_body = InitializeWithOffline,
    security(("agent_key" = [])),
    responses((status = 200, description = "SUCCESS, CHALLENGE (answer it with /verify) or FAIL; \
        every FAIL is the same body, whatever the reason. An enrolled offline host that sent \
        `want_offline_data` also gets `offline_data` (standard base64 of the signed offline \
        data, docs/design/offline.md) with SUCCESS when the policy allows; the field is absent \
        otherwise", body = AuthnResponse))
)]
pub async fn initialize(
    State(s): State<AppState>,
    auth: AgentAuth,
    JsonBody(req): JsonBody<InitializeWithOffline>,
) -> Result<Json<AuthnResponseWithOffline>, ApiError> {
    let caller = caller(auth, req.client_address.as_deref())?;
    let response = s.authn.initialize(&caller, &req.plain()).await?;
    let offline_data = crate::offline::offline_data(
        &s,
        &caller,
        req.want_offline_data,
        &response,
        Some(&req.user),
        &req.passcode,
    )
    .await?;
    Ok(Json(AuthnResponseWithOffline {
        response,
        offline_data,
    }))
}

/// Answers the challenge of an attempt (new PIN, confirmation, next tokencode or passcode).
#[utoipa::path(
    post, path = "/api/v1/authn/verify", tag = "authn", request_body = VerifyWithOffline,
    security(("agent_key" = [])),
    responses((status = 200, description = "SUCCESS, another CHALLENGE or FAIL; an unknown, \
        expired or foreign attempt is FAIL. `offline_data` as for initialize, when the answer \
        was a full passcode (PIN and tokencode)", body = AuthnResponse))
)]
pub async fn verify(
    State(s): State<AppState>,
    auth: AgentAuth,
    JsonBody(req): JsonBody<VerifyWithOffline>,
) -> Result<Json<AuthnResponseWithOffline>, ApiError> {
    let caller = caller(auth, req.client_address.as_deref())?;
    // The attempt's user, read before verify consumes the attempt; the PIN comes from the
    // answer, so data follows only a full passcode (next passcode, after a new PIN).
    let login = match (req.want_offline_data, s.authn.offline()) {
        (true, Some(svc)) => svc.attempt_login(&caller.agent, &req.attempt_id).await?,
        _ => None,
    };
    let response = s.authn.verify(&caller, &req.plain()).await?;
    let offline_data = crate::offline::offline_data(
        &s,
        &caller,
        req.want_offline_data,
        &response,
        login.as_deref(),
        &req.response,
    )
    .await?;
    Ok(Json(AuthnResponseWithOffline {
        response,
        offline_data,
    }))
}

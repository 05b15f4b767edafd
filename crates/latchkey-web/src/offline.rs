//! Offline hosts (`docs/design/offline.md`): `POST /api/v1/offline/enroll` and
//! `POST /api/v1/offline/events` with an offline-host agent key, the per-user host list for
//! administrators, and the offline data attached to SUCCESS answers of the authentication API.
//!
//! Invariants:
//! - Only `offline_host` agents may enrol or upload (403 for other agent kinds, 401 without a
//!   valid key); bodies reject unknown fields; a bad batch changes nothing.
//! - A server without the offline service answers 404 on these routes and never attaches
//!   offline data.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_core::CoreError;
use latchkey_core::authn::Caller;
use latchkey_core::offline::OfflineService;
use latchkey_crypto::secret::SecretString;
use latchkey_proto::ErrorCode;
use latchkey_proto::authn::{AuthnResponse, AuthnResult};
use latchkey_proto::emergency::OfflineEmergencyView;
use latchkey_proto::offline::{
    EnrollRequest, EnrollResponse, EventsRequest, EventsResponse, UserOfflineHosts,
};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AdminAuth, AgentAuth, JsonBody, PathParams};
use crate::routes::Routes;

/// Prefix of the offline-host routes (agent key).
pub const PREFIX: &str = "/api/v1/offline";

pub(crate) fn routes(r: Routes) -> Routes {
    r.post("/api/v1/offline/enroll", enroll)
        .post("/api/v1/offline/events", events)
        .get("/api/v1/admin/users/{login}/offline-hosts", user_hosts)
}

fn service(s: &AppState) -> Result<&OfflineService, ApiError> {
    s.authn.offline().map(AsRef::as_ref).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "this server does not serve offline hosts",
            None,
        )
    })
}

/// The offline data for a SUCCESS answer, when asked for and allowed (`None` otherwise).
pub(crate) async fn offline_data(
    s: &AppState,
    caller: &Caller,
    want: bool,
    answer: &AuthnResponse,
    login: Option<&str>,
    passcode: &str,
) -> Result<Option<String>, ApiError> {
    let (true, AuthnResult::Success, Some(login), Some(svc)) =
        (want, answer.result, login, s.authn.offline())
    else {
        return Ok(None);
    };
    // Building the data costs a few Argon2id derivations (about 0.2 s of CPU): it runs on a
    // blocking thread, so the runtime's workers keep answering other requests meanwhile.
    let svc = Arc::clone(svc);
    let agent = caller.agent.clone();
    let source = caller.source.clone();
    let login = login.to_owned();
    let passcode = SecretString::new(passcode.to_owned());
    let runtime = tokio::runtime::Handle::current();
    let built = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            svc.offline_data(&agent, source.as_deref(), &login, passcode.expose())
                .await
        })
    })
    .await
    .map_err(|e| ApiError::from(CoreError::Internal(format!("offline data task: {e}"))))?;
    Ok(built?)
}

/// Fills `hosts` of an offline emergency value's view (which host holds which generation);
/// unchanged when the server does not serve offline hosts. The caller's admin call already
/// checked the actor's right and scope on this user.
pub(crate) async fn with_holders(
    s: &AppState,
    mut view: OfflineEmergencyView,
) -> Result<Json<OfflineEmergencyView>, ApiError> {
    if let Some(svc) = s.authn.offline() {
        view.hosts = svc.holders(&view).await?;
    }
    Ok(Json(view))
}

/// Enrols the offline host holding this agent key (again: replaces its host key) and returns
/// the server key to pin.
#[utoipa::path(
    post, path = "/api/v1/offline/enroll", tag = "offline", request_body = EnrollRequest,
    security(("agent_key" = [])),
    responses((status = 200, description = "The host id and the server key to pin", body = EnrollResponse))
)]
pub async fn enroll(
    State(s): State<AppState>,
    auth: AgentAuth,
    JsonBody(req): JsonBody<EnrollRequest>,
) -> Result<Json<EnrollResponse>, ApiError> {
    Ok(Json(
        service(&s)?
            .enroll(&auth.agent, auth.source.as_deref(), &req)
            .await?,
    ))
}

/// Uploads offline authentication events; each lands in the audit log once, with the host
/// and its original time.
#[utoipa::path(
    post, path = "/api/v1/offline/events", tag = "offline", request_body = EventsRequest,
    security(("agent_key" = [])),
    responses((status = 200, description = "How many events are recorded", body = EventsResponse))
)]
pub async fn events(
    State(s): State<AppState>,
    auth: AgentAuth,
    JsonBody(req): JsonBody<EventsRequest>,
) -> Result<Json<EventsResponse>, ApiError> {
    Ok(Json(
        service(&s)?
            .upload_events(&auth.agent, auth.source.as_deref(), &req)
            .await?,
    ))
}

/// The hosts holding a user's offline data: last sync, expiry, staleness and which
/// generation of each emergency value each holds.
#[utoipa::path(
    get, path = "/api/v1/admin/users/{login}/offline-hosts", tag = "offline",
    params(("login" = String, Path, description = "Login name")),
    responses((status = 200, description = "The hosts", body = UserOfflineHosts))
)]
pub async fn user_hosts(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(login): PathParams<String>,
) -> Result<Json<UserOfflineHosts>, ApiError> {
    Ok(Json(service(&s)?.user_hosts(&actor, &login).await?))
}

//! Health probes: `/healthz` (the process answers) and `/readyz` (the store answers too).
//! Neither needs authentication nor reveals anything beyond up/down.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::routes::Routes;

/// Answer of the health probes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

fn ok() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

pub(crate) fn routes(r: Routes) -> Routes {
    r.get("/healthz", healthz).get("/readyz", readyz)
}

/// Liveness: the process is serving.
#[utoipa::path(
    get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "The process is serving", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    ok()
}

/// Readiness: the store answers a ping.
#[utoipa::path(
    get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The store is unreachable", body = latchkey_proto::ErrorBody),
    )
)]
pub async fn readyz(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    match s.admin.store().ping().await {
        Ok(()) => Ok(ok()),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::unavailable())
        }
    }
}

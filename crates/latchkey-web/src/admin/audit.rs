//! The audit log and master-key rotation (both root-level operations).

use axum::Json;
use axum::extract::State;
use latchkey_proto::admin::{AuditRecordView, AuditVerification, KeyRotation};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AdminAuth, QueryParams};
use crate::routes::Routes;

pub(crate) fn routes(r: Routes) -> Routes {
    r.get("/api/v1/admin/audit", list_audit)
        .get("/api/v1/admin/audit/verify", verify_audit)
        .post("/api/v1/admin/keys/rotate", rotate_keys)
}

/// Query of `GET /audit`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Records after this sequence number (default 0: from the start).
    #[serde(default)]
    pub after: i64,
    /// At most this many records, 1 to 10000 (default 1000).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    1000
}

/// Audit records in sequence order.
#[utoipa::path(
    get, path = "/api/v1/admin/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "Records after `after`, ascending", body = [AuditRecordView]))
)]
pub async fn list_audit(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Json<Vec<AuditRecordView>>, ApiError> {
    Ok(Json(s.admin.list_audit(&actor, q.after, q.limit).await?))
}

/// Walks the whole chain and reports the first altered, inserted or deleted record.
#[utoipa::path(
    get, path = "/api/v1/admin/audit/verify", tag = "audit",
    responses((status = 200, description = "Verdict on the chain", body = AuditVerification))
)]
pub async fn verify_audit(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
) -> Result<Json<AuditVerification>, ApiError> {
    Ok(Json(s.admin.verify_audit(&actor).await?))
}

/// Rotates the master key and re-seals every sealed value (409 when the key comes from the
/// environment and cannot be rewritten by the server).
#[utoipa::path(
    post, path = "/api/v1/admin/keys/rotate", tag = "keys",
    responses((status = 200, description = "Rotated", body = KeyRotation))
)]
pub async fn rotate_keys(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
) -> Result<Json<KeyRotation>, ApiError> {
    Ok(Json(s.admin.rotate_master_key(&actor).await?))
}

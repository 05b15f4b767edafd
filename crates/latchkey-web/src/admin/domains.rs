//! Domains and their policies.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_proto::admin::{CreateDomain, DomainPolicies, DomainView};
use latchkey_proto::policy::{PolicyKind, PolicyValue};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AdminAuth, JsonBody, PathParams};
use crate::routes::Routes;

pub(crate) fn routes(r: Routes) -> Routes {
    r.get("/api/v1/admin/domains", list_domains)
        .post("/api/v1/admin/domains", create_domain)
        .get("/api/v1/admin/domains/{name}", show_domain)
        .get("/api/v1/admin/domains/{name}/policies", domain_policies)
        .put("/api/v1/admin/domains/{name}/policies/{kind}", set_policy)
        .delete("/api/v1/admin/domains/{name}/policies/{kind}", clear_policy)
}

/// The policy kind named in a URL.
fn kind_from_path(s: &str) -> Result<PolicyKind, ApiError> {
    PolicyKind::parse(s).ok_or_else(|| {
        ApiError::invalid(
            "unknown policy kind; one of token, lockout, offline, emergency",
            Some("kind".to_owned()),
        )
    })
}

/// Domains in the caller's scope.
#[utoipa::path(
    get, path = "/api/v1/admin/domains", tag = "domains",
    responses((status = 200, description = "Domains in the caller's scope, by name", body = [DomainView]))
)]
pub async fn list_domains(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
) -> Result<Json<Vec<DomainView>>, ApiError> {
    Ok(Json(s.admin.list_domains(&actor).await?))
}

/// Creates a sub-domain.
#[utoipa::path(
    post, path = "/api/v1/admin/domains", tag = "domains", request_body = CreateDomain,
    responses((status = 201, description = "Created", body = DomainView))
)]
pub async fn create_domain(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    JsonBody(req): JsonBody<CreateDomain>,
) -> Result<(StatusCode, Json<DomainView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.admin.create_domain(&actor, req).await?),
    ))
}

/// One domain.
#[utoipa::path(
    get, path = "/api/v1/admin/domains/{name}", tag = "domains",
    params(("name" = String, Path, description = "Domain name")),
    responses((status = 200, description = "The domain", body = DomainView))
)]
pub async fn show_domain(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(name): PathParams<String>,
) -> Result<Json<DomainView>, ApiError> {
    Ok(Json(s.admin.show_domain(&actor, &name).await?))
}

/// The policies in force for a domain and where each comes from.
#[utoipa::path(
    get, path = "/api/v1/admin/domains/{name}/policies", tag = "domains",
    params(("name" = String, Path, description = "Domain name")),
    responses((status = 200, description = "Effective policies", body = DomainPolicies))
)]
pub async fn domain_policies(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(name): PathParams<String>,
) -> Result<Json<DomainPolicies>, ApiError> {
    Ok(Json(s.admin.domain_policies(&actor, &name).await?))
}

/// Sets one policy of a domain. The body's `kind` must be the kind in the path.
#[utoipa::path(
    put, path = "/api/v1/admin/domains/{name}/policies/{kind}", tag = "domains", request_body = PolicyValue,
    params(
        ("name" = String, Path, description = "Domain name"),
        ("kind" = PolicyKind, Path, description = "Policy kind"),
    ),
    responses((status = 200, description = "The policies now in force", body = DomainPolicies))
)]
pub async fn set_policy(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams((name, kind)): PathParams<(String, String)>,
    JsonBody(value): JsonBody<PolicyValue>,
) -> Result<Json<DomainPolicies>, ApiError> {
    if value.kind() != kind_from_path(&kind)? {
        return Err(ApiError::invalid(
            "the body's kind must be the kind named in the path",
            Some("kind".to_owned()),
        ));
    }
    Ok(Json(s.admin.set_policy(&actor, &name, value).await?))
}

/// Clears one policy of a domain so that it is inherited again.
#[utoipa::path(
    delete, path = "/api/v1/admin/domains/{name}/policies/{kind}", tag = "domains",
    params(
        ("name" = String, Path, description = "Domain name"),
        ("kind" = PolicyKind, Path, description = "Policy kind"),
    ),
    responses((status = 204, description = "Cleared; the policy is inherited"))
)]
pub async fn clear_policy(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams((name, kind)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.admin
        .clear_policy(&actor, &name, kind_from_path(&kind)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Latchkey's HTTP interface: the admin JSON API under `/api/v1/admin`, the agent
//! authentication API under `/api/v1/authn`, health probes and the OpenAPI document, on axum;
//! and the Security Console's pages under `/console` ([`console`], not part of the OpenAPI
//! document).
//!
//! Invariants:
//! - Handlers are thin: authenticate ([`extract::AdminAuth`], [`extract::AgentAuth`]), parse
//!   and shape-check the request, make one call into [`AdminService`] or [`AuthnService`],
//!   map the result. Permission checks, scope checks, validation of values, passcode checks
//!   and auditing all happen in `latchkey-core`.
//! - Every error answer is an [`ErrorBody`](latchkey_proto::ErrorBody) with a stable code
//!   ([`error::ApiError`]); no message repeats a value from a request body, and internal
//!   details go to the log only.
//! - Request bodies are logged nowhere. Secrets appear in exactly one place: the creation
//!   answer that shows them once (generated seed, agent API key, admin token and password, a
//!   system-generated PIN in its `confirm_pin` challenge).
//! - Every answer carries `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.
//! - Bodies are limited to [`BODY_LIMIT`] bytes (413 beyond).
//! - The route table ([`route_table`]) is produced by the same code that builds the router,
//!   and the OpenAPI document ([`openapi::ApiDoc`]) is tested against it.

pub mod admin;
pub mod authn;
pub mod body_error;
pub mod cloud;
pub mod console;
pub mod error;
pub mod extract;
pub mod health;
pub mod offline;
pub mod openapi;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::map_response;
use axum::response::Response;
use latchkey_core::admin::AdminService;
use latchkey_core::authn::AuthnService;
use latchkey_proto::ErrorCode;

pub use error::ApiError;
pub use routes::RouteInfo;

/// Largest accepted request body, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The administrative service.
    pub admin: Arc<AdminService>,
    /// The authentication service (agents' initialize/verify).
    pub authn: Arc<AuthnService>,
}

/// Every route, built once for the router and once for [`route_table`].
fn build() -> routes::Routes {
    let r = routes::Routes::new();
    let r = health::routes(r);
    let r = openapi::routes(r);
    let r = authn::routes(r);
    let r = cloud::routes(r);
    let r = offline::routes(r);
    let r = r.merge_unlisted(console::router());
    admin::routes(r)
}

/// The methods and paths the router serves (for documentation checks and tests).
pub fn route_table() -> Vec<RouteInfo> {
    build().into_parts().1
}

/// The whole HTTP application. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so that audit records name the
/// client address.
pub fn router(state: AppState) -> Router {
    let (router, _) = build().into_parts();
    router
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(map_response(security_headers))
        .with_state(state)
}

/// Headers every answer carries: nothing here may be cached, and nothing sniffed.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such endpoint",
        None,
    )
}

/// axum adds the `Allow` header to this answer.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::InvalidRequest,
        "method not allowed on this endpoint; see the Allow header",
        None,
    )
}

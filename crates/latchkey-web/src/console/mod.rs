//! The Security Console: server-rendered pages for administrators and the help desk under
//! `/console` (design: `docs/design/console.md`).
//!
//! Invariants:
//! - Every page and action calls the same [`AdminService`](latchkey_core::admin::AdminService)
//!   method as the admin API, with the signed-in administrator as the actor: role and scope
//!   are checked there, never here. The console only decides which actions to *offer*
//!   ([`latchkey_core::authz::grants`]); offering is not permitting.
//! - Sign-in is password plus a passcode of the administrator's own Latchkey token
//!   ([`latchkey_core::console::ConsoleService`]); the session cookie is `HttpOnly`,
//!   `SameSite=Strict`, `Secure` (with the `__Host-` prefix) when the server speaks TLS.
//! - Every `POST` carries the session's CSRF token, compared in constant time before the
//!   form is read ([`session::ConsoleForm`]); the sign-in form carries a double-submit token.
//! - Every answer has a strict Content-Security-Policy (`default-src 'self'`, no inline script
//!   or style), `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` and (globally)
//!   `Cache-Control: no-store`. Templates are maud's, which escapes every interpolated value.
//! - Values shown once (an offline value read with a reason, generated codes) are rendered in
//!   the answer to the `POST` that produced them and nowhere else.

mod activity;
mod agents;
mod audit;
mod domains;
mod emergency;
mod layout;
mod messaging;
mod session;
mod signin;
mod tokens;
mod users;

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use latchkey_core::console::ConsoleService;

use crate::AppState;

pub use session::{ConsoleAuth, ConsoleError};

/// The console's Content-Security-Policy: only this server's own files; no inline script or
/// style, no framing, forms only back to this server.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
     object-src 'none'";

/// What the console needs beyond [`AppState`]: its session service and cookie settings.
#[derive(Debug)]
pub struct ConsoleState {
    /// Sign-in and sessions.
    pub service: Arc<ConsoleService>,
    /// Whether cookies get `Secure` (and the `__Host-` prefix): the server speaks TLS.
    pub secure_cookies: bool,
}

/// Turns the console on for a router built by [`crate::router`]. Without it every console
/// page answers 404.
pub fn enable(router: Router, console: ConsoleState) -> Router {
    router.layer(Extension(Arc::new(console)))
}

/// The console's routes (not part of the JSON API, so not in the OpenAPI document).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/sign-in", get(signin::page).post(signin::submit))
        .route("/console/sign-out", post(signin::sign_out))
        .route("/console/users", get(users::search))
        .route("/console/users/{login}", get(users::user_page))
        .route("/console/users/{login}/unlock", post(users::unlock))
        .route("/console/users/{login}/phones", post(activity::add_phone))
        .route(
            "/console/users/{login}/phones/remove",
            post(activity::remove_phone),
        )
        .route(
            "/console/users/{login}/offline-access",
            get(emergency::offline_page).post(emergency::offline_update),
        )
        .route(
            "/console/users/{login}/offline-access/reveal",
            post(emergency::offline_reveal),
        )
        .route(
            "/console/users/{login}/access-code",
            get(emergency::eac_page).post(emergency::eac_generate),
        )
        .route(
            "/console/tokens/{serial}/emergency",
            get(emergency::token_page),
        )
        .route(
            "/console/tokens/{serial}/emergency/online",
            post(emergency::online_grant),
        )
        .route(
            "/console/tokens/{serial}/emergency/online/end",
            post(emergency::online_end),
        )
        .route(
            "/console/tokens/{serial}/emergency/offline",
            post(emergency::tokencode_update),
        )
        .route(
            "/console/tokens/{serial}/emergency/offline/reveal",
            post(emergency::tokencode_reveal),
        )
        .route("/console/audit", get(audit::page))
        .route("/console/audit/export", get(audit::export))
        .route("/console/dashboard", get(users::dashboard))
        .route("/console/tokens", get(tokens::list))
        .route("/console/tokens/generate", post(tokens::generate))
        .route("/console/tokens/import", post(tokens::import))
        .route("/console/tokens/{serial}", get(tokens::token_page))
        .route("/console/tokens/{serial}/assign", post(tokens::assign))
        .route(
            "/console/tokens/{serial}/enabled",
            post(tokens::set_enabled),
        )
        .route("/console/tokens/{serial}/new-pin", post(tokens::new_pin))
        .route("/console/domains", get(domains::list).post(domains::create))
        .route("/console/domains/{name}", get(domains::domain_page))
        .route(
            "/console/domains/{name}/policies/{kind}",
            post(domains::set_policy),
        )
        .route(
            "/console/domains/{name}/policies/{kind}/clear",
            post(domains::clear_policy),
        )
        .route("/console/agents", get(agents::list).post(agents::create))
        .route("/console/agents/{name}/delete", post(agents::delete))
        .route(
            "/console/admins",
            get(agents::admins).post(agents::create_admin),
        )
        .route("/console/admins/{name}/delete", post(agents::delete_admin))
        .route("/console/messaging", get(messaging::page))
        .route("/console/messaging/providers", post(messaging::set))
        .route("/console/messaging/providers/clear", post(messaging::clear))
        .route("/console/static/console.css", get(css))
        .route("/console/static/console.js", get(js))
        .layer(map_response(console_headers))
}

async fn home() -> Redirect {
    Redirect::to("/console/users")
}

/// Headers of every console answer (the global layer adds `Cache-Control: no-store`).
async fn console_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/console.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../static/console.js"),
    )
        .into_response()
}

//! Cookies, the signed-in administrator of a request, CSRF-checked forms, and the console's
//! error answers (HTML pages, never JSON).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::CoreError;
use latchkey_core::console::{ConsoleService, SignedIn};
use serde::de::DeserializeOwned;

use super::ConsoleState;
use super::layout;
use crate::{AppState, BODY_LIMIT};

/// Session cookie name over plain HTTP.
const COOKIE: &str = "latchkey_console";
/// Session cookie name over TLS (the `__Host-` prefix pins it to this host, path `/`, Secure).
const COOKIE_SECURE: &str = "__Host-latchkey_console";
/// The sign-in form's double-submit cookie (plain HTTP / TLS).
pub(super) const PRE_COOKIE: &str = "latchkey_console_signin";
pub(super) const PRE_COOKIE_SECURE: &str = "__Host-latchkey_console_signin";

/// Everything that can go wrong on a console request, answered as a page.
#[derive(Debug)]
pub enum ConsoleError {
    /// The console is not enabled on this server.
    Disabled,
    /// No valid session: go and sign in.
    SignIn,
    /// A form without the session's CSRF token.
    Csrf,
    /// A form that could not be read.
    BadForm(String),
    /// What the core said.
    Core(CoreError),
}

impl From<CoreError> for ConsoleError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Unauthenticated => Self::SignIn,
            e => Self::Core(e),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            Self::SignIn => {
                let mut res = Redirect::to("/console/sign-in").into_response();
                for name in [COOKIE, COOKIE_SECURE] {
                    if let Ok(v) = HeaderValue::from_str(&clear_cookie(name)) {
                        res.headers_mut().append(header::SET_COOKIE, v);
                    }
                }
                return res;
            }
            Self::Disabled => (
                StatusCode::NOT_FOUND,
                "Not found",
                "The Security Console is not enabled on this server.".to_owned(),
            ),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form did not carry the session's security token (CSRF). Reload the page \
                 and try again."
                    .to_owned(),
            ),
            Self::BadForm(m) => (StatusCode::BAD_REQUEST, "Form not accepted", m),
            Self::Core(e) => core_answer(e),
        };
        (status, layout::bare(title, &text)).into_response()
    }
}

fn core_answer(e: CoreError) -> (StatusCode, &'static str, String) {
    match e {
        CoreError::Invalid { field, reason } => (
            StatusCode::BAD_REQUEST,
            "Not accepted",
            format!("{field}: {reason}"),
        ),
        CoreError::NotFound(what) => (
            StatusCode::NOT_FOUND,
            "Not found",
            format!("{what} not found"),
        ),
        CoreError::Conflict(m) => (StatusCode::CONFLICT, "Conflict", m),
        CoreError::Forbidden(m) => (
            StatusCode::FORBIDDEN,
            "Not permitted",
            format!("Not permitted: {m}."),
        ),
        CoreError::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            "Sign in",
            "Sign in first.".to_owned(),
        ),
        CoreError::Unavailable(e) => {
            tracing::warn!(error = %e, "console: storage unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The database is unavailable; try again shortly.".to_owned(),
            )
        }
        CoreError::Internal(m) => {
            tracing::error!(error = %m, "console: internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                "Something went wrong; the details are in the server log.".to_owned(),
            )
        }
    }
}

/// An answer to a console request.
pub type Page = Result<Response, ConsoleError>;

/// The value of cookie `name` in the request, if any.
pub(super) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, path `/`, `Secure` when `secure`; a
/// session cookie (no expiry: the server ends the session).
pub(super) fn set_cookie(name: &str, value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

fn clear_cookie(name: &str) -> String {
    let secure = if name.starts_with("__Host-") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}")
}

/// The session cookie's name for this server.
pub(super) fn session_cookie_name(state: &ConsoleState) -> &'static str {
    if state.secure_cookies {
        COOKIE_SECURE
    } else {
        COOKIE
    }
}

/// The `Set-Cookie` value that ends the session cookie.
pub(super) fn clear_session_cookie(state: &ConsoleState) -> String {
    clear_cookie(session_cookie_name(state))
}

/// The client address of the connection.
pub(super) fn client_ip(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
}

/// The console's state, when the console is enabled.
pub(super) fn console_state(parts: &Parts) -> Result<Arc<ConsoleState>, ConsoleError> {
    parts
        .extensions
        .get::<Arc<ConsoleState>>()
        .cloned()
        .ok_or(ConsoleError::Disabled)
}

/// The signed-in administrator of a request (a valid, unexpired session).
#[derive(Clone, Debug)]
pub struct ConsoleAuth {
    /// The administrator and the session's CSRF token.
    pub signed: SignedIn,
    /// The session identifier (for signing out).
    pub(super) session_id: String,
    /// The console.
    pub(super) state: Arc<ConsoleState>,
}

impl ConsoleAuth {
    /// The console service.
    pub(super) fn service(&self) -> &ConsoleService {
        &self.state.service
    }
}

impl FromRequestParts<AppState> for ConsoleAuth {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let state = console_state(parts)?;
        let id = cookie(&parts.headers, session_cookie_name(&state))
            .ok_or(ConsoleError::SignIn)?
            .to_owned();
        let signed = state.service.session(&id, client_ip(parts)).await?;
        Ok(Self {
            signed,
            session_id: id,
            state,
        })
    }
}

/// Whether a request says its body is an HTML form.
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Reads a urlencoded form body (at most [`BODY_LIMIT`] bytes).
async fn form_bytes(req: Request) -> Result<Bytes, ConsoleError> {
    if !is_form(req.headers()) {
        return Err(ConsoleError::BadForm(
            "the form must be sent as application/x-www-form-urlencoded".to_owned(),
        ));
    }
    let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
        .await
        .map_err(|_| ConsoleError::BadForm("the form could not be read".to_owned()))?;
    Ok(body)
}

/// The value of field `name` in a urlencoded body.
fn field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Parses a form into `T` (unknown fields, such as `csrf`, are ignored).
pub(super) fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, ConsoleError> {
    serde_urlencoded::from_bytes::<T>(body).map_err(|_| {
        ConsoleError::BadForm("a field of the form is missing or not valid".to_owned())
    })
}

/// A form posted by the signed-in administrator, with the session's CSRF token checked
/// (constant time) before the form is read.
#[derive(Debug)]
pub struct ConsoleForm<T> {
    /// The administrator.
    pub auth: ConsoleAuth,
    /// The form.
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for ConsoleForm<T> {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let auth = ConsoleAuth::from_request_parts(&mut parts, state).await?;
        let body = form_bytes(Request::from_parts(parts, body)).await?;
        let submitted = field(&body, "csrf").unwrap_or_default();
        if !ConsoleService::check_csrf(&auth.session_id, &submitted) {
            return Err(ConsoleError::Csrf);
        }
        Ok(Self {
            auth,
            form: parse_form(&body)?,
        })
    }
}

/// A form posted without a session (sign-in), body read and checked against the
/// double-submit cookie by the handler.
#[derive(Debug)]
pub struct RawForm {
    /// The request's headers.
    pub headers: HeaderMap,
    /// The client address.
    pub source: Option<String>,
    /// The console.
    pub state: Arc<ConsoleState>,
    /// The body.
    pub body: Bytes,
}

impl RawForm {
    /// Field `name` of the form.
    pub fn field(&self, name: &str) -> Option<String> {
        field(&self.body, name)
    }
}

impl FromRequest<AppState> for RawForm {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let state = console_state(&parts)?;
        let source = client_ip(&parts);
        let headers = parts.headers.clone();
        let body = form_bytes(Request::from_parts(parts, body)).await?;
        Ok(Self {
            headers,
            source,
            state,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; latchkey_console_x=2; latchkey_console=abc"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "a"), Some("1"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn cookie_flags() {
        let c = set_cookie(COOKIE_SECURE, "v", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!set_cookie(COOKIE, "v", false).contains("Secure"));
    }
}

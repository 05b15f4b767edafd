//! Extractors: the authenticated administrator or agent, JSON bodies, path and query
//! parameters.
//! Each rejects with an [`ApiError`] (JSON `ErrorBody`), never with axum's plain-text answers.
//!
//! Invariants:
//! - Authentication runs before the body is read (it is a request-parts extractor, and axum
//!   runs those before the body extractor), so an anonymous caller learns nothing about the
//!   shape of a body.
//! - Rejection messages are built by [`crate::body_error`] and never repeat a request value.
//! - axum's rejections are never turned into responses here, so its trace-level rejection log
//!   (which contains serde's raw message, values included) is never written.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use latchkey_core::CoreError;
use latchkey_core::authz::Actor;
use latchkey_core::model::Agent;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::{AppState, BODY_LIMIT, body_error};

/// The administrator making the request, authenticated by `Authorization: Bearer TOKEN`.
#[derive(Debug, Clone)]
pub struct AdminAuth(pub Actor);

/// The bearer token of a request, if it has a well-formed `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        let source = client_ip(parts);
        Ok(Self(state.admin.authenticate(token, source).await?))
    }
}

/// The client address of the connection, when the server was started with connect info
/// (the in-process tests are not, unless they add it).
fn client_ip(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
}

/// The REST agent making an authentication request, authenticated by its API key in
/// `Authorization: Bearer KEY`, and the address the request came from.
#[derive(Debug, Clone)]
pub struct AgentAuth {
    /// The agent.
    pub agent: Agent,
    /// The agent's address (the connection's peer).
    pub source: Option<String>,
}

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = bearer(&parts.headers).ok_or_else(ApiError::unauthenticated_agent)?;
        let agent = match state.authn.authenticate_agent(key).await {
            Ok(a) => a,
            Err(CoreError::Unauthenticated) => return Err(ApiError::unauthenticated_agent()),
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            agent,
            source: client_ip(parts),
        })
    }
}

/// The cloud application making a cloud-channel authentication request, authenticated by its
/// API key, and the address the request came from.
#[derive(Debug, Clone)]
pub struct CloudAgentAuth(pub AgentAuth);

impl FromRequestParts<AppState> for CloudAgentAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = bearer(&parts.headers).ok_or_else(ApiError::unauthenticated_agent)?;
        let agent = match state.authn.authenticate_cloud_agent(key).await {
            Ok(a) => a,
            Err(CoreError::Unauthenticated) => return Err(ApiError::unauthenticated_agent()),
            Err(e) => return Err(e.into()),
        };
        Ok(Self(AgentAuth {
            agent,
            source: client_ip(parts),
        }))
    }
}

/// A JSON request body of type `T`: `Content-Type: application/json` (or `+json`), at most
/// [`BODY_LIMIT`] bytes, and a JSON object. (serde would also build a struct from an array of
/// its field values; no request of ours has that shape, so it is refused.)
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

/// Whether the request says its body is JSON.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::invalid(
                "the body must be JSON: send Content-Type: application/json",
                None,
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(BODY_LIMIT)
            } else {
                ApiError::invalid("the request body could not be read", None)
            }
        })?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::invalid(
                "the request body must be a JSON object",
                None,
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            let inner = text
                .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                .unwrap_or("");
            let p = body_error::describe(inner);
            ApiError::invalid(p.message, p.field)
        }
        JsonRejection::JsonSyntaxError(e) => {
            let text = e.body_text();
            let inner = text
                .strip_prefix("Failed to parse the request body as JSON: ")
                .unwrap_or("");
            let p = body_error::describe(inner);
            ApiError::invalid(p.message, p.field)
        }
        _ => ApiError::invalid("the request body is not acceptable JSON", None),
    }
}

/// Path parameters of type `T`.
#[derive(Debug, Clone)]
pub struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(_) => Err(ApiError::invalid(
                "a path segment is not valid (percent-encoded UTF-8 expected)",
                None,
            )),
        }
    }
}

/// Query parameters of type `T`.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(e) => {
                let text = e.body_text();
                let inner = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or("");
                let p = body_error::describe(inner);
                Err(ApiError::invalid(
                    format!("query string: {}", p.message),
                    p.field,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_header_is_parsed_strictly() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            m
        };
        assert_eq!(bearer(&h("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&h("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&h("Basic abc")), None);
        assert_eq!(bearer(&h("Bearer ")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn json_content_types() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(is_json(&h("application/json")));
        assert!(is_json(&h("Application/JSON; charset=utf-8")));
        assert!(is_json(&h("application/merge-patch+json")));
        assert!(!is_json(&h("text/plain")));
        assert!(!is_json(&h("application/jsonx")));
        assert!(!is_json(&HeaderMap::new()));
    }
}

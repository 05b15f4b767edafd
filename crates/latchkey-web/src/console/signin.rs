//! Sign-in (password + passcode of the administrator's own token) and sign-out.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::CoreError;
use latchkey_crypto::secret::ct_eq;
use latchkey_crypto::verifier::generate_bearer_token;
use maud::{Markup, html};

use super::layout;
use super::session::{
    ConsoleAuth, ConsoleError, ConsoleForm, PRE_COOKIE, PRE_COOKIE_SECURE, Page, RawForm,
    clear_session_cookie, console_state, cookie, session_cookie_name, set_cookie,
};

fn form(token: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.card method="post" action="/console/sign-in" {
            input type="hidden" name="csrf" value=(token);
            label { "Administrator" input name="name" autocomplete="username" required; }
            label { "Password" input type="password" name="password" autocomplete="current-password" required; }
            label { "Passcode (PIN + tokencode of your Latchkey token)"
                input name="passcode" autocomplete="one-time-code" inputmode="text" required; }
            button type="submit" { "Sign in" }
        }
        p.hint { "Your passcode comes from the Latchkey token of the user with your administrator name in your own domain." }
    }
}

fn pre_cookie(secure: bool) -> &'static str {
    if secure {
        PRE_COOKIE_SECURE
    } else {
        PRE_COOKIE
    }
}

/// The sign-in page; sets the double-submit cookie its form must echo.
fn render(secure: bool, status: StatusCode, error: Option<&str>) -> Response {
    let mut rng = rand_rng();
    let token = generate_bearer_token(&mut rng, "lkpre");
    let mut res = (
        status,
        layout::bare_markup("Sign in", &form(token.expose(), error)),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie(pre_cookie(secure), token.expose(), secure)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

fn rand_rng() -> latchkey_core::ports::EntropyRng<'static> {
    latchkey_core::ports::EntropyRng(&latchkey_core::ports::OsEntropy)
}

/// `GET /console/sign-in`.
pub(super) async fn page(req: axum::extract::Request) -> Page {
    let (parts, _) = req.into_parts();
    let state = console_state(&parts)?;
    Ok(render(state.secure_cookies, StatusCode::OK, None))
}

/// `POST /console/sign-in`.
pub(super) async fn submit(f: RawForm) -> Page {
    let secure = f.state.secure_cookies;
    let pre = cookie(&f.headers, pre_cookie(secure)).unwrap_or_default();
    let sent = f.field("csrf").unwrap_or_default();
    if pre.is_empty() || !ct_eq(pre.as_bytes(), sent.as_bytes()) {
        return Err(ConsoleError::Csrf);
    }
    let name = f.field("name").unwrap_or_default();
    let password = f.field("password").unwrap_or_default();
    let passcode = f.field("passcode").unwrap_or_default();
    match f
        .state
        .service
        .sign_in(&name, &password, &passcode, f.source.clone())
        .await
    {
        Ok(s) => {
            let mut res = Redirect::to("/console/users").into_response();
            let c = set_cookie(session_cookie_name(&f.state), s.id.expose(), secure);
            if let Ok(v) = HeaderValue::from_str(&c) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(res)
        }
        Err(CoreError::Unauthenticated) => Ok(render(
            secure,
            StatusCode::UNAUTHORIZED,
            Some("Sign-in failed: the name, password or passcode is not right."),
        )),
        Err(CoreError::Invalid { reason, .. }) => {
            Ok(render(secure, StatusCode::UNAUTHORIZED, Some(&reason)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /console/sign-out`.
pub(super) async fn sign_out(f: ConsoleForm<super::users::NoFields>) -> Page {
    let auth: ConsoleAuth = f.auth;
    auth.service()
        .sign_out(&auth.session_id, &auth.signed.actor)
        .await?;
    let mut res = Redirect::to("/console/sign-in").into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_session_cookie(&auth.state)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

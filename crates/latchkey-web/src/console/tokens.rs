//! Tokens: the list in the administrator's scope, import (base32 seed or `otpauth://` URI),
//! generate and enrol (the QR code shown once), assign / unassign, enable / disable and
//! require a new PIN — each through the same `AdminService` method as the admin API.

use std::fmt::Write as _;

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect};
use latchkey_core::authz::{Permission, grants};
use latchkey_proto::admin::{GenerateToken, ImportToken, TokenType, TokenView, UpdateToken};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, csrf, notice, time};
use super::session::{ConsoleAuth, ConsoleForm, Page};
use super::users::Done;

/// An empty form field is an absent one.
fn some(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn type_name(t: TokenType) -> &'static str {
    match t {
        TokenType::Totp => "totp",
        TokenType::Hotp => "hotp",
    }
}

fn token_type(s: Option<&str>) -> Option<TokenType> {
    match s {
        Some("hotp") => Some(TokenType::Hotp),
        Some("totp") => Some(TokenType::Totp),
        _ => None,
    }
}

/// A number field: empty is absent; anything else must be a number (the core checks range).
fn number<T: std::str::FromStr>(
    field: &str,
    s: Option<String>,
) -> Result<Option<T>, super::ConsoleError> {
    match some(s) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| super::ConsoleError::BadForm(format!("{field}: must be a number"))),
    }
}

fn done_text(d: &str) -> Option<&'static str> {
    match d {
        "imported" => Some("The token was imported."),
        "updated" => Some("Saved."),
        "pin" => Some("The user must choose a new PIN at the next authentication."),
        _ => None,
    }
}

fn type_select() -> Markup {
    html! {
        label { "Type"
            select name="type" {
                option value="totp" { "TOTP (time-based)" }
                option value="hotp" { "HOTP (counter-based)" }
            }
        }
    }
}

fn tokens_table(tokens: &[TokenView]) -> Markup {
    html! {
        table.list #tokens {
            thead { tr { th { "Serial" } th { "Type" } th { "Domain" } th { "User" } th { "Enabled" } th { "PIN" } } }
            tbody {
                @for t in tokens {
                    tr {
                        td data-label="Serial" { a href=(format!("/console/tokens/{}", t.serial)) { (t.serial) } }
                        td data-label="Type" { (type_name(t.token_type)) " · " (t.digits) " digits" }
                        td data-label="Domain" { (t.domain) }
                        td data-label="User" { @if let Some(u) = &t.user { a href=(format!("/console/users/{u}")) { (u) } } @else { "—" } }
                        td data-label="Enabled" { @if t.enabled { "yes" } @else { "no" } }
                        td data-label="PIN" { @if t.has_pin { "set" } @else { "none" } @if t.new_pin_required { " (new PIN required)" } }
                    }
                }
            }
        }
    }
}

/// `GET /console/tokens`: the tokens in scope, with import and enrol forms when the role
/// allows managing tokens.
pub(super) async fn list(auth: ConsoleAuth, Query(d): Query<Done>) -> Page {
    let tokens = auth
        .service()
        .admin()
        .list_tokens(&auth.signed.actor, None)
        .await?;
    let manage = grants(auth.signed.actor.role, Permission::ManageTokens);
    let content = html! {
        (notice(done_text(&d.done)))
        p { (tokens.len()) " token(s)" }
        (tokens_table(&tokens))
        @if manage {
            div.cols {
                form.card #enrol-form method="post" action="/console/tokens/generate" {
                    h2 { "Enrol a new token (QR code)" }
                    (csrf(&auth))
                    label { "User (optional)" input type="text" name="user"; }
                    label { "Serial (optional)" input type="text" name="serial"; }
                    (type_select())
                    label { "Digits" input type="number" name="digits" value="6" min="6" max="8"; }
                    button type="submit" { "Generate" }
                }
                form.card #import-form method="post" action="/console/tokens/import" {
                    h2 { "Import a token" }
                    (csrf(&auth))
                    label { "Serial (optional with a URI)" input type="text" name="serial"; }
                    label { "User (optional)" input type="text" name="user"; }
                    label { "Base32 seed" input type="text" name="secret" autocomplete="off"; }
                    label { "or otpauth:// URI" input type="text" name="uri" autocomplete="off"; }
                    (type_select())
                    label { "Digits" input type="number" name="digits" value="6" min="6" max="8"; }
                    button type="submit" { "Import" }
                }
            }
        }
    };
    Ok(layout::page(&auth, "Tokens", &content))
}

/// The enrol form.
#[derive(Debug, Deserialize)]
pub(super) struct GenerateForm {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default, rename = "type")]
    token_type: Option<String>,
    #[serde(default)]
    digits: Option<String>,
}

/// A `data:` URI of an SVG document (percent-encoded), for an `img` the CSP allows.
fn svg_data_uri(svg: &str) -> String {
    let mut out = String::from("data:image/svg+xml,");
    for b in svg.bytes() {
        if b.is_ascii_alphanumeric() || b" -_.:/=".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `POST /console/tokens/generate`: a new token; its QR code and URI appear in this answer
/// only.
pub(super) async fn generate(f: ConsoleForm<GenerateForm>) -> Page {
    let auth = &f.auth;
    let req = GenerateToken {
        serial: some(f.form.serial),
        user: some(f.form.user),
        domain: None,
        token_type: token_type(f.form.token_type.as_deref()),
        digits: number("digits", f.form.digits)?,
        period: None,
        algorithm: None,
    };
    let g = auth
        .service()
        .admin()
        .generate_token(&auth.signed.actor, req)
        .await?;
    let content = html! {
        section.card.shown-once #enrolled {
            h2 { "Token " (g.token.serial) }
            p.hint { "Scan this QR code with the authenticator app now: it is shown only here, once (no other page shows it; sending this form again enrols another token)." }
            img #qr src=(svg_data_uri(&g.qr_svg)) alt="QR code of the token's otpauth URI" width="240" height="240";
            details { summary { "otpauth URI" } code.secret #otpauth { (g.otpauth_uri) } }
        }
        p { a href=(format!("/console/tokens/{}", g.token.serial)) { "Manage the token" } " · " a href="/console/tokens" { "Back to tokens" } }
    };
    Ok(layout::page(auth, "Token enrolled", &content))
}

/// The import form.
#[derive(Debug, Deserialize)]
pub(super) struct ImportForm {
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default, rename = "type")]
    token_type: Option<String>,
    #[serde(default)]
    digits: Option<String>,
}

/// `POST /console/tokens/import`.
pub(super) async fn import(f: ConsoleForm<ImportForm>) -> Page {
    let uri = some(f.form.uri);
    let from_uri = uri.is_some();
    let req = ImportToken {
        serial: some(f.form.serial),
        user: some(f.form.user),
        domain: None,
        // With a URI the URI says the type and digits.
        token_type: if from_uri {
            None
        } else {
            token_type(f.form.token_type.as_deref())
        },
        secret: some(f.form.secret),
        uri,
        digits: if from_uri {
            None
        } else {
            number("digits", f.form.digits)?
        },
        period: None,
        algorithm: None,
        counter: None,
    };
    let t = f
        .auth
        .service()
        .admin()
        .import_token(&f.auth.signed.actor, req)
        .await?;
    Ok(Redirect::to(&format!("/console/tokens/{}?done=imported", t.serial)).into_response())
}

/// `GET /console/tokens/{serial}`: one token with its actions.
pub(super) async fn token_page(
    auth: ConsoleAuth,
    Path(serial): Path<String>,
    Query(d): Query<Done>,
) -> Page {
    let t = auth
        .service()
        .admin()
        .show_token(&auth.signed.actor, &serial)
        .await?;
    let role = auth.signed.actor.role;
    let manage = grants(role, Permission::ManageTokens);
    let pin = grants(role, Permission::ResetPin);
    let base = format!("/console/tokens/{}", t.serial);
    let content = html! {
        (notice(done_text(&d.done)))
        p { a href="/console/tokens" { "← Tokens" } }
        section.card {
            dl.facts #token-facts {
                dt { "Type" } dd { (type_name(t.token_type)) " · " (t.digits) " digits" }
                dt { "Domain" } dd { (t.domain) }
                dt { "User" } dd #token-user { (t.user.clone().unwrap_or_else(|| "unassigned".to_owned())) }
                dt { "Enabled" } dd #token-enabled { @if t.enabled { "yes" } @else { "no" } }
                dt { "PIN" } dd { @if t.has_pin { "set" } @else { "none" } @if t.new_pin_required { " (new PIN required)" } }
                dt { "Created" } dd { (time(t.created_at)) }
            }
            p { a href=(format!("{base}/emergency")) { "Emergency Access Tokencodes" } }
        }
        @if manage {
            form.card #assign-form method="post" action=(format!("{base}/assign")) {
                h2 { "Assign" }
                (csrf(&auth))
                label { "User (empty to unassign)" input type="text" name="user" value=(t.user.clone().unwrap_or_default()); }
                button type="submit" { "Save" }
            }
            form.card #enable-form method="post" action=(format!("{base}/enabled")) {
                (csrf(&auth))
                input type="hidden" name="enabled" value=(if t.enabled { "false" } else { "true" });
                button type="submit" class=[t.enabled.then_some("danger")] { @if t.enabled { "Disable" } @else { "Enable" } }
            }
        }
        @if pin {
            form.card #pin-form method="post" action=(format!("{base}/new-pin")) {
                (csrf(&auth))
                label.check { input type="checkbox" name="clear" value="on"; " Also clear the current PIN" }
                button type="submit" { "Require new PIN" }
            }
        }
    };
    Ok(layout::page(
        &auth,
        &format!("Token {}", t.serial),
        &content,
    ))
}

/// The assign form.
#[derive(Debug, Deserialize)]
pub(super) struct AssignForm {
    #[serde(default)]
    user: Option<String>,
}

/// `POST /console/tokens/{serial}/assign`: assign to a user, or unassign with an empty user.
pub(super) async fn assign(Path(serial): Path<String>, f: ConsoleForm<AssignForm>) -> Page {
    let req = UpdateToken {
        enabled: None,
        // The admin API unassigns with an empty user name.
        user: Some(some(f.form.user).unwrap_or_default()),
    };
    f.auth
        .service()
        .admin()
        .update_token(&f.auth.signed.actor, &serial, req)
        .await?;
    Ok(Redirect::to(&format!("/console/tokens/{serial}?done=updated")).into_response())
}

/// The enable / disable form.
#[derive(Debug, Deserialize)]
pub(super) struct EnabledForm {
    enabled: bool,
}

/// `POST /console/tokens/{serial}/enabled`.
pub(super) async fn set_enabled(Path(serial): Path<String>, f: ConsoleForm<EnabledForm>) -> Page {
    let req = UpdateToken {
        enabled: Some(f.form.enabled),
        user: None,
    };
    f.auth
        .service()
        .admin()
        .update_token(&f.auth.signed.actor, &serial, req)
        .await?;
    Ok(Redirect::to(&format!("/console/tokens/{serial}?done=updated")).into_response())
}

/// The require-new-PIN form.
#[derive(Debug, Deserialize)]
pub(super) struct NewPinForm {
    #[serde(default)]
    clear: Option<String>,
}

/// `POST /console/tokens/{serial}/new-pin`.
pub(super) async fn new_pin(Path(serial): Path<String>, f: ConsoleForm<NewPinForm>) -> Page {
    f.auth
        .service()
        .admin()
        .require_new_pin(&f.auth.signed.actor, &serial, f.form.clear.is_some())
        .await?;
    Ok(Redirect::to(&format!("/console/tokens/{serial}?done=pin")).into_response())
}

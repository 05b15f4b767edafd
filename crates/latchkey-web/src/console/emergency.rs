//! Emergency access pages (PRODUCT.md §4): Manage Emergency Offline Access (the user's
//! offline emergency passcode), Emergency Access Tokencodes (a token's online codes and its
//! offline emergency tokencode) and Generate Emergency Access Code.
//!
//! Reading a value needs a reason and is a `POST`; the value appears only in the answer to
//! that `POST`. Generated codes likewise appear once, in the answer that made them.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use latchkey_core::CoreError;
use latchkey_core::authz::{Permission, grants};
use latchkey_proto::emergency::{
    EacView, GenerateEac, GrantOnlineEmergency, GrantedOnlineEmergency, OfflineEmergencyView,
    OnlineEmergencyKind, OnlineEmergencyView, ResetOfflineRequest,
};
use latchkey_proto::policy::TokenAvailableBehavior;
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, csrf, date, notice, time};
use super::session::{ConsoleAuth, ConsoleError, ConsoleForm, Page};
use super::users::{Done, NoFields};

/// `Ok(None)` for a value that does not exist yet.
fn optional<T>(r: Result<T, CoreError>) -> Result<Option<T>, ConsoleError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(CoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An empty form field is an absent one.
fn some(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn done_text(d: &str) -> Option<&'static str> {
    match d {
        "reset" => Some(
            "A new value was generated. It reaches offline hosts at the user's next online authentication; read it with a reason to tell the user.",
        ),
        "unchanged" => Some("Nothing was changed."),
        "updated" => Some("Saved."),
        "ended" => Some("Online emergency access ended."),
        _ => None,
    }
}

/// State of an offline value (passcode or tokencode) with its value when just revealed.
fn offline_state(v: Option<&OfflineEmergencyView>) -> Markup {
    html! {
        @match v {
            None => p #offline-state { "Not generated yet: it is generated when first read or downloaded." }
            Some(v) => {
                dl.facts #offline-state {
                    @if let Some(value) = v.passcode.as_ref().or(v.tokencode.as_ref()) {
                        dt { "Value" } dd { code.secret #offline-value { (value) } }
                    }
                    dt { "Expiration date" } dd #offline-expires { (date(v.expires_at)) " (" (time(v.expires_at)) ")" }
                    dt { "Generation" } dd { (v.generation) }
                    dt { "Generated" } dd { (time(v.created_at)) }
                    @if let Some(o) = v.online_use { dt { "Use for online access" } dd { @if o { "yes" } @else { "no" } } }
                }
                @if !v.hosts.is_empty() {
                    h3 { "Hosts holding offline data" }
                    table.list #offline-hosts {
                        thead { tr { th { "Host" } th { "Generation held" } th { "Last sync" } } }
                        tbody { @for h in &v.hosts { tr { td { (h.host) } td { (h.generation) } td { (time(h.last_sync)) } } } }
                    }
                }
            }
        }
    }
}

fn reveal_form(auth: &ConsoleAuth, action: &str) -> Markup {
    html! {
        form.card #reveal-form method="post" action=(action) {
            (csrf(auth))
            label { "Reason for reading the value (recorded in the audit log)"
                textarea name="reason" required maxlength="500" rows="2" {} }
            button type="submit" { "Reveal" }
        }
    }
}

// ----- Manage Emergency Offline Access (the user's passcode) -----

fn offline_render(
    auth: &ConsoleAuth,
    login: &str,
    view: Option<&OfflineEmergencyView>,
    done: Option<&str>,
) -> Response {
    let may = grants(auth.signed.actor.role, Permission::Emergency);
    let base = format!("/console/users/{login}/offline-access");
    let content = html! {
        (notice(done))
        p { a href=(format!("/console/users/{login}")) { "← " (login) } }
        section.card {
            h2 { "Offline emergency passcode" }
            (offline_state(view))
        }
        @if may {
            (reveal_form(auth, &format!("{base}/reveal")))
            form.card #update-form method="post" action=(base) {
                (csrf(auth))
                label.check { input type="checkbox" name="reset" value="on"; " Reset offline emergency access passcode" }
                button type="submit" { "Update" }
            }
        } @else {
            p.hint { "Your role does not allow reading or resetting emergency values." }
        }
    };
    layout::page(auth, "Manage Emergency Offline Access", &content)
}

/// `GET /console/users/{login}/offline-access`.
pub(super) async fn offline_page(
    auth: ConsoleAuth,
    Path(login): Path<String>,
    Query(d): Query<Done>,
) -> Page {
    let v = optional(
        auth.service()
            .admin()
            .show_offline_passcode(&auth.signed.actor, &login)
            .await,
    )?;
    Ok(offline_render(
        &auth,
        &login,
        v.as_ref(),
        done_text(&d.done),
    ))
}

/// A reveal form.
#[derive(Debug, Deserialize)]
pub(super) struct Reveal {
    #[serde(default)]
    reason: String,
}

/// `POST /console/users/{login}/offline-access/reveal`: the value and its expiry, once.
pub(super) async fn offline_reveal(Path(login): Path<String>, f: ConsoleForm<Reveal>) -> Page {
    let v = f
        .auth
        .service()
        .admin()
        .reveal_offline_passcode(&f.auth.signed.actor, &login, &f.form.reason)
        .await?;
    Ok(offline_render(&f.auth, &login, Some(&v), None))
}

/// The Update form of an offline value.
#[derive(Debug, Deserialize)]
pub(super) struct OfflineUpdate {
    reset: Option<String>,
    online_use: Option<String>,
}

/// `POST /console/users/{login}/offline-access`: reset when ticked.
pub(super) async fn offline_update(
    Path(login): Path<String>,
    f: ConsoleForm<OfflineUpdate>,
) -> Page {
    if f.form.reset.is_none() {
        return Ok(Redirect::to(&format!(
            "/console/users/{login}/offline-access?done=unchanged"
        ))
        .into_response());
    }
    let req = ResetOfflineRequest {
        reason: None,
        online_use: None,
    };
    f.auth
        .service()
        .admin()
        .reset_offline_passcode(&f.auth.signed.actor, &login, &req)
        .await?;
    Ok(Redirect::to(&format!("/console/users/{login}/offline-access?done=reset")).into_response())
}

// ----- Emergency Access Tokencodes (per token) -----

fn behavior_name(b: TokenAvailableBehavior) -> &'static str {
    match b {
        TokenAvailableBehavior::DenyToken => "deny the token",
        TokenAvailableBehavior::AllowAndEndEmergency => "allow it and end emergency access",
        TokenAvailableBehavior::AllowAfterExpiry => "allow it only after the codes expire",
    }
}

fn online_state(v: Option<&OnlineEmergencyView>) -> Markup {
    html! {
        @match v {
            None => p #online-state { "Not in emergency access mode." }
            Some(v) => dl.facts #online-state {
                dt { "Mode" } dd { @match v.kind { OnlineEmergencyKind::Fixed => "temporary fixed tokencode", OnlineEmergencyKind::OneTime => "set of one-time tokencodes" } }
                dt { "Expires" } dd { (v.expires_at.map_or_else(|| "never".to_owned(), time)) @if v.expired { " (expired)" } }
                @if v.kind == OnlineEmergencyKind::OneTime { dt { "Unused codes" } dd { (v.unused_codes) } }
                dt { "If the token becomes available" } dd { (behavior_name(v.token_available)) }
                dt { "Granted" } dd { (time(v.created_at)) }
            }
        }
    }
}

fn granted_codes(g: &GrantedOnlineEmergency) -> Markup {
    html! {
        section.card.shown-once #online-codes {
            h2 { "Shown once — give these to the user now" }
            @if let Some(c) = &g.code {
                p { "Temporary fixed tokencode: " code.secret #online-code { (c) } " " button.copy type="button" data-copy="online-code" { "Copy" } }
            }
            @if let Some(cs) = &g.codes {
                ol.codes { @for c in cs { li { code.secret { (c) } } } }
            }
        }
    }
}

struct TokenPage<'a> {
    online: Option<&'a OnlineEmergencyView>,
    offline: Option<&'a OfflineEmergencyView>,
    granted: Option<&'a GrantedOnlineEmergency>,
    done: Option<&'a str>,
}

async fn token_render(auth: &ConsoleAuth, serial: &str, p: TokenPage<'_>) -> Page {
    let actor = &auth.signed.actor;
    let admin = auth.service().admin();
    let t = admin.show_token(actor, serial).await?;
    let may = grants(actor.role, Permission::Emergency);
    let base = format!("/console/tokens/{serial}/emergency");
    let online_use = p.offline.and_then(|o| o.online_use).unwrap_or(false);
    let content = html! {
        (notice(p.done))
        @if let Some(u) = &t.user { p { a href=(format!("/console/users/{u}")) { "← " (u) } } }
        @if let Some(g) = p.granted { (granted_codes(g)) }
        section.card {
            h2 { "Online emergency access" }
            (online_state(p.online))
            @if may {
                form #grant-form method="post" action=(format!("{base}/online")) {
                    (csrf(auth))
                    fieldset {
                        legend { "Codes" }
                        label.check { input type="radio" name="kind" value="fixed" checked; " Temporary fixed tokencode" }
                        label.check { input type="radio" name="kind" value="one_time"; " Set of one-time tokencodes" }
                        label { "How many one-time codes (1–100)" input type="number" name="count" min="1" max="100" value="10"; }
                    }
                    label { "Lifetime: empty for the default (7 days), a date YYYY-MM-DD, or never"
                        input name="expires" placeholder="YYYY-MM-DD"; }
                    label { "If the token becomes available"
                        select name="token_available" {
                            option value="allow_and_end_emergency" selected { (behavior_name(TokenAvailableBehavior::AllowAndEndEmergency)) }
                            option value="deny_token" { (behavior_name(TokenAvailableBehavior::DenyToken)) }
                            option value="allow_after_expiry" { (behavior_name(TokenAvailableBehavior::AllowAfterExpiry)) }
                        }
                    }
                    button type="submit" { "Put into emergency access" }
                }
                @if p.online.is_some() {
                    form method="post" action=(format!("{base}/online/end")) {
                        (csrf(auth))
                        button.danger type="submit" { "End online emergency access" }
                    }
                }
            }
        }
        section.card {
            h2 { "Offline emergency tokencode" }
            (offline_state(p.offline))
            @if may {
                (reveal_form(auth, &format!("{base}/offline/reveal")))
                form #tokencode-form method="post" action=(format!("{base}/offline")) {
                    (csrf(auth))
                    label.check { input type="checkbox" name="reset" value="on"; " Reset offline emergency tokencode" }
                    label.check { input type="checkbox" name="online_use" value="on" checked[online_use]; " Use offline code for online access" }
                    button type="submit" { "Update" }
                }
            }
        }
    };
    Ok(layout::page(
        auth,
        &format!("Emergency Access Tokencodes · {serial}"),
        &content,
    ))
}

async fn token_state(
    auth: &ConsoleAuth,
    serial: &str,
) -> Result<(Option<OnlineEmergencyView>, Option<OfflineEmergencyView>), ConsoleError> {
    let actor = &auth.signed.actor;
    let admin = auth.service().admin();
    let online = optional(admin.show_online_emergency(actor, serial).await)?;
    let offline = optional(admin.show_offline_tokencode(actor, serial).await)?;
    Ok((online, offline))
}

/// `GET /console/tokens/{serial}/emergency`.
pub(super) async fn token_page(
    auth: ConsoleAuth,
    Path(serial): Path<String>,
    Query(d): Query<Done>,
) -> Page {
    let (online, offline) = token_state(&auth, &serial).await?;
    let page = TokenPage {
        online: online.as_ref(),
        offline: offline.as_ref(),
        granted: None,
        done: done_text(&d.done),
    };
    token_render(&auth, &serial, page).await
}

/// The grant form.
#[derive(Debug, Deserialize)]
pub(super) struct Grant {
    kind: OnlineEmergencyKind,
    count: Option<String>,
    expires: Option<String>,
    token_available: Option<TokenAvailableBehavior>,
}

/// `POST /console/tokens/{serial}/emergency/online`: grants and shows the codes once.
pub(super) async fn online_grant(Path(serial): Path<String>, f: ConsoleForm<Grant>) -> Page {
    let count = match (f.form.kind, some(f.form.count)) {
        (OnlineEmergencyKind::OneTime, Some(c)) => Some(c.parse::<u32>().map_err(|_| {
            ConsoleError::BadForm("the number of codes must be a whole number".to_owned())
        })?),
        _ => None,
    };
    let req = GrantOnlineEmergency {
        kind: f.form.kind,
        count,
        expires: some(f.form.expires),
        token_available: f.form.token_available,
    };
    let granted = f
        .auth
        .service()
        .admin()
        .grant_online_emergency(&f.auth.signed.actor, &serial, req)
        .await?;
    let (_, offline) = token_state(&f.auth, &serial).await?;
    let page = TokenPage {
        online: Some(&granted.view),
        offline: offline.as_ref(),
        granted: Some(&granted),
        done: None,
    };
    token_render(&f.auth, &serial, page).await
}

/// `POST /console/tokens/{serial}/emergency/online/end`.
pub(super) async fn online_end(Path(serial): Path<String>, f: ConsoleForm<NoFields>) -> Page {
    f.auth
        .service()
        .admin()
        .end_online_emergency(&f.auth.signed.actor, &serial)
        .await?;
    Ok(Redirect::to(&format!("/console/tokens/{serial}/emergency?done=ended")).into_response())
}

/// `POST /console/tokens/{serial}/emergency/offline/reveal`.
pub(super) async fn tokencode_reveal(Path(serial): Path<String>, f: ConsoleForm<Reveal>) -> Page {
    let v = f
        .auth
        .service()
        .admin()
        .reveal_offline_tokencode(&f.auth.signed.actor, &serial, &f.form.reason)
        .await?;
    let (online, _) = token_state(&f.auth, &serial).await?;
    let page = TokenPage {
        online: online.as_ref(),
        offline: Some(&v),
        granted: None,
        done: None,
    };
    token_render(&f.auth, &serial, page).await
}

/// `POST /console/tokens/{serial}/emergency/offline`: reset and/or the online-use flag.
pub(super) async fn tokencode_update(
    Path(serial): Path<String>,
    f: ConsoleForm<OfflineUpdate>,
) -> Page {
    let actor = &f.auth.signed.actor;
    let admin = f.auth.service().admin();
    let online_use = f.form.online_use.is_some();
    let done = if f.form.reset.is_some() {
        let req = ResetOfflineRequest {
            reason: None,
            online_use: Some(online_use),
        };
        admin.reset_offline_tokencode(actor, &serial, &req).await?;
        "reset"
    } else {
        admin
            .set_offline_tokencode_online_use(actor, &serial, online_use)
            .await?;
        "updated"
    };
    Ok(Redirect::to(&format!("/console/tokens/{serial}/emergency?done={done}")).into_response())
}

// ----- Generate Emergency Access Code -----

fn eac_state(v: Option<&EacView>) -> Markup {
    html! {
        @match v {
            None => p #eac-state { "No emergency access code." }
            Some(v) => dl.facts #eac-state {
                dt { "Kind" } dd { @if v.one_time { "one-time" } @else { "reusable" } }
                dt { "Valid online until" } dd { (time(v.expires_at)) }
                dt { "Valid on offline hosts until" } dd { (time(v.offline_expires_at)) }
                dt { "Generated" } dd { (time(v.created_at)) }
                @if let Some(u) = v.used_at { dt { "Used" } dd { (time(u)) } }
                @if v.defaults_locked { dt { "Settings" } dd { "the deployment's defaults are locked and were applied" } }
            }
        }
    }
}

fn eac_render(
    auth: &ConsoleAuth,
    login: &str,
    code: Option<&str>,
    v: Option<&EacView>,
) -> Response {
    let content = html! {
        p { a href=(format!("/console/users/{login}")) { "← " (login) } }
        @if let Some(c) = code {
            section.card.shown-once {
                h2 { "Shown once — give this code to the user now" }
                p { code.secret #eac-code { (c) } " " button.copy type="button" data-copy="eac-code" { "Copy" } }
            }
        }
        section.card { h2 { "Current code" } (eac_state(v)) }
        form.card #eac-form method="post" action=(format!("/console/users/{login}/access-code")) {
            (csrf(auth))
            label.check { input type="checkbox" name="one_time" value="on" checked; " One-time (otherwise reusable until it expires)" }
            label { "Online validity (1m–7d, e.g. 30m, 12h, 7d; empty for the default)" input name="expires_in" placeholder="12h"; }
            label { "Offline validity (empty for the default; not longer than online unless asked)" input name="offline_expires_in"; }
            p.hint { "A new code replaces the user's current one." }
            button type="submit" { "Generate" }
        }
    };
    layout::page(auth, "Generate Emergency Access Code", &content)
}

/// `GET /console/users/{login}/access-code`.
pub(super) async fn eac_page(auth: ConsoleAuth, Path(login): Path<String>) -> Page {
    let admin = auth.service().admin();
    // The user page's scope check, so an out-of-scope user is refused before anything else.
    admin.show_user(&auth.signed.actor, &login).await?;
    let v = optional(admin.show_eac(&auth.signed.actor, &login).await)?;
    Ok(eac_render(&auth, &login, None, v.as_ref()))
}

/// The EAC form.
#[derive(Debug, Deserialize)]
pub(super) struct Eac {
    one_time: Option<String>,
    expires_in: Option<String>,
    offline_expires_in: Option<String>,
}

/// `POST /console/users/{login}/access-code`: generates and shows the code once.
pub(super) async fn eac_generate(Path(login): Path<String>, f: ConsoleForm<Eac>) -> Page {
    let req = GenerateEac {
        one_time: Some(f.form.one_time.is_some()),
        expires_in: some(f.form.expires_in),
        offline_expires_in: some(f.form.offline_expires_in),
    };
    let g = f
        .auth
        .service()
        .admin()
        .generate_eac(&f.auth.signed.actor, &login, &req)
        .await?;
    Ok(eac_render(&f.auth, &login, Some(&g.code), Some(&g.view)))
}

//! Users: search, the help desk's user page (state, tokens and exactly the actions the
//! administrator's role allows), unlock, and the dashboard.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect};
use latchkey_core::CoreError;
use latchkey_core::authz::{Permission, grants};
use latchkey_proto::admin::{TokenView, UpdateUser, UserStatus, UserView};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, csrf, notice, time};
use super::session::{ConsoleAuth, ConsoleForm, Page};

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// Query of the user search.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    status: String,
}

fn status_name(s: UserStatus) -> &'static str {
    match s {
        UserStatus::Enabled => "enabled",
        UserStatus::Disabled => "disabled",
        UserStatus::Locked => "locked",
    }
}

/// `GET /console/users`: the users in the administrator's scope matching name, domain and
/// status.
pub(super) async fn search(auth: ConsoleAuth, Query(q): Query<Search>) -> Page {
    let actor = &auth.signed.actor;
    let users = auth.service().admin().list_users(actor).await?;
    let needle = q.q.trim().to_lowercase();
    let domains: Vec<String> = {
        let mut d: Vec<String> = users.iter().map(|u| u.domain.clone()).collect();
        d.sort();
        d.dedup();
        d
    };
    let hits: Vec<&UserView> = users
        .iter()
        .filter(|u| needle.is_empty() || u.login.to_lowercase().contains(&needle))
        .filter(|u| q.domain.is_empty() || u.domain == q.domain)
        .filter(|u| q.status.is_empty() || status_name(u.status) == q.status)
        .collect();
    let content = html! {
        form.search method="get" action="/console/users" {
            label { "Name" input type="search" name="q" value=(q.q) autofocus; }
            label { "Domain"
                select name="domain" {
                    option value="" { "any" }
                    @for d in &domains { option value=(d) selected[*d == q.domain] { (d) } }
                }
            }
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for s in ["enabled", "disabled", "locked"] { option value=(s) selected[s == q.status] { (s) } }
                }
            }
            button type="submit" { "Search" }
        }
        p { (hits.len()) " user(s)" }
        table.list {
            thead { tr { th { "User" } th { "Domain" } th { "Status" } th { "Tokens" } } }
            tbody {
                @for u in &hits {
                    tr {
                        td data-label="User" { a href=(format!("/console/users/{}", u.login)) { (u.login) } }
                        td data-label="Domain" { (u.domain) }
                        td data-label="Status" { span class=(format!("status {}", status_name(u.status))) { (status_name(u.status)) } }
                        td data-label="Tokens" { (u.tokens.join(", ")) }
                    }
                }
            }
        }
    };
    Ok(layout::page(&auth, "Users", &content))
}

/// Query of the user page (the notice after an action).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Done {
    #[serde(default)]
    pub(super) done: String,
}

/// What the actions menu offers: exactly the actions the administrator's role allows (the
/// user page is only reached in scope), none on the sign-in account of an administrator the
/// signed-in one may not manage (`guarded`). The core checks each action again when it is used.
fn menu(auth: &ConsoleAuth, u: &UserView, guarded: bool) -> Markup {
    let role = auth.signed.actor.role;
    let emergency = !guarded && grants(role, Permission::Emergency);
    let unlock = !guarded
        && grants(role, Permission::UnlockUser)
        && matches!(u.status, UserStatus::Locked | UserStatus::Disabled);
    html! {
        nav.actions #actions aria-label="Actions" {
            h2 { "Actions" }
            @if guarded {
                p.hint { "This is the sign-in account of an administrator your role may not manage: only they or a stronger administrator can change its credentials." }
            } @else if !emergency && !unlock { p.hint { "Your role allows no action on this user now." } }
            ul {
                @if unlock {
                    li {
                        form method="post" action=(format!("/console/users/{}/unlock", u.login)) {
                            (csrf(auth))
                            button type="submit" { @if u.status == UserStatus::Locked { "Unlock" } @else { "Enable" } }
                        }
                    }
                }
                @if emergency {
                    li { a href=(format!("/console/users/{}/offline-access", u.login)) { "Manage Emergency Offline Access" } }
                    li { a href=(format!("/console/users/{}/access-code", u.login)) { "Generate Emergency Access Code" } }
                    @for s in &u.tokens {
                        li { a href=(format!("/console/tokens/{s}/emergency")) { "Emergency Access Tokencodes: " (s) } }
                    }
                }
            }
        }
    }
}

fn tokens_table(tokens: &[TokenView]) -> Markup {
    html! {
        table.list {
            thead { tr { th { "Serial" } th { "Type" } th { "Enabled" } th { "PIN" } } }
            tbody {
                @for t in tokens {
                    tr {
                        td data-label="Serial" { a href=(format!("/console/tokens/{}/emergency", t.serial)) { (t.serial) } }
                        td data-label="Type" { (format!("{:?}", t.token_type).to_lowercase()) " · " (t.digits) " digits" }
                        td data-label="Enabled" { @if t.enabled { "yes" } @else { "no" } }
                        td data-label="PIN" { @if t.has_pin { "set" } @else { "none" } @if t.new_pin_required { " (new PIN required)" } }
                    }
                }
            }
        }
    }
}

/// `GET /console/users/{login}`: the help desk's user dashboard.
pub(super) async fn user_page(
    auth: ConsoleAuth,
    Path(login): Path<String>,
    Query(d): Query<Done>,
) -> Page {
    let actor = &auth.signed.actor;
    let admin = auth.service().admin();
    let u = admin.show_user(actor, &login).await?;
    let tokens = admin.list_tokens(actor, Some(&login)).await?;
    let extras = super::activity::user_sections(&auth, &u).await?;
    let guarded = !admin.may_change_credentials_of(actor, &login).await?;
    let content = html! {
        (notice(if d.done == "unlocked" { Some("The user was unlocked.") } else { None }))
        section.card {
            dl.facts {
                dt { "Domain" } dd { (u.domain) }
                dt { "Status" } dd { span #user-status class=(format!("status {}", status_name(u.status))) { (status_name(u.status)) } }
                dt { "Locked?" } dd { @if u.status == UserStatus::Locked { "yes" } @else { "no" } }
                dt { "E-mail" } dd { (u.email.clone().unwrap_or_default()) }
                dt { "Phones" } dd { (u.phones.len()) }
                dt { "Created" } dd { (time(u.created_at)) }
            }
        }
        (menu(&auth, &u, guarded))
        section {
            h2 { "Tokens" }
            (tokens_table(&tokens))
        }
        (extras)
    };
    Ok(layout::page(&auth, &format!("User {}", u.login), &content))
}

/// `POST /console/users/{login}/unlock`.
pub(super) async fn unlock(Path(login): Path<String>, f: ConsoleForm<NoFields>) -> Page {
    let req = UpdateUser {
        status: Some(UserStatus::Enabled),
        ..UpdateUser::default()
    };
    f.auth
        .service()
        .admin()
        .update_user(&f.auth.signed.actor, &login, req)
        .await?;
    Ok(Redirect::to(&format!("/console/users/{login}?done=unlocked")).into_response())
}

/// `GET /console/dashboard`: locked users and active emergency credentials in scope.
pub(super) async fn dashboard(auth: ConsoleAuth) -> Page {
    let actor = &auth.signed.actor;
    let admin = auth.service().admin();
    let users = admin.list_users(actor).await?;
    let locked: Vec<&UserView> = users
        .iter()
        .filter(|u| u.status == UserStatus::Locked)
        .collect();
    let tokens = admin.list_tokens(actor, None).await?;
    let mut active = Vec::new();
    for t in &tokens {
        match admin.show_online_emergency(actor, &t.serial).await {
            Ok(v) if !v.expired => active.push((t.user.clone().unwrap_or_default(), v)),
            Ok(_) | Err(CoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let extras = super::activity::dashboard_sections(&auth, &users, auth.service().now()).await?;
    let content = html! {
        (extras)
        section.card {
            h2 { "Locked users (" (locked.len()) ")" }
            ul { @for u in &locked { li { a href=(format!("/console/users/{}", u.login)) { (u.login) } " · " (u.domain) } } }
        }
        section.card {
            h2 { "Active online emergency access (" (active.len()) ")" }
            table.list {
                thead { tr { th { "Token" } th { "User" } th { "Kind" } th { "Expires" } } }
                tbody {
                    @for (user, v) in &active {
                        tr {
                            td { a href=(format!("/console/tokens/{}/emergency", v.serial)) { (v.serial) } }
                            td { (user) }
                            td { (format!("{:?}", v.kind)) }
                            td { (v.expires_at.map_or_else(|| "never".to_owned(), time)) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&auth, "Dashboard", &content))
}

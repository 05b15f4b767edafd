//! The page frame, shared fragments and formatting. maud escapes every interpolated value.

use axum::response::{Html, IntoResponse, Response};
use latchkey_core::authz::{Permission, grants};
use maud::{DOCTYPE, Markup, html};

use super::session::ConsoleAuth;

/// A whole HTML document: the `head` every page shares, then `body`.
fn document(title: &str, body: &Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Latchkey Security Console" }
                    link rel="stylesheet" href="/console/static/console.css";
                    script src="/console/static/console.js" defer {}
                }
                body { (body) }
            }
        }
        .into_string(),
    )
}

/// A page for a signed-in administrator: navigation, who is signed in, sign-out.
pub(super) fn page(auth: &ConsoleAuth, title: &str, content: &Markup) -> Response {
    let a = &auth.signed.actor;
    let audit = grants(a.role, Permission::ReadAudit);
    let directory = grants(a.role, Permission::ViewDirectory);
    document(
        title,
        &html! {
            header.top {
                a.brand href="/console/users" { "Latchkey" }
                nav {
                    a href="/console/users" { "Users" }
                    a href="/console/dashboard" { "Dashboard" }
                    a href="/console/tokens" { "Tokens" }
                    a href="/console/domains" { "Domains" }
                    @if directory { a href="/console/agents" { "Agents" } }
                    a href="/console/messaging" { "Messaging" }
                    @if directory { a href="/console/admins" { "Administrators" } }
                    @if audit { a href="/console/audit" { "Audit log" } }
                }
                form.signout method="post" action="/console/sign-out" {
                    (csrf(auth))
                    span.who { (a.name) " (" (role_name(a.role)) ")" }
                    button type="submit" { "Sign out" }
                }
            }
            main {
                h1 { (title) }
                (content)
            }
        },
    )
    .into_response()
}

/// A page without navigation (sign-in, errors).
pub(super) fn bare_markup(title: &str, content: &Markup) -> Html<String> {
    document(
        title,
        &html! {
            main.narrow {
                h1 { (title) }
                (content)
            }
        },
    )
}

/// An error page.
pub(super) fn bare(title: &str, text: &str) -> Html<String> {
    bare_markup(
        title,
        &html! {
            p.error role="alert" { (text) }
            p { a href="/console/users" { "Back to the console" } }
        },
    )
}

/// The hidden CSRF field of a form.
pub(super) fn csrf(auth: &ConsoleAuth) -> Markup {
    html! { input type="hidden" name="csrf" value=(auth.signed.csrf); }
}

/// A role's display name.
pub(super) fn role_name(r: latchkey_proto::admin::Role) -> &'static str {
    use latchkey_proto::admin::Role;
    match r {
        Role::SuperAdmin => "super administrator",
        Role::DomainAdmin => "domain administrator",
        Role::PrivilegedHelpDesk => "privileged help desk",
        Role::HelpDesk => "help desk",
        Role::Auditor => "auditor",
    }
}

/// `YYYY-MM-DD HH:MM UTC`.
pub(super) fn time(t: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&fmt).ok())
        .unwrap_or_else(|| t.to_string())
}

/// `YYYY-MM-DD` (UTC).
pub(super) fn date(t: i64) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&fmt).ok())
        .unwrap_or_else(|| t.to_string())
}

/// A notice at the top of a page.
pub(super) fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(t) = text { p.notice role="status" { (t) } }
    }
}

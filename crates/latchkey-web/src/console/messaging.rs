//! Messaging: the deployment's SMS and voice providers and the outbox of the users in scope.
//!
//! Super administrators edit the providers as the ordered JSON list of the admin API
//! (`PUT /api/v1/admin/messaging/providers`): the page shows it with every secret as `"set"`,
//! and a secret left `"set"` keeps the stored one
//! ([`AdminService::set_messaging_providers`](latchkey_core::admin::AdminService::set_messaging_providers)
//! validates the whole list first; a refused list is shown again with the reason, and nothing
//! is changed). "Use the configuration file's providers" removes the stored list. Other roles
//! see the outbox only.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use latchkey_core::CoreError;
use latchkey_core::authz::{Permission, grants};
use latchkey_proto::messaging::{ProviderList, ProviderSource};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, csrf, notice, time};
use super::session::{ConsoleAuth, ConsoleForm, Page};
use super::users::{Done, NoFields};

/// `GET /console/messaging`.
pub(super) async fn page(auth: ConsoleAuth, Query(d): Query<Done>) -> Page {
    let done = match d.done.as_str() {
        "saved" => Some("The providers were saved; every node uses them from its next send."),
        "cleared" => {
            Some("The stored providers were removed; the configuration file's apply again.")
        }
        _ => None,
    };
    render(&auth, done, None).await
}

/// The providers form.
#[derive(Debug, Deserialize)]
pub(super) struct ProvidersForm {
    providers: String,
}

/// `POST /console/messaging/providers`: replaces the stored list.
pub(super) async fn set(f: ConsoleForm<ProvidersForm>) -> Page {
    let auth = &f.auth;
    let text = &f.form.providers;
    let reason = match serde_json::from_str::<Vec<serde_json::Value>>(text) {
        Err(e) => format!("not a JSON list of providers: {e}"),
        Ok(list) => {
            match auth
                .service()
                .admin()
                .set_messaging_providers(&auth.signed.actor, &list)
                .await
            {
                Ok(_) => return Ok(Redirect::to("/console/messaging?done=saved").into_response()),
                Err(CoreError::Invalid { field, reason }) => format!("{field}: {reason}"),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let mut res = render(auth, None, Some((text, &reason))).await?;
    *res.status_mut() = StatusCode::BAD_REQUEST;
    Ok(res)
}

/// `POST /console/messaging/providers/clear`: back to the configuration file's list.
pub(super) async fn clear(f: ConsoleForm<NoFields>) -> Page {
    f.auth
        .service()
        .admin()
        .clear_messaging_providers(&f.auth.signed.actor)
        .await?;
    Ok(Redirect::to("/console/messaging?done=cleared").into_response())
}

/// The page; `failed` is a refused submission (its text and the reason).
async fn render(auth: &ConsoleAuth, done: Option<&str>, failed: Option<(&str, &str)>) -> Page {
    let admin = auth.service().admin();
    let actor = &auth.signed.actor;
    // `None`: not for this role; `Some(None)`: not configurable in this deployment.
    let providers = if grants(actor.role, Permission::ManageMessaging) {
        match admin.list_messaging_providers(actor).await {
            Ok(list) => Some(Some(list)),
            Err(CoreError::Conflict(_)) => Some(None),
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let outbox = admin.list_outbox(actor, None, 100).await?;
    let content = html! {
        (notice(done))
        section.card #providers {
            h2 { "Providers" }
            @match &providers {
                None => p.hint { "Only super administrators see the deployment's providers." }
                Some(None) => p.hint { "Messaging providers are not configurable in this deployment (no messaging service is running)." }
                Some(Some(list)) => (providers_form(auth, list, failed))
            }
        }
        section #outbox {
            h2 { "Outbox (newest 100)" }
            div.scroll {
                table.list {
                    thead { tr { th { "When" } th { "User" } th { "Channel" } th { "To" } th { "Event" } th { "Message" } } }
                    tbody {
                        @for n in &outbox {
                            tr {
                                td data-label="When" { (time(n.created_at)) }
                                td data-label="User" { (n.user) }
                                td data-label="Channel" { (n.channel) }
                                td data-label="To" { (n.destination.clone().unwrap_or_default()) }
                                td data-label="Event" { (n.event) }
                                td data-label="Message" { (n.body) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(auth, "Messaging", &content))
}

fn providers_form(auth: &ConsoleAuth, list: &ProviderList, failed: Option<(&str, &str)>) -> Markup {
    let current = serde_json::to_string_pretty(&list.providers).unwrap_or_default();
    html! {
        p.hint {
            @match list.source {
                ProviderSource::Database => { "Set by an administrator (version " (list.version.unwrap_or_default()) "). Tried in this order." }
                ProviderSource::File => "From the configuration file. Tried in this order.",
            }
        }
        @if let Some((_, reason)) = failed { p.error role="alert" { "Not saved — " (reason) } }
        form method="post" action="/console/messaging/providers" {
            (csrf(auth))
            label { "Providers (JSON list; a secret left \"set\" keeps the stored one)"
                textarea name="providers" rows="16" spellcheck="false" {
                    @if let Some((text, _)) = failed { (text) } @else { (current) }
                }
            }
            button type="submit" { "Save providers" }
        }
        @if list.source == ProviderSource::Database {
            form method="post" action="/console/messaging/providers/clear" {
                (csrf(auth))
                button.danger type="submit" { "Use the configuration file's providers" }
            }
        }
    }
}

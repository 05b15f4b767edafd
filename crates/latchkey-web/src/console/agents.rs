//! Agents (REST, RADIUS clients, offline hosts, cloud applications) and administrators: list,
//! add (the API key, RADIUS secret or console password shown once), delete — through the same
//! `AdminService` methods as the admin API.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect};
use latchkey_core::authz::{Permission, grants};
use latchkey_proto::admin::{AgentKind, CreateAdmin, CreateAgent, Role};
use maud::html;
use serde::Deserialize;

use super::layout::{self, csrf, notice, role_name, time};
use super::session::{ConsoleAuth, ConsoleError, ConsoleForm, Page};
use super::users::{Done, NoFields};

/// An empty form field is an absent one.
fn some(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn kind_name(k: AgentKind) -> &'static str {
    match k {
        AgentKind::Rest => "rest",
        AgentKind::Radius => "radius",
        AgentKind::OfflineHost => "offline-host",
        AgentKind::CloudApp => "cloud-app",
    }
}

const KINDS: [(AgentKind, &str); 4] = [
    (AgentKind::Rest, "REST agent"),
    (AgentKind::Radius, "RADIUS client"),
    (AgentKind::OfflineHost, "Offline host"),
    (AgentKind::CloudApp, "Cloud application"),
];

fn done_text(d: &str) -> Option<&'static str> {
    match d {
        "deleted" => Some("Deleted."),
        _ => None,
    }
}

/// `GET /console/agents`.
pub(super) async fn list(auth: ConsoleAuth, Query(d): Query<Done>) -> Page {
    let agents = auth
        .service()
        .admin()
        .list_agents(&auth.signed.actor)
        .await?;
    let manage = grants(auth.signed.actor.role, Permission::ManageAgents);
    let content = html! {
        (notice(done_text(&d.done)))
        table.list #agents {
            thead { tr { th { "Name" } th { "Kind" } th { "Domain" } th { "Address" } th { "Created" } @if manage { th { "" } } } }
            tbody {
                @for a in &agents {
                    tr {
                        td data-label="Name" { (a.name) }
                        td data-label="Kind" { (kind_name(a.kind)) }
                        td data-label="Domain" { (a.domain) }
                        td data-label="Address" { (a.address.clone().unwrap_or_default()) }
                        td data-label="Created" { (time(a.created_at)) }
                        @if manage {
                            td {
                                form method="post" action=(format!("/console/agents/{}/delete", a.name)) {
                                    (csrf(&auth))
                                    button.danger type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if manage {
            form.card #agent-form method="post" action="/console/agents" {
                h2 { "Add an agent" }
                (csrf(&auth))
                label { "Name" input type="text" name="name" required; }
                label { "Kind"
                    select name="kind" { @for (k, label) in KINDS { option value=(kind_name(k)) { (label) } } }
                }
                label { "Domain (optional: your scope)" input type="text" name="domain"; }
                label { "RADIUS client address (IP or CIDR; RADIUS only)" input type="text" name="address"; }
                button type="submit" { "Add" }
            }
        }
    };
    Ok(layout::page(&auth, "Agents", &content))
}

/// The add-agent form.
#[derive(Debug, Deserialize)]
pub(super) struct AgentForm {
    name: String,
    kind: String,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

/// `POST /console/agents`: the API key or generated RADIUS secret appears in this answer only.
pub(super) async fn create(f: ConsoleForm<AgentForm>) -> Page {
    let auth = &f.auth;
    let kind = KINDS
        .iter()
        .map(|(k, _)| *k)
        .find(|k| kind_name(*k) == f.form.kind)
        .ok_or_else(|| ConsoleError::BadForm("kind: not a kind of agent".to_owned()))?;
    let req = CreateAgent {
        name: f.form.name,
        kind,
        domain: some(f.form.domain),
        address: some(f.form.address),
        secret: None,
        require_message_authenticator: None,
    };
    let c = auth
        .service()
        .admin()
        .create_agent(&auth.signed.actor, req)
        .await?;
    let content = html! {
        section.card.shown-once #created {
            h2 { (c.agent.name) " (" (kind_name(c.agent.kind)) ")" }
            p.hint { "Copy this now: it is shown only once." }
            dl.facts {
                @if let Some(k) = &c.api_key { dt { "API key" } dd { code.secret #agent-key { (k) } } }
                @if let Some(s) = &c.secret { dt { "RADIUS shared secret" } dd { code.secret #agent-secret { (s) } } }
            }
        }
        p { a href="/console/agents" { "Back to agents" } }
    };
    Ok(layout::page(auth, "Agent added", &content))
}

/// `POST /console/agents/{name}/delete`.
pub(super) async fn delete(Path(name): Path<String>, f: ConsoleForm<NoFields>) -> Page {
    f.auth
        .service()
        .admin()
        .delete_agent(&f.auth.signed.actor, &name)
        .await?;
    Ok(Redirect::to("/console/agents?done=deleted").into_response())
}

// ----- Administrators -----

const ROLES: [Role; 5] = [
    Role::SuperAdmin,
    Role::DomainAdmin,
    Role::PrivilegedHelpDesk,
    Role::HelpDesk,
    Role::Auditor,
];

fn role_value(r: Role) -> &'static str {
    match r {
        Role::SuperAdmin => "super-admin",
        Role::DomainAdmin => "domain-admin",
        Role::PrivilegedHelpDesk => "privileged-help-desk",
        Role::HelpDesk => "help-desk",
        Role::Auditor => "auditor",
    }
}

/// `GET /console/admins`.
pub(super) async fn admins(auth: ConsoleAuth, Query(d): Query<Done>) -> Page {
    let list = auth
        .service()
        .admin()
        .list_admins(&auth.signed.actor)
        .await?;
    let manage = grants(auth.signed.actor.role, Permission::ManageAdmins);
    let content = html! {
        (notice(done_text(&d.done)))
        table.list #admins {
            thead { tr { th { "Name" } th { "Role" } th { "Scope" } th { "Created" } @if manage { th { "" } } } }
            tbody {
                @for a in &list {
                    tr {
                        td data-label="Name" { (a.name) }
                        td data-label="Role" { (role_name(a.role)) }
                        td data-label="Scope" { (a.scope) }
                        td data-label="Created" { (time(a.created_at)) }
                        @if manage {
                            td {
                                @if a.name != auth.signed.actor.name {
                                    form method="post" action=(format!("/console/admins/{}/delete", a.name)) {
                                        (csrf(&auth))
                                        button.danger type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if manage {
            form.card #admin-form method="post" action="/console/admins" {
                h2 { "Add an administrator" }
                (csrf(&auth))
                label { "Name" input type="text" name="name" required; }
                label { "Role"
                    select name="role" { @for r in ROLES { option value=(role_value(r)) selected[r == Role::HelpDesk] { (role_name(r)) } } }
                }
                label { "Scope (domain; optional: your scope)" input type="text" name="scope"; }
                p.hint { "To sign in to the console the administrator also needs a user of the same name holding a Latchkey token." }
                button type="submit" { "Add" }
            }
        }
    };
    Ok(layout::page(&auth, "Administrators and roles", &content))
}

/// The add-administrator form.
#[derive(Debug, Deserialize)]
pub(super) struct AdminForm {
    name: String,
    role: String,
    #[serde(default)]
    scope: Option<String>,
}

/// `POST /console/admins`: the password and API token appear in this answer only.
pub(super) async fn create_admin(f: ConsoleForm<AdminForm>) -> Page {
    let auth = &f.auth;
    let role = ROLES
        .into_iter()
        .find(|r| role_value(*r) == f.form.role)
        .ok_or_else(|| ConsoleError::BadForm("role: not a role".to_owned()))?;
    let req = CreateAdmin {
        name: f.form.name,
        role,
        scope: some(f.form.scope),
    };
    let c = auth
        .service()
        .admin()
        .create_admin(&auth.signed.actor, req)
        .await?;
    let content = html! {
        section.card.shown-once #created {
            h2 { (c.admin.name) " (" (role_name(c.admin.role)) ", " (c.admin.scope) ")" }
            p.hint { "Give these to the administrator now: they are shown only once." }
            dl.facts {
                dt { "Console password" } dd { code.secret #admin-password { (c.password) } }
                dt { "API token" } dd { code.secret #admin-token { (c.token) } }
            }
        }
        p { a href="/console/admins" { "Back to administrators" } }
    };
    Ok(layout::page(auth, "Administrator added", &content))
}

/// `POST /console/admins/{name}/delete`.
pub(super) async fn delete_admin(Path(name): Path<String>, f: ConsoleForm<NoFields>) -> Page {
    f.auth
        .service()
        .admin()
        .delete_admin(&f.auth.signed.actor, &name)
        .await?;
    Ok(Redirect::to("/console/admins?done=deleted").into_response())
}

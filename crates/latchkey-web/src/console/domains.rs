//! Security domains and their policies (tree, create a sub-domain, the effective policies and
//! where each comes from, edit or clear a domain's own policy of one kind as JSON).
//! Validation is the core's
//! ([`AdminService::set_policy`](latchkey_core::admin::AdminService::set_policy)); its error is
//! shown on the edit page with the submitted text kept, and nothing is changed.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use latchkey_core::CoreError;
use latchkey_core::authz::{Permission, grants};
use latchkey_proto::admin::{CreateDomain, DomainPolicies, DomainView};
use latchkey_proto::policy::{PolicyKind, PolicyValue};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, csrf, notice};
use super::session::{ConsoleAuth, ConsoleError, ConsoleForm, Page};
use super::users::{Done, NoFields};

fn kind_name(k: PolicyKind) -> &'static str {
    match k {
        PolicyKind::Token => "token",
        PolicyKind::Lockout => "lockout",
        PolicyKind::Offline => "offline",
        PolicyKind::Emergency => "emergency",
    }
}

fn kind_title(k: PolicyKind) -> &'static str {
    match k {
        PolicyKind::Token => "Token policy (incl. emergency access code format)",
        PolicyKind::Lockout => "Lockout policy",
        PolicyKind::Offline => "Offline authentication policy",
        PolicyKind::Emergency => {
            "Emergency settings (maximum lifetime, emergency access code defaults and lock)"
        }
    }
}

fn kind_from(s: &str) -> Result<PolicyKind, ConsoleError> {
    PolicyKind::ALL
        .into_iter()
        .find(|k| kind_name(*k) == s)
        .ok_or_else(|| CoreError::NotFound(format!("policy kind {s:?}")).into())
}

/// The JSON of one effective policy.
fn effective_json(p: &DomainPolicies, kind: PolicyKind) -> String {
    let v = match kind {
        PolicyKind::Token => serde_json::to_string_pretty(&p.effective.token),
        PolicyKind::Lockout => serde_json::to_string_pretty(&p.effective.lockout),
        PolicyKind::Offline => serde_json::to_string_pretty(&p.effective.offline),
        PolicyKind::Emergency => serde_json::to_string_pretty(&p.effective.emergency),
    };
    v.unwrap_or_default()
}

fn done_text(d: &str) -> Option<&'static str> {
    match d {
        "created" => Some("The domain was created."),
        "saved" => Some("The policy was saved."),
        "cleared" => Some("The domain's own policy was cleared; it is inherited again."),
        _ => None,
    }
}

/// Domains as an indented tree (parents before children, siblings by name).
fn tree(domains: &[DomainView]) -> Markup {
    fn children<'a>(domains: &'a [DomainView], parent: Option<&str>) -> Vec<&'a DomainView> {
        let names: Vec<&str> = domains.iter().map(|d| d.name.as_str()).collect();
        let mut c: Vec<&DomainView> = domains
            .iter()
            .filter(|d| match parent {
                Some(p) => d.parent.as_deref() == Some(p),
                // Roots of what the administrator sees: no parent, or a parent out of scope.
                None => d.parent.as_deref().is_none_or(|p| !names.contains(&p)),
            })
            .collect();
        c.sort_by(|a, b| a.name.cmp(&b.name));
        c
    }
    fn branch(domains: &[DomainView], parent: Option<&str>, depth: usize) -> Markup {
        html! {
            ul.tree {
                @for d in children(domains, parent) {
                    li {
                        a href=(format!("/console/domains/{}", d.name)) { (d.name) }
                        @if !d.own_policies.is_empty() {
                            span.hint { " · own: " (d.own_policies.iter().map(|k| kind_name(*k)).collect::<Vec<_>>().join(", ")) }
                        }
                        @if depth < 32 { (branch(domains, Some(&d.name), depth + 1)) }
                    }
                }
            }
        }
    }
    branch(domains, None, 0)
}

/// `GET /console/domains`.
pub(super) async fn list(auth: ConsoleAuth, Query(d): Query<Done>) -> Page {
    let domains = auth
        .service()
        .admin()
        .list_domains(&auth.signed.actor)
        .await?;
    let manage = grants(auth.signed.actor.role, Permission::ManageDomains);
    let content = html! {
        (notice(done_text(&d.done)))
        section.card #domain-tree { (tree(&domains)) }
        @if manage {
            form.card #domain-form method="post" action="/console/domains" {
                h2 { "Create a sub-domain" }
                (csrf(&auth))
                label { "Name" input type="text" name="name" required; }
                label { "Parent"
                    select name="parent" { @for dm in &domains { option value=(dm.name) { (dm.name) } } }
                }
                button type="submit" { "Create" }
            }
        }
    };
    Ok(layout::page(&auth, "Security domains", &content))
}

/// The create-domain form.
#[derive(Debug, Deserialize)]
pub(super) struct DomainForm {
    name: String,
    #[serde(default)]
    parent: Option<String>,
}

/// `POST /console/domains`.
pub(super) async fn create(f: ConsoleForm<DomainForm>) -> Page {
    let req = CreateDomain {
        name: f.form.name,
        parent: f.form.parent.filter(|p| !p.trim().is_empty()),
    };
    let d = f
        .auth
        .service()
        .admin()
        .create_domain(&f.auth.signed.actor, req)
        .await?;
    Ok(Redirect::to(&format!("/console/domains/{}?done=created", d.name)).into_response())
}

/// `GET /console/domains/{name}`: effective policies, where each comes from, and (when the
/// role allows) an edit form per kind.
pub(super) async fn domain_page(
    auth: ConsoleAuth,
    Path(name): Path<String>,
    Query(d): Query<Done>,
) -> Page {
    let admin = auth.service().admin();
    let view = admin.show_domain(&auth.signed.actor, &name).await?;
    let p = admin.domain_policies(&auth.signed.actor, &name).await?;
    Ok(render(&auth, &view, &p, done_text(&d.done), None))
}

/// The page; `failed` is a kind whose submitted text was refused, with the text and reason.
fn render(
    auth: &ConsoleAuth,
    view: &DomainView,
    p: &DomainPolicies,
    done: Option<&str>,
    failed: Option<(PolicyKind, &str, &str)>,
) -> axum::response::Response {
    let manage = grants(auth.signed.actor.role, Permission::ManagePolicies);
    let content = html! {
        (notice(done))
        p { a href="/console/domains" { "← Domains" } @if let Some(parent) = &view.parent { " · parent " a href=(format!("/console/domains/{parent}")) { (parent) } } }
        @for kind in PolicyKind::ALL {
            @let own = view.own_policies.contains(&kind);
            @let source = p.sources.iter().find(|s| s.kind == kind).map(|s| s.domain.clone()).unwrap_or_default();
            @let err = failed.filter(|(k, _, _)| *k == kind);
            section.card id=(format!("policy-{}", kind_name(kind))) {
                h2 { (kind_title(kind)) }
                p.hint { @if own { "Set on this domain." } @else { "Inherited from " (source) "." } }
                @if manage {
                    @if let Some((_, _, reason)) = err { p.error role="alert" { (reason) } }
                    form method="post" action=(format!("/console/domains/{}/policies/{}", view.name, kind_name(kind))) {
                        (csrf(auth))
                        label { "Policy (JSON)"
                            textarea name="value" rows="14" spellcheck="false" {
                                @if let Some((_, text, _)) = err { (text) } @else { (effective_json(p, kind)) }
                            }
                        }
                        button type="submit" { "Save on " (view.name) }
                    }
                    // The root domain must set every policy: nothing to inherit from.
                    @if own && view.parent.is_some() {
                        form method="post" action=(format!("/console/domains/{}/policies/{}/clear", view.name, kind_name(kind))) {
                            (csrf(auth))
                            button.danger type="submit" { "Clear (inherit again)" }
                        }
                    }
                } @else {
                    pre { (effective_json(p, kind)) }
                }
            }
        }
    };
    let mut res = layout::page(auth, &format!("Domain {}", view.name), &content);
    if failed.is_some() {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    res
}

/// The policy form.
#[derive(Debug, Deserialize)]
pub(super) struct PolicyForm {
    value: String,
}

/// `POST /console/domains/{name}/policies/{kind}`: sets the domain's own policy of that kind
/// (validated by the core; a refused value is shown again with the reason).
pub(super) async fn set_policy(
    Path((name, kind)): Path<(String, String)>,
    f: ConsoleForm<PolicyForm>,
) -> Page {
    let auth = &f.auth;
    let kind = kind_from(&kind)?;
    let admin = auth.service().admin();
    let view = admin.show_domain(&auth.signed.actor, &name).await?;
    let parsed = serde_json::from_str::<serde_json::Value>(&f.form.value)
        .map_err(|e| format!("not valid JSON: {e}"))
        .and_then(|value| {
            serde_json::from_value::<PolicyValue>(
                serde_json::json!({"kind": kind_name(kind), "value": value}),
            )
            .map_err(|e| format!("not a valid {} policy: {e}", kind_name(kind)))
        });
    let result = match parsed {
        Ok(value) => match admin.set_policy(&auth.signed.actor, &name, value).await {
            Ok(_) => Ok(()),
            Err(CoreError::Invalid { field, reason }) => Err(format!("{field}: {reason}")),
            Err(e) => return Err(e.into()),
        },
        Err(m) => Err(m),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/console/domains/{name}?done=saved")).into_response()),
        Err(reason) => {
            let p = admin.domain_policies(&auth.signed.actor, &name).await?;
            Ok(render(
                auth,
                &view,
                &p,
                None,
                Some((kind, &f.form.value, &reason)),
            ))
        }
    }
}

/// `POST /console/domains/{name}/policies/{kind}/clear`.
pub(super) async fn clear_policy(
    Path((name, kind)): Path<(String, String)>,
    f: ConsoleForm<NoFields>,
) -> Page {
    let kind = kind_from(&kind)?;
    f.auth
        .service()
        .admin()
        .clear_policy(&f.auth.signed.actor, &name, kind)
        .await?;
    Ok(Redirect::to(&format!("/console/domains/{name}?done=cleared")).into_response())
}

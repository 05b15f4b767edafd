//! User page additions (phone numbers, recent authentication activity, hosts holding the
//! user's offline data) and dashboard additions (authentications and failures per day as a
//! server-rendered SVG chart, hosts whose offline data is about to run out).
//!
//! Activity comes from the audit log, so it is shown to roles with the audit right only
//! (`AdminService::list_audit` checks it); others see a hint instead.

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect};
use latchkey_core::CoreError;
use latchkey_core::authz::{Permission, grants};
use latchkey_proto::admin::{AuditRecordView, Phone, PhoneSource, UpdateUser, UserView};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{csrf, date, time};
use super::session::{ConsoleAuth, ConsoleError, ConsoleForm, Page};

/// Records read per call of the service.
const BATCH: u32 = 10_000;
/// Authentication records shown on the user page.
pub(super) const RECENT: usize = 20;
/// Days in the dashboard chart.
const DAYS: usize = 14;
/// [`DAYS`] as a time span.
const DAYS_I64: i64 = 14;
/// [`DAYS`] as a coordinate.
const DAYS_U32: u32 = 14;
/// Offline data expiring within this many days is "about to run out".
const SOON_DAYS: i64 = 7;

/// Every `authn` record accepted by `keep`, oldest first (`None`: the role or scope may not
/// read the audit log).
async fn authn_records(
    auth: &ConsoleAuth,
    keep: impl Fn(&AuditRecordView) -> bool,
) -> Result<Option<Vec<AuditRecordView>>, ConsoleError> {
    if !grants(auth.signed.actor.role, Permission::ReadAudit) {
        return Ok(None);
    }
    let admin = auth.service().admin();
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        // The audit log is deployment-wide: an auditor scoped below the root may not read
        // it, and then the page shows the hint instead of failing as a whole.
        let batch = match admin.list_audit(&auth.signed.actor, after, BATCH).await {
            Ok(b) => b,
            Err(CoreError::Forbidden(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(last) = batch.last() else { break };
        after = last.seq;
        let full = batch.len() == BATCH as usize;
        out.extend(batch.into_iter().filter(|r| r.action == "authn" && keep(r)));
        if !full {
            break;
        }
    }
    Ok(Some(out))
}

/// The user page's extra sections.
pub(super) async fn user_sections(
    auth: &ConsoleAuth,
    u: &UserView,
) -> Result<Markup, ConsoleError> {
    let role = auth.signed.actor.role;
    let manage = grants(role, Permission::ManageUsers);
    let target = format!("user:{}", u.login);
    let recent = authn_records(auth, |r| r.target == target).await?;
    let offline = match auth
        .service()
        .admin()
        .show_offline_passcode(&auth.signed.actor, &u.login)
        .await
    {
        Ok(v) => Some(v),
        Err(CoreError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(html! {
        section.card #phones {
            h2 { "Phone numbers" }
            @if u.phones.is_empty() { p.hint { "None." } }
            ul {
                @for p in &u.phones {
                    li {
                        code { (p.number) }
                        @if p.source == PhoneSource::Synced { span.hint { " (synced)" } }
                        @if manage {
                            form.inline method="post" action=(format!("/console/users/{}/phones/remove", u.login)) {
                                (csrf(auth))
                                input type="hidden" name="number" value=(p.number);
                                button.danger type="submit" { "Remove" }
                            }
                        }
                    }
                }
            }
            @if manage {
                form #phone-form method="post" action=(format!("/console/users/{}/phones", u.login)) {
                    (csrf(auth))
                    label { "Add a number (E.164, e.g. +14155550123)" input type="tel" name="number" required; }
                    button type="submit" { "Add" }
                }
            }
        }
        section.card #activity {
            h2 { "Recent authentication activity" }
            @match &recent {
                None => p.hint { "Your role cannot read the audit log." }
                Some(list) if list.is_empty() => p.hint { "No authentication yet." }
                Some(list) => {
                    table.list {
                        thead { tr { th { "When" } th { "Agent" } th { "Outcome" } th { "Source" } } }
                        tbody {
                            @for r in list.iter().rev().take(RECENT) {
                                tr {
                                    td data-label="When" { (time(r.at)) }
                                    td data-label="Agent" { (r.actor.trim_start_matches("agent:")) }
                                    td data-label="Outcome" { span class=(if succeeded(r) { "status enabled" } else { "status locked" }) { (r.outcome) } }
                                    td data-label="Source" { (r.source.clone().unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card #offline-data {
            h2 { "Hosts holding offline data" }
            @match &offline {
                None => p.hint { "No offline data has been generated for this user." }
                Some(v) if v.hosts.is_empty() => p.hint { "No host holds this user's offline data." }
                Some(v) => {
                    p.hint { "Offline emergency passcode valid until " (date(v.expires_at)) "." }
                    table.list {
                        thead { tr { th { "Host" } th { "Generation held" } th { "Last sync" } } }
                        tbody { @for h in &v.hosts { tr { td { (h.host) } td { (h.generation) } td { (time(h.last_sync)) } } } }
                    }
                }
            }
        }
    })
}

/// The phone form.
#[derive(Debug, Deserialize)]
pub(super) struct PhoneForm {
    number: String,
}

async fn change_phones(login: &str, f: ConsoleForm<PhoneForm>, add: bool) -> Page {
    let admin = f.auth.service().admin();
    let actor = &f.auth.signed.actor;
    let u = admin.show_user(actor, login).await?;
    let number = f.form.number.trim().to_owned();
    let mut phones = u.phones;
    if add {
        phones.push(Phone {
            number,
            source: PhoneSource::Manual,
        });
    } else {
        let before = phones.len();
        phones.retain(|p| p.number != number);
        if phones.len() == before {
            return Err(CoreError::NotFound(format!("phone number {number:?}")).into());
        }
    }
    let req = UpdateUser {
        phones: Some(phones),
        ..UpdateUser::default()
    };
    // The core validates every number (E.164) and audits the change.
    admin.update_user(actor, login, req).await?;
    Ok(Redirect::to(&format!("/console/users/{login}#phones")).into_response())
}

/// `POST /console/users/{login}/phones`.
pub(super) async fn add_phone(Path(login): Path<String>, f: ConsoleForm<PhoneForm>) -> Page {
    change_phones(&login, f, true).await
}

/// `POST /console/users/{login}/phones/remove`.
pub(super) async fn remove_phone(Path(login): Path<String>, f: ConsoleForm<PhoneForm>) -> Page {
    change_phones(&login, f, false).await
}

/// Whether an `authn` record is a successful authentication.
fn succeeded(r: &AuditRecordView) -> bool {
    r.outcome == "success" || r.outcome == "ok"
}

/// Authentications and failures per UTC day over the last [`DAYS`] days, as inline SVG
/// (presentation attributes only: the CSP forbids inline style).
fn chart(records: &[AuditRecordView], now: i64) -> Markup {
    let today = now.div_euclid(86_400);
    let first = today - (DAYS_I64 - 1);
    let mut ok = [0u32; DAYS];
    let mut fail = [0u32; DAYS];
    for r in records {
        let day = r.at.div_euclid(86_400) - first;
        if let Ok(i) = usize::try_from(day) {
            let slot = if succeeded(r) {
                ok.get_mut(i)
            } else if r.outcome.starts_with("fail") {
                fail.get_mut(i)
            } else {
                // A challenge (next code, new PIN) is neither.
                None
            };
            if let Some(c) = slot {
                *c += 1;
            }
        }
    }
    let max = ok
        .iter()
        .zip(fail.iter())
        .map(|(a, b)| a + b)
        .max()
        .unwrap_or(0)
        .max(1);
    let (width, height, top, bottom) = (700u32, 200u32, 16u32, 24u32);
    let plot = height - top - bottom;
    let step = width / DAYS_U32;
    let bar = step - 8;
    let scaled = |n: u32| n * plot / max;
    let base = height - bottom;
    let days: Vec<(u32, i64, u32, u32)> = (0..DAYS_U32)
        .zip(first..)
        .zip(ok.iter().zip(fail.iter()))
        .map(|((i, day), (good, bad))| (i * step + 4, day * 86_400, *good, *bad))
        .collect();
    html! {
        svg #auth-chart xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {width} {height}")) role="img"
            aria-label=(format!("Authentications per day over the last {DAYS} days: {} succeeded, {} failed", ok.iter().sum::<u32>(), fail.iter().sum::<u32>())) {
            line x1="0" y1=(base) x2=(width) y2=(base) stroke="#d6dbe1" {}
            text x="0" y="12" font-size="11" fill="#5b6570" { "max " (max) "/day" }
            @for (n, (left, day, good, bad)) in days.iter().enumerate() {
                rect x=(left) y=(base - scaled(*good)) width=(bar) height=(scaled(*good)) fill="#1e7d32" { title { (date(*day)) ": " (good) " succeeded" } }
                rect x=(left) y=(base - scaled(*good) - scaled(*bad)) width=(bar) height=(scaled(*bad)) fill="#b3261e" { title { (date(*day)) ": " (bad) " failed" } }
                @if n % 2 == 0 {
                    text x=(left) y=(height - 8) font-size="10" fill="#5b6570" { (date(*day).get(5..).unwrap_or_default()) }
                }
            }
        }
        p.hint { span.legend-ok { "■" } " succeeded · " span.legend-fail { "■" } " failed" }
    }
}

/// The dashboard's extra sections: the chart and hosts whose offline data runs out soon.
pub(super) async fn dashboard_sections(
    auth: &ConsoleAuth,
    users: &[UserView],
    now: i64,
) -> Result<Markup, ConsoleError> {
    let since = now - DAYS_I64 * 86_400;
    let records = authn_records(auth, |r| r.at >= since).await?;
    let admin = auth.service().admin();
    let mut soon = Vec::new();
    for u in users {
        match admin
            .show_offline_passcode(&auth.signed.actor, &u.login)
            .await
        {
            Ok(v) if v.expires_at <= now + SOON_DAYS * 86_400 => {
                for h in &v.hosts {
                    soon.push((h.host.clone(), u.login.clone(), v.expires_at, h.last_sync));
                }
            }
            Ok(_) | Err(CoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    soon.sort_by_key(|s| s.2);
    Ok(html! {
        section.card #activity-chart {
            h2 { "Authentications over the last " (DAYS) " days" }
            @match &records {
                None => p.hint { "Your role cannot read the audit log." }
                Some(r) => (chart(r, now)),
            }
        }
        section.card #offline-soon {
            h2 { "Hosts whose offline data runs out within " (SOON_DAYS) " days (" (soon.len()) ")" }
            table.list {
                thead { tr { th { "Host" } th { "User" } th { "Valid until" } th { "Last sync" } } }
                tbody {
                    @for (host, login, until, sync) in &soon {
                        tr {
                            td data-label="Host" { (host) }
                            td data-label="User" { a href=(format!("/console/users/{login}")) { (login) } }
                            td data-label="Valid until" { (time(*until)) }
                            td data-label="Last sync" { (time(*sync)) }
                        }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(at: i64, outcome: &str) -> AuditRecordView {
        AuditRecordView {
            seq: 1,
            at,
            actor: "agent:a".into(),
            action: "authn".into(),
            target: "user:u".into(),
            outcome: outcome.into(),
            source: None,
            detail: serde_json::Value::Null,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn the_chart_counts_per_day_and_ignores_older_records() {
        let now = 100 * 86_400 + 3600;
        let svg = chart(
            &[
                rec(now, "success"),
                rec(now - 10, "success"),
                rec(now - 30, "challenge"),
                rec(now - 20, "fail:bad_passcode"),
                rec(now - 40 * 86_400, "ok"),
            ],
            now,
        )
        .into_string();
        assert!(svg.contains("2 succeeded, 1 failed"), "{svg}");
        assert!(!svg.contains("style="), "no inline style under the CSP");
        // In foreign (SVG) content an unclosed <line> would swallow what follows.
        assert!(svg.contains("></line>"), "{svg}");
    }
}

//! The audit log: filters (user, administrator, event, time range) and a JSON-lines export.
//! Reading needs the audit right, checked by `AdminService::list_audit`.

use axum::extract::Query;
use axum::http::header;
use axum::response::IntoResponse;
use latchkey_core::admin::AdminService;
use latchkey_core::authz::Actor;
use latchkey_proto::admin::AuditRecordView;
use maud::html;
use serde::Deserialize;

use super::layout::{self, time};
use super::session::{ConsoleAuth, ConsoleError, Page};

/// Records read per call of the service.
const BATCH: u32 = 10_000;
/// Records shown on the page (newest first).
const SHOWN: usize = 500;

/// The filters.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Filter {
    #[serde(default)]
    user: String,
    #[serde(default)]
    admin: String,
    #[serde(default)]
    event: String,
    /// `YYYY-MM-DD` (UTC), inclusive.
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD` (UTC), inclusive.
    #[serde(default)]
    to: String,
}

fn day_start(s: &str, field: &str) -> Result<Option<i64>, ConsoleError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .map(|d| Some(d.midnight().assume_utc().unix_timestamp()))
        .map_err(|_| ConsoleError::BadForm(format!("{field}: a date YYYY-MM-DD is expected")))
}

impl Filter {
    fn matcher(&self) -> Result<impl Fn(&AuditRecordView) -> bool + '_, ConsoleError> {
        let from = day_start(&self.from, "from")?;
        let to = day_start(&self.to, "to")?.map(|t| t + 86_400);
        let user = self.user.trim();
        let admin = self.admin.trim();
        let event = self.event.trim();
        Ok(move |r: &AuditRecordView| {
            (user.is_empty() || r.target == format!("user:{user}"))
                && (admin.is_empty() || r.actor == format!("admin:{admin}"))
                && (event.is_empty() || r.action.starts_with(event))
                && from.is_none_or(|f| r.at >= f)
                && to.is_none_or(|t| r.at < t)
        })
    }
}

/// Every record matching the filter, oldest first.
async fn matching(
    admin: &AdminService,
    actor: &Actor,
    f: &Filter,
) -> Result<Vec<AuditRecordView>, ConsoleError> {
    let keep = f.matcher()?;
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let batch = admin.list_audit(actor, after, BATCH).await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        let full = batch.len() == BATCH as usize;
        out.extend(batch.into_iter().filter(|r| keep(r)));
        if !full {
            break;
        }
    }
    Ok(out)
}

/// `GET /console/audit`.
pub(super) async fn page(auth: ConsoleAuth, Query(f): Query<Filter>) -> Page {
    let records = matching(auth.service().admin(), &auth.signed.actor, &f).await?;
    let total = records.len();
    let export = serde_urlencoded::to_string([
        ("user", f.user.as_str()),
        ("admin", f.admin.as_str()),
        ("event", f.event.as_str()),
        ("from", f.from.as_str()),
        ("to", f.to.as_str()),
    ])
    .unwrap_or_default();
    let content = html! {
        form.search method="get" action="/console/audit" {
            label { "User" input name="user" value=(f.user); }
            label { "Administrator" input name="admin" value=(f.admin); }
            label { "Event" input name="event" value=(f.event) placeholder="emergency."; }
            label { "From" input type="date" name="from" value=(f.from); }
            label { "To" input type="date" name="to" value=(f.to); }
            button type="submit" { "Filter" }
        }
        p { (total) " record(s)" @if total > SHOWN { ", the newest " (SHOWN) " shown" } ". "
            a #export href=(format!("/console/audit/export?{export}")) { "Export as JSON lines" } }
        div.scroll {
            table.list #audit {
                thead { tr { th { "#" } th { "Time" } th { "Actor" } th { "Event" } th { "Target" } th { "Outcome" } th { "Detail" } } }
                tbody {
                    @for r in records.iter().rev().take(SHOWN) {
                        tr {
                            td { (r.seq) } td { (time(r.at)) } td { (r.actor) } td.event { (r.action) }
                            td { (r.target) } td { (r.outcome) } td.detail { (r.detail.to_string()) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&auth, "Audit log", &content))
}

/// `GET /console/audit/export`: the matching records as JSON lines, oldest first.
pub(super) async fn export(auth: ConsoleAuth, Query(f): Query<Filter>) -> Page {
    let records = matching(auth.service().admin(), &auth.signed.actor, &f).await?;
    let mut body = String::new();
    for r in &records {
        body.push_str(&serde_json::to_string(r).unwrap_or_default());
        body.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"latchkey-audit.jsonl\"",
            ),
        ],
        body,
    )
        .into_response())
}

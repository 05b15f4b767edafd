//! `latchkey offline-hosts USER`: the offline hosts holding a user's offline data, with their
//! last sync, the data's expiry, whether it is stale (expired or generated under another
//! policy), and which generation of each emergency value each host holds.

use clap::Args;
use latchkey_proto::offline::UserOfflineHosts;
use serde_json::Value;

use super::VerbResult;
use super::output::{emit, s};
use crate::client::Client;

/// Options of `latchkey offline-hosts`.
#[derive(Debug, Args)]
pub struct OfflineHostsArgs {
    /// Login name.
    pub user: String,
}

/// Runs `latchkey offline-hosts USER`.
pub async fn offline_hosts(c: &Client, a: &OfflineHostsArgs, json: bool) -> VerbResult {
    let v: UserOfflineHosts = c.get(&format!("/users/{}/offline-hosts", a.user)).await?;
    emit(json, &v, print)
}

fn print(v: &Value) {
    let hosts = v["hosts"].as_array().map(Vec::as_slice).unwrap_or_default();
    if hosts.is_empty() {
        println!("{}: no offline host holds offline data", s(v, "user"));
        return;
    }
    println!(
        "{:<20} {:<24} {:>12} {:>12} {:<6} {:>9} tokencodes",
        "AGENT", "HOSTNAME", "LAST SYNC", "EXPIRES", "STALE", "PASSCODE"
    );
    for h in hosts {
        let tokencodes: Vec<String> = h["emergency_tokencodes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|t| format!("{}:{}", s(t, "serial"), t["generation"]))
            .collect();
        println!(
            "{:<20} {:<24} {:>12} {:>12} {:<6} {:>9} {}",
            s(h, "agent"),
            s(h, "hostname"),
            h["last_sync"],
            h["expires_at"],
            if h["stale"] == true { "yes" } else { "no" },
            h["emergency_passcode_generation"],
            tokencodes.join(",")
        );
    }
}

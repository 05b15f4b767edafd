//! The emergency access verbs (`latchkey emergency …`, `latchkey outbox …`): each builds one
//! admin API request and prints the answer. Codes are printed only where the server returns
//! them (a grant, a read with a reason).

use latchkey_proto::emergency::{
    GenerateEac, GrantOnlineEmergency, OnlineEmergencyKind, ResetOfflineRequest, RevealRequest,
    UpdateOfflineTokencode,
};
use latchkey_proto::policy::TokenAvailableBehavior;
use reqwest::Method;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::VerbResult;
use super::args::{
    EacCmd, EmergencyCmd, OfflinePasscodeCmd, OfflineTokencodeCmd, OnOff, OutboxCmd, TokenFoundArg,
};
use super::output::{each, emit, s};
use crate::client::{Client, seg};

/// A Unix time as RFC 3339, `never` for null.
fn when(v: &Value) -> String {
    v.as_i64()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "never".to_owned())
}

fn on(o: OnOff) -> bool {
    matches!(o, OnOff::On)
}

fn behaviour(a: TokenFoundArg) -> TokenAvailableBehavior {
    match a {
        TokenFoundArg::Deny => TokenAvailableBehavior::DenyToken,
        TokenFoundArg::AllowAndEnd => TokenAvailableBehavior::AllowAndEndEmergency,
        TokenFoundArg::AllowAfterExpiry => TokenAvailableBehavior::AllowAfterExpiry,
    }
}

fn online_path(serial: &str) -> String {
    format!("/tokens/{}/emergency/online", seg(serial))
}

fn passcode_path(user: &str, verb: &str) -> String {
    format!("/users/{}/emergency/offline-passcode{verb}", seg(user))
}

fn tokencode_path(serial: &str, verb: &str) -> String {
    format!("/tokens/{}/emergency/offline-tokencode{verb}", seg(serial))
}

fn print_online(v: &Value) {
    println!(
        "token {}: emergency access with {} {} code(s), expires {}, if the token is found: {}",
        s(v, "serial"),
        v["unused_codes"],
        s(v, "kind"),
        when(&v["expires_at"]),
        s(v, "token_available")
    );
}

fn print_offline(v: &Value) {
    let what = match s(v, "kind") {
        "passcode" => format!("offline emergency passcode of {}", s(v, "user")),
        _ => format!(
            "offline emergency tokencode of token {} (user {}), online use {}",
            s(v, "serial"),
            s(v, "user"),
            v["online_use"]
        ),
    };
    let value = v
        .get("passcode")
        .or_else(|| v.get("tokencode"))
        .and_then(Value::as_str);
    if let Some(code) = value {
        println!("{code}");
    }
    println!(
        "{what}: generation {}, expires {}",
        v["generation"],
        when(&v["expires_at"])
    );
    for h in v["hosts"].as_array().map(Vec::as_slice).unwrap_or_default() {
        println!(
            "  host {:<24} holds generation {} (last sync {})",
            s(h, "host"),
            h["generation"],
            when(&h["last_sync"])
        );
    }
}

/// `latchkey emergency …`.
pub async fn emergency(c: &Client, cmd: &EmergencyCmd, json: bool) -> VerbResult {
    match cmd {
        EmergencyCmd::Online {
            serial,
            fixed: _,
            one_time,
            expires,
            if_token_found,
        } => {
            let (kind, count) = match one_time {
                Some(n) => (OnlineEmergencyKind::OneTime, *n),
                None => (OnlineEmergencyKind::Fixed, None),
            };
            let body = GrantOnlineEmergency {
                kind,
                count,
                expires: expires.clone(),
                token_available: if_token_found.map(behaviour),
            };
            let v: Value = c
                .call(Method::PUT, &online_path(serial), Some(&body))
                .await?;
            emit(json, &v, |v| {
                if let Some(code) = v.get("code").and_then(Value::as_str) {
                    println!("{code}");
                }
                each(&v["codes"], |c| c.as_str().unwrap_or("-").to_owned());
                print_online(v);
                println!("(the codes are shown only now)");
            })
        }
        EmergencyCmd::OnlineShow { serial } => {
            let v: Value = c.get(&online_path(serial)).await?;
            emit(json, &v, print_online)
        }
        EmergencyCmd::OnlineEnd { serial } => {
            let _: Value = c
                .call::<(), _>(Method::DELETE, &online_path(serial), None)
                .await?;
            emit(
                json,
                &serde_json::json!({"serial": serial, "ended": true}),
                |_| {
                    println!("token {serial}: emergency access ended");
                },
            )
        }
        EmergencyCmd::Offline(o) => offline_passcode(c, o, json).await,
        EmergencyCmd::Tokencode(t) => offline_tokencode(c, t, json).await,
    }
}

/// `latchkey emergency offline …`.
async fn offline_passcode(c: &Client, cmd: &OfflinePasscodeCmd, json: bool) -> VerbResult {
    let v: Value = match cmd {
        OfflinePasscodeCmd::Show { user, reason } => {
            let body = RevealRequest {
                reason: reason.clone(),
            };
            c.call(Method::POST, &passcode_path(user, "/reveal"), Some(&body))
                .await?
        }
        OfflinePasscodeCmd::Reset { user, reason } => {
            let body = ResetOfflineRequest {
                reason: reason.clone(),
                online_use: None,
            };
            c.call(Method::POST, &passcode_path(user, "/reset"), Some(&body))
                .await?
        }
        OfflinePasscodeCmd::Status { user } => c.get(&passcode_path(user, "")).await?,
    };
    emit(json, &v, print_offline)
}

/// `latchkey emergency tokencode …`.
async fn offline_tokencode(c: &Client, cmd: &OfflineTokencodeCmd, json: bool) -> VerbResult {
    let v: Value = match cmd {
        OfflineTokencodeCmd::Show { serial, reason } => {
            let body = RevealRequest {
                reason: reason.clone(),
            };
            c.call(
                Method::POST,
                &tokencode_path(serial, "/reveal"),
                Some(&body),
            )
            .await?
        }
        OfflineTokencodeCmd::Reset {
            serial,
            reason,
            online_use,
        } => {
            let body = ResetOfflineRequest {
                reason: reason.clone(),
                online_use: online_use.map(on),
            };
            c.call(Method::POST, &tokencode_path(serial, "/reset"), Some(&body))
                .await?
        }
        OfflineTokencodeCmd::Set { serial, online_use } => {
            let body = UpdateOfflineTokencode {
                online_use: on(*online_use),
            };
            c.call(Method::PATCH, &tokencode_path(serial, ""), Some(&body))
                .await?
        }
        OfflineTokencodeCmd::Status { serial } => c.get(&tokencode_path(serial, "")).await?,
    };
    emit(json, &v, print_offline)
}

fn print_eac(v: &Value) {
    if let Some(code) = v.get("code").and_then(Value::as_str) {
        println!("{code}");
    }
    println!(
        "emergency access code {} of {}: {}, expires {} (offline {}){}",
        s(v, "id"),
        s(v, "user"),
        if v["one_time"] == true {
            "one-time"
        } else {
            "reusable"
        },
        when(&v["expires_at"]),
        when(&v["offline_expires_at"]),
        if v["defaults_locked"] == true {
            "; the deployment's defaults applied"
        } else {
            ""
        }
    );
}

/// `latchkey eac …`.
pub async fn eac(c: &Client, cmd: &EacCmd, json: bool) -> VerbResult {
    let path = |user: &str| format!("/users/{}/emergency/access-code", seg(user));
    match cmd {
        EacCmd::Generate {
            user,
            one_time,
            reusable,
            expires_in,
            offline_expires_in,
        } => {
            let body = GenerateEac {
                one_time: match (one_time, reusable) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                expires_in: expires_in.clone(),
                offline_expires_in: offline_expires_in.clone(),
            };
            let v: Value = c.call(Method::POST, &path(user), Some(&body)).await?;
            emit(json, &v, print_eac)
        }
        EacCmd::Show { user } => {
            let v: Value = c.get(&path(user)).await?;
            emit(json, &v, print_eac)
        }
        EacCmd::Revoke { user } => {
            let _: Value = c.call::<(), _>(Method::DELETE, &path(user), None).await?;
            emit(
                json,
                &serde_json::json!({"user": user, "revoked": true}),
                |_| {
                    println!("emergency access code of {user} revoked");
                },
            )
        }
    }
}

/// `latchkey outbox …`.
pub async fn outbox(c: &Client, cmd: &OutboxCmd, json: bool) -> VerbResult {
    let (OutboxCmd::List { user, limit } | OutboxCmd::Deliveries { user, limit }) = cmd;
    let deliveries = matches!(cmd, OutboxCmd::Deliveries { .. });
    let mut path = if deliveries {
        format!("/deliveries?limit={limit}")
    } else {
        format!("/outbox?limit={limit}")
    };
    if let Some(u) = user {
        path.push_str("&user=");
        path.push_str(&seg(u));
    }
    let v: Value = c.get(&path).await?;
    emit(json, &v, |v| {
        each(v, |n| {
            format!(
                "{} {:<16} {:<28} {:<6} {}",
                when(&n["created_at"]),
                s(n, "user"),
                if deliveries {
                    s(n, "status")
                } else {
                    s(n, "event")
                },
                s(n, "channel"),
                s(n, "destination")
            )
        });
    })
}

//! The administration verbs: each builds one admin API request and prints the answer.

use latchkey_proto::admin::{
    AgentKind, CreateAdmin, CreateAgent, CreateDomain, CreateUser, GenerateToken, ImportToken,
    OtpAlgorithm, Phone, PhoneSource, Role, SetPin, TokenType, UpdateToken, UpdateUser, UserStatus,
};
use latchkey_proto::policy::{PolicyKind, PolicyValue};
use reqwest::Method;
use serde_json::Value;
use std::process::ExitCode;

use super::args::{
    AdminCmd, AgentCmd, AlgArg, AuditCmd, DomainCmd, KeyCmd, KindArg, RoleArg, TokenCmd, TypeArg,
    UserCmd,
};
use super::output::{each, emit, pretty, s};
use super::{Command, VerbResult};
use crate::client::{Client, ClientError, seg};

fn phones(list: &[String]) -> Vec<Phone> {
    list.iter()
        .map(|n| Phone {
            number: n.clone(),
            source: PhoneSource::Manual,
        })
        .collect()
}

fn ttype(t: TypeArg) -> TokenType {
    match t {
        TypeArg::Totp => TokenType::Totp,
        TypeArg::Hotp => TokenType::Hotp,
    }
}

fn alg(a: AlgArg) -> OtpAlgorithm {
    match a {
        AlgArg::Sha1 => OtpAlgorithm::Sha1,
        AlgArg::Sha256 => OtpAlgorithm::Sha256,
        AlgArg::Sha512 => OtpAlgorithm::Sha512,
    }
}

fn policy_kind(k: &str) -> Result<PolicyKind, ClientError> {
    PolicyKind::parse(k).ok_or_else(|| {
        ClientError::Local(format!(
            "unknown policy kind {k:?}: token, lockout, offline or emergency"
        ))
    })
}

fn user_line(u: &Value) -> String {
    format!(
        "{:<24} {:<16} {:<9} {}",
        s(u, "login"),
        s(u, "domain"),
        s(u, "status"),
        s(u, "email")
    )
}

fn token_line(t: &Value) -> String {
    format!(
        "{:<16} {:<5} {:<16} {:<12} enabled={} pin={}",
        s(t, "serial"),
        s(t, "type"),
        s(t, "user"),
        s(t, "domain"),
        t["enabled"],
        t["has_pin"]
    )
}

/// Runs one administration verb.
pub async fn dispatch(c: &Client, cmd: &Command, json: bool) -> VerbResult {
    match cmd {
        Command::Domain(d) => domain(c, d, json).await,
        Command::User(u) => user(c, u, json).await,
        Command::Token(t) => token(c, t, json).await,
        Command::Agent(a) => agent(c, a, json).await,
        Command::Admin(a) => admin(c, a, json).await,
        Command::Audit(a) => audit(c, a, json).await,
        Command::Emergency(e) => super::emergency_verbs::emergency(c, e, json).await,
        Command::Outbox(o) => super::emergency_verbs::outbox(c, o, json).await,
        Command::Eac(e) => super::emergency_verbs::eac(c, e, json).await,
        Command::Messaging(m) => super::messaging_verbs::messaging(c, m, json).await,
        Command::OfflineHosts(a) => super::offline_verbs::offline_hosts(c, a, json).await,
        Command::Key(KeyCmd::Rotate) => {
            let v: Value = c.call::<(), _>(Method::POST, "/keys/rotate", None).await?;
            emit(json, &v, |v| {
                println!(
                    "master key rotated: new key {}; {} values re-sealed",
                    s(v, "key_id"),
                    v["resealed"]
                );
            })
        }
        Command::Serve(_) | Command::CheckConfig(_) => {
            Err(ClientError::Local("not an administration verb".into()))
        }
    }
}

async fn domain(c: &Client, cmd: &DomainCmd, json: bool) -> VerbResult {
    match cmd {
        DomainCmd::Add { name, parent } => {
            let body = CreateDomain {
                name: name.clone(),
                parent: parent.clone(),
            };
            let v: Value = c.call(Method::POST, "/domains", Some(&body)).await?;
            emit(json, &v, |v| {
                println!("created domain {} under {}", s(v, "name"), s(v, "parent"));
            })
        }
        DomainCmd::List => {
            let v: Value = c.get("/domains").await?;
            emit(json, &v, |v| {
                each(v, |d| {
                    format!("{:<24} parent={}", s(d, "name"), s(d, "parent"))
                });
            })
        }
        DomainCmd::Show { name } => {
            let v: Value = c.get(&format!("/domains/{}", seg(name))).await?;
            emit(json, &v, pretty)
        }
        DomainCmd::Policies { name } => {
            let v: Value = c.get(&format!("/domains/{}/policies", seg(name))).await?;
            emit(json, &v, pretty)
        }
        DomainCmd::SetPolicy { name, kind, value } => {
            let kind = policy_kind(kind)?;
            let inner: Value = serde_json::from_str(value)
                .map_err(|e| ClientError::Local(format!("policy value is not JSON: {e}")))?;
            let body: PolicyValue =
                serde_json::from_value(serde_json::json!({"kind": kind.as_str(), "value": inner}))
                    .map_err(|e| ClientError::Local(format!("policy value: {e}")))?;
            let v: Value = c
                .call(
                    Method::PUT,
                    &format!("/domains/{}/policies/{}", seg(name), kind.as_str()),
                    Some(&body),
                )
                .await?;
            emit(json, &v, pretty)
        }
        DomainCmd::ClearPolicy { name, kind } => {
            let kind = policy_kind(kind)?;
            c.call::<(), Value>(
                Method::DELETE,
                &format!("/domains/{}/policies/{}", seg(name), kind.as_str()),
                None,
            )
            .await?;
            let v: Value = c.get(&format!("/domains/{}/policies", seg(name))).await?;
            emit(json, &v, pretty)
        }
    }
}

async fn user(c: &Client, cmd: &UserCmd, json: bool) -> VerbResult {
    let update = |name: &str, body: UpdateUser| {
        let path = format!("/users/{}", seg(name));
        async move { c.call::<_, Value>(Method::PATCH, &path, Some(&body)).await }
    };
    match cmd {
        UserCmd::Add {
            name,
            domain,
            phones: p,
            email,
        } => {
            let body = CreateUser {
                login: name.clone(),
                domain: domain.clone(),
                email: email.clone(),
                phones: phones(p),
            };
            let v: Value = c.call(Method::POST, "/users", Some(&body)).await?;
            emit(json, &v, |v| {
                println!("created user {} in {}", s(v, "login"), s(v, "domain"));
            })
        }
        UserCmd::Show { name } => {
            let v: Value = c.get(&format!("/users/{}", seg(name))).await?;
            emit(json, &v, pretty)
        }
        UserCmd::List => {
            let v: Value = c.get("/users").await?;
            emit(json, &v, |v| each(v, user_line))
        }
        UserCmd::Update {
            name,
            email,
            phones: p,
            domain,
            disable,
            enable,
        } => {
            let status = if *disable {
                Some(UserStatus::Disabled)
            } else if *enable {
                Some(UserStatus::Enabled)
            } else {
                None
            };
            let body = UpdateUser {
                status,
                email: email.clone(),
                phones: p.as_deref().map(phones),
                domain: domain.clone(),
            };
            let v = update(name, body).await?;
            emit(json, &v, |v| println!("{}", user_line(v)))
        }
        UserCmd::Unlock { name } => {
            let v = update(
                name,
                UpdateUser {
                    status: Some(UserStatus::Enabled),
                    ..UpdateUser::default()
                },
            )
            .await?;
            emit(json, &v, |v| println!("unlocked {}", s(v, "login")))
        }
        UserCmd::Delete { name } => {
            c.call::<(), Value>(Method::DELETE, &format!("/users/{}", seg(name)), None)
                .await?;
            if !json {
                println!("deleted user {name}");
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCmd::OnDemand { name, pin, off: _ } => {
            let path = format!("/users/{}/on-demand", seg(name));
            let on = pin.is_some();
            match pin {
                Some(p) => {
                    let body = SetPin { pin: read_pin(p)? };
                    c.call::<_, Value>(Method::PUT, &path, Some(&body)).await?;
                }
                None => {
                    c.call::<(), Value>(Method::DELETE, &path, None).await?;
                }
            }
            emit(
                json,
                &serde_json::json!({"user": name, "on_demand": on}),
                |_| {
                    println!(
                        "on-demand tokencodes {} for {name}",
                        if on { "enabled" } else { "disabled" }
                    );
                },
            )
        }
    }
}

fn read_pin(pin: &str) -> Result<String, ClientError> {
    if pin != "-" {
        return Ok(pin.to_owned());
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| ClientError::Local(format!("reading the PIN: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// `token import` and `token generate`.
async fn token_new(c: &Client, cmd: &TokenCmd, json: bool) -> VerbResult {
    match cmd {
        TokenCmd::Import {
            params: p,
            secret,
            uri,
            counter,
        } => {
            let body = ImportToken {
                serial: p.serial.clone(),
                user: p.user.clone(),
                domain: p.domain.clone(),
                token_type: p.token_type.map(ttype),
                secret: secret.clone(),
                uri: uri.clone(),
                digits: p.digits,
                period: p.period,
                algorithm: p.algorithm.map(alg),
                counter: *counter,
            };
            let v: Value = c.call(Method::POST, "/tokens/import", Some(&body)).await?;
            emit(json, &v, |v| println!("imported token {}", s(v, "serial")))
        }
        TokenCmd::Generate { params: p, qr } => {
            let body = GenerateToken {
                serial: p.serial.clone(),
                user: p.user.clone(),
                domain: p.domain.clone(),
                token_type: p.token_type.map(ttype),
                digits: p.digits,
                period: p.period,
                algorithm: p.algorithm.map(alg),
            };
            let v: Value = c
                .call(Method::POST, "/tokens/generate", Some(&body))
                .await?;
            if let Some(path) = qr {
                crate::keyfile::write_private(path, s(&v, "qr_svg").as_bytes(), true)
                    .map_err(|e| ClientError::Local(format!("{e:#}")))?;
            }
            emit(json, &v, |v| {
                println!("generated token {}", s(&v["token"], "serial"));
                println!("Seed, shown this once — enrol it now, then discard it:");
                println!("  {}", s(v, "otpauth_uri"));
                if let Some(p) = qr {
                    println!("QR code written to {}", p.display());
                }
            })
        }
        _ => Err(ClientError::Local("not a token creation verb".into())),
    }
}

/// The PIN verbs.
async fn token_pin(c: &Client, cmd: &TokenCmd, json: bool) -> VerbResult {
    match cmd {
        TokenCmd::SetPin { serial, pin } => {
            let body = SetPin {
                pin: read_pin(pin)?,
            };
            let v: Value = c
                .call(
                    Method::PUT,
                    &format!("/tokens/{}/pin", seg(serial)),
                    Some(&body),
                )
                .await?;
            emit(json, &v, |v| println!("PIN set on {}", s(v, "serial")))
        }
        TokenCmd::RequireNewPin { serial } => {
            let v: Value = c
                .call::<(), _>(
                    Method::POST,
                    &format!("/tokens/{}/require-new-pin", seg(serial)),
                    None,
                )
                .await?;
            emit(json, &v, |v| {
                println!("{} will ask for a new PIN at its next use", s(v, "serial"));
            })
        }
        TokenCmd::ClearPin { serial } => {
            c.call::<(), Value>(
                Method::DELETE,
                &format!("/tokens/{}/pin", seg(serial)),
                None,
            )
            .await?;
            let v: Value = c.get(&format!("/tokens/{}", seg(serial))).await?;
            emit(json, &v, |v| {
                println!(
                    "PIN cleared on {}; the next authentication sets a new one",
                    s(v, "serial")
                );
            })
        }
        _ => Err(ClientError::Local("not a PIN verb".into())),
    }
}

async fn token(c: &Client, cmd: &TokenCmd, json: bool) -> VerbResult {
    let patch = |serial: &str, body: UpdateToken| {
        let path = format!("/tokens/{}", seg(serial));
        async move { c.call::<_, Value>(Method::PATCH, &path, Some(&body)).await }
    };
    match cmd {
        TokenCmd::Import { .. } | TokenCmd::Generate { .. } => token_new(c, cmd, json).await,
        TokenCmd::List { user } => {
            let path = match user {
                Some(u) => format!("/tokens?user={}", seg(u)),
                None => "/tokens".to_owned(),
            };
            let v: Value = c.get(&path).await?;
            emit(json, &v, |v| each(v, token_line))
        }
        TokenCmd::Show { serial } => {
            let v: Value = c.get(&format!("/tokens/{}", seg(serial))).await?;
            emit(json, &v, pretty)
        }
        TokenCmd::SetPin { .. } | TokenCmd::RequireNewPin { .. } | TokenCmd::ClearPin { .. } => {
            token_pin(c, cmd, json).await
        }
        TokenCmd::Enable { serial } | TokenCmd::Disable { serial } => {
            let enabled = matches!(cmd, TokenCmd::Enable { .. });
            let v = patch(
                serial,
                UpdateToken {
                    enabled: Some(enabled),
                    user: None,
                },
            )
            .await?;
            emit(json, &v, |v| println!("{}", token_line(v)))
        }
        TokenCmd::Assign { serial, user } => {
            let v = patch(
                serial,
                UpdateToken {
                    enabled: None,
                    user: Some(user.clone()),
                },
            )
            .await?;
            emit(json, &v, |v| println!("{}", token_line(v)))
        }
        TokenCmd::Unassign { serial } => {
            let v = patch(
                serial,
                UpdateToken {
                    enabled: None,
                    user: Some(String::new()),
                },
            )
            .await?;
            emit(json, &v, |v| println!("{}", token_line(v)))
        }
        TokenCmd::Delete { serial } => {
            c.call::<(), Value>(Method::DELETE, &format!("/tokens/{}", seg(serial)), None)
                .await?;
            if !json {
                println!("deleted token {serial}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn agent(c: &Client, cmd: &AgentCmd, json: bool) -> VerbResult {
    match cmd {
        AgentCmd::Add {
            name,
            kind,
            domain,
            secret,
            address,
            no_message_authenticator,
        } => {
            let kind = match kind {
                KindArg::Rest => AgentKind::Rest,
                KindArg::Radius => AgentKind::Radius,
                KindArg::OfflineHost => AgentKind::OfflineHost,
                KindArg::CloudApp => AgentKind::CloudApp,
            };
            let body = CreateAgent {
                name: name.clone(),
                kind,
                domain: domain.clone(),
                address: address.clone(),
                secret: secret.clone(),
                require_message_authenticator: no_message_authenticator.then_some(false),
            };
            let v: Value = c.call(Method::POST, "/agents", Some(&body)).await?;
            emit(json, &v, |v| {
                println!("registered agent {}", s(&v["agent"], "name"));
                if let Some(k) = v.get("api_key").and_then(Value::as_str) {
                    println!("API key (shown once): {k}");
                }
                if let Some(k) = v.get("secret").and_then(Value::as_str) {
                    println!("RADIUS shared secret (shown once): {k}");
                }
            })
        }
        AgentCmd::List => {
            let v: Value = c.get("/agents").await?;
            emit(json, &v, |v| {
                each(v, |a| {
                    format!(
                        "{:<24} {:<12} {:<8} {}",
                        s(a, "name"),
                        s(a, "kind"),
                        s(a, "channel"),
                        s(a, "address")
                    )
                });
            })
        }
        AgentCmd::Show { name } => {
            let v: Value = c.get(&format!("/agents/{}", seg(name))).await?;
            emit(json, &v, pretty)
        }
        AgentCmd::Delete { name } => {
            c.call::<(), Value>(Method::DELETE, &format!("/agents/{}", seg(name)), None)
                .await?;
            if !json {
                println!("deleted agent {name}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn admin(c: &Client, cmd: &AdminCmd, json: bool) -> VerbResult {
    match cmd {
        AdminCmd::Add { name, role, scope } => {
            let role = match role {
                RoleArg::SuperAdmin => Role::SuperAdmin,
                RoleArg::DomainAdmin => Role::DomainAdmin,
                RoleArg::HelpDesk => Role::HelpDesk,
                RoleArg::PrivilegedHelpDesk => Role::PrivilegedHelpDesk,
                RoleArg::Auditor => Role::Auditor,
            };
            let body = CreateAdmin {
                name: name.clone(),
                role,
                scope: scope.clone(),
            };
            let v: Value = c.call(Method::POST, "/admins", Some(&body)).await?;
            emit(json, &v, |v| {
                println!(
                    "created administrator {} ({})",
                    s(&v["admin"], "name"),
                    s(&v["admin"], "role")
                );
                println!("API token (shown once): {}", s(v, "token"));
                println!("Console password (shown once): {}", s(v, "password"));
            })
        }
        AdminCmd::List => {
            let v: Value = c.get("/admins").await?;
            emit(json, &v, |v| {
                each(v, |a| {
                    format!(
                        "{:<24} {:<22} scope={}",
                        s(a, "name"),
                        s(a, "role"),
                        s(a, "scope")
                    )
                });
            })
        }
        AdminCmd::Delete { name } => {
            c.call::<(), Value>(Method::DELETE, &format!("/admins/{}", seg(name)), None)
                .await?;
            if !json {
                println!("deleted administrator {name}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn audit(c: &Client, cmd: &AuditCmd, json: bool) -> VerbResult {
    match cmd {
        AuditCmd::Verify => {
            let v: Value = c.get("/audit/verify").await?;
            let ok = v.get("ok").and_then(Value::as_bool).unwrap_or(false);
            emit(json, &v, |v| {
                if ok {
                    println!("audit log intact: {} records", v["records"]);
                } else {
                    println!(
                        "audit log BROKEN at record {}: {}",
                        v["first_bad_seq"],
                        s(v, "problem")
                    );
                }
            })?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(10)
            })
        }
        AuditCmd::Export { after, output } => {
            use std::io::Write;
            let mut out: Box<dyn Write> = match output {
                Some(p) => Box::new(
                    std::fs::File::create(p)
                        .map_err(|e| ClientError::Local(format!("{}: {e}", p.display())))?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            let mut after = *after;
            loop {
                let page: Vec<Value> = c.get(&format!("/audit?after={after}&limit=1000")).await?;
                let Some(last) = page.last() else { break };
                after = last["seq"].as_i64().unwrap_or(i64::MAX);
                for r in &page {
                    writeln!(out, "{r}").map_err(|e| ClientError::Local(e.to_string()))?;
                }
            }
            out.flush().map_err(|e| ClientError::Local(e.to_string()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

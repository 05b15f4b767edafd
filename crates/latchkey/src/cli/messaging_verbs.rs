//! `latchkey messaging providers list|set`: the deployment's SMS/voice providers through
//! the admin API (super administrators). The server never returns a credential; `list`
//! shows each stored secret as `set`.

use std::path::Path;

use latchkey_proto::messaging::{ProviderList, SetProviders};
use reqwest::Method;
use serde_json::Value;

use super::VerbResult;
use super::args::{MessagingCmd, ProvidersCmd};
use super::output::{emit, s};
use crate::client::{Client, ClientError};

const PATH: &str = "/messaging/providers";

/// Runs one `latchkey messaging …` verb.
pub async fn messaging(c: &Client, cmd: &MessagingCmd, json: bool) -> VerbResult {
    match cmd {
        MessagingCmd::Providers(ProvidersCmd::List) => {
            let v: ProviderList = c.get(PATH).await?;
            emit(json, &v, print)
        }
        MessagingCmd::Providers(ProvidersCmd::Set { file }) => {
            let body = read_list(file)?;
            let v: ProviderList = c.call(Method::PUT, PATH, Some(&body)).await?;
            emit(json, &v, print)
        }
        MessagingCmd::Providers(ProvidersCmd::Clear) => {
            c.call::<(), Value>(Method::DELETE, PATH, None).await?;
            let v: ProviderList = c.get(PATH).await?;
            emit(json, &v, print)
        }
    }
}

/// Reads a provider list: a JSON file holding `{"providers": [...]}` or the array alone
/// (`-` reads standard input).
fn read_list(file: &Path) -> Result<SetProviders, ClientError> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .map_err(|e| ClientError::Local(format!("reading standard input: {e}")))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| ClientError::Local(format!("reading {}: {e}", file.display())))?
    };
    // Parse errors say where, never quote the document: it may hold a credential.
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        ClientError::Local(format!(
            "{}: not JSON (line {}, column {})",
            file.display(),
            e.line(),
            e.column()
        ))
    })?;
    match v {
        Value::Array(providers) => Ok(SetProviders { providers }),
        Value::Object(_) => serde_json::from_value(v).map_err(|_| {
            ClientError::Local(format!(
                "{}: expected {{\"providers\": [...]}} or an array of providers",
                file.display()
            ))
        }),
        _ => Err(ClientError::Local(format!(
            "{}: expected {{\"providers\": [...]}} or an array of providers",
            file.display()
        ))),
    }
}

fn print(v: &Value) {
    let version = v["version"]
        .as_i64()
        .map_or_else(String::new, |n| format!(" (version {n})"));
    println!("providers from the {}{version}, in order:", s(v, "source"));
    for p in v["providers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let settings = &p["settings"];
        let channels = match (settings["sms"].as_bool(), settings["voice"].as_bool()) {
            (Some(true), Some(true)) => "sms, voice",
            (_, Some(true)) => "voice",
            (Some(false), _) => "-",
            _ if s(settings, "type") == "outbox" => "sms, voice",
            _ => "sms",
        };
        println!(
            "  {:<20} {:<13} {channels}",
            s(p, "name"),
            s(settings, "type")
        );
    }
}

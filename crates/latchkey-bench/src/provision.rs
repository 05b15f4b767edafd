//! Setting the server up through the admin API: policies that keep the failing phase from
//! locking anyone out, one REST agent, and the users with their HOTP tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use latchkey_crypto::base32::encode_base32;
use latchkey_crypto::otp::{OtpAlgorithm, hotp};
use latchkey_proto::admin::{
    AgentKind, CreateAgent, CreateUser, CreatedAgent, ImportToken, SetPin, TokenType,
};
use rand::RngCore;
use reqwest::{Client, Method};
use serde::Serialize;
use serde_json::{Value, json};

/// Incorrect passcodes per user the failing phase stays under: the token policy set here
/// allows 100 before next-tokencode mode, the lockout policy 1000 before a lock.
pub const FAILURE_CAP: u32 = 90;

/// A user the harness created, with everything needed to compute its passcodes.
#[derive(Debug, Clone)]
pub struct BenchUser {
    /// Login name.
    pub login: String,
    /// HOTP seed.
    pub seed: Vec<u8>,
    /// Next HOTP counter to use (the server's look-ahead of 10 forgives a lost request).
    pub counter: u64,
    /// PIN typed before the code; empty without `--pin`.
    pub pin: String,
    /// Incorrect passcodes sent so far.
    pub failures: u32,
    /// The wrong passcode of the failing phase (computed before it starts).
    pub wrong: String,
}

impl BenchUser {
    /// The next valid passcode (PIN + code); advances the counter.
    pub fn next_passcode(&mut self) -> Result<String> {
        let code = hotp(&self.seed, self.counter, 6, OtpAlgorithm::Sha1)?;
        self.counter += 1;
        Ok(format!("{}{code}", self.pin))
    }

    /// A passcode with the right PIN and a code that matches no counter the server could
    /// accept (neither the normal look-ahead of 10 nor the re-synchronisation window of 100).
    pub fn wrong_passcode(&self) -> Result<String> {
        let mut near = Vec::with_capacity(128);
        for c in self.counter..self.counter + 128 {
            near.push(hotp(&self.seed, c, 6, OtpAlgorithm::Sha1)?);
        }
        let first = near.first().map_or(0, |c| c.parse::<u32>().unwrap_or(0));
        let mut candidate = first;
        loop {
            candidate = (candidate + 1) % 1_000_000;
            let code = format!("{candidate:06}");
            if !near.contains(&code) {
                return Ok(format!("{}{code}", self.pin));
            }
        }
    }
}

/// An admin API client for one server.
#[derive(Clone)]
pub struct Admin {
    client: Client,
    base: String,
    token: String,
}

impl Admin {
    /// A client for the admin API at `base` (the server's URL).
    pub fn new(client: Client, base: &str, token: &str) -> Self {
        Self {
            client,
            base: format!("{base}/api/v1/admin"),
            token: token.to_owned(),
        }
    }

    /// One call; a non-2xx answer is an error carrying the server's body.
    pub async fn call<B: Serialize>(&self, method: Method, path: &str, body: &B) -> Result<Value> {
        let resp = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// Sets lenient lockout and token policies on the root domain, so the failing phase cannot
/// lock users out or push their tokens into next-tokencode mode.
pub async fn lenient_policies(admin: &Admin) -> Result<()> {
    admin
        .call(
            Method::PUT,
            "/domains/root/policies/lockout",
            &json!({"kind": "lockout", "value": {"max_failures": 1000}}),
        )
        .await?;
    admin
        .call(
            Method::PUT,
            "/domains/root/policies/token",
            &json!({"kind": "token", "value": {"incorrect_passcode_limit": 100}}),
        )
        .await?;
    Ok(())
}

/// Registers the REST agent and returns its API key.
pub async fn agent(admin: &Admin) -> Result<String> {
    let body = CreateAgent {
        name: "bench".to_owned(),
        kind: AgentKind::Rest,
        domain: None,
        address: None,
        secret: None,
        require_message_authenticator: None,
    };
    let v = admin.call(Method::POST, "/agents", &body).await?;
    let created: CreatedAgent =
        serde_json::from_value(v).context("reading the agent creation answer")?;
    created
        .api_key
        .context("the server returned no API key for a REST agent")
}

/// Registers the RADIUS client for 127.0.0.1 with `secret` (Message-Authenticator required).
pub async fn radius_agent(admin: &Admin, secret: &str) -> Result<()> {
    let body = CreateAgent {
        name: "bench-radius".to_owned(),
        kind: AgentKind::Radius,
        domain: None,
        address: Some("127.0.0.1/32".to_owned()),
        secret: Some(secret.to_owned()),
        require_message_authenticator: Some(true),
    };
    admin.call(Method::POST, "/agents", &body).await?;
    Ok(())
}

/// Creates `n` users, each with an imported HOTP token (and a PIN with `pin`), `parallel`
/// at a time. Returns them in login order and the time it took.
pub async fn users(
    admin: &Admin,
    n: usize,
    pin: bool,
    parallel: usize,
) -> Result<(Vec<BenchUser>, Duration)> {
    let mut rng = rand::thread_rng();
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        let mut seed = vec![0u8; 20];
        rng.fill_bytes(&mut seed);
        let pin = if pin {
            format!("{:06}", rng.next_u32() % 1_000_000)
        } else {
            String::new()
        };
        all.push(BenchUser {
            login: format!("bench{i:07}"),
            seed,
            counter: 0,
            pin,
            failures: 0,
            wrong: String::new(),
        });
    }
    let all = Arc::new(all);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..parallel.max(1) {
        let (admin, all, next) = (admin.clone(), Arc::clone(&all), Arc::clone(&next));
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(u) = all.get(i) else {
                    return Ok::<(), anyhow::Error>(());
                };
                one_user(&admin, i, u)
                    .await
                    .with_context(|| format!("provisioning {}", u.login))?;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("a provisioning task panicked")??;
    }
    let took = start.elapsed();
    let all = Arc::try_unwrap(all).unwrap_or_else(|a| a.as_ref().clone());
    Ok((all, took))
}

async fn one_user(admin: &Admin, i: usize, u: &BenchUser) -> Result<()> {
    let serial = format!("BENCH{i:07}");
    admin
        .call(
            Method::POST,
            "/users",
            &CreateUser {
                login: u.login.clone(),
                domain: None,
                email: None,
                phones: Vec::new(),
            },
        )
        .await?;
    admin
        .call(
            Method::POST,
            "/tokens/import",
            &ImportToken {
                serial: Some(serial.clone()),
                user: Some(u.login.clone()),
                domain: None,
                token_type: Some(TokenType::Hotp),
                secret: Some(encode_base32(&u.seed)),
                uri: None,
                digits: Some(6),
                period: None,
                algorithm: None,
                counter: Some(0),
            },
        )
        .await?;
    if !u.pin.is_empty() {
        admin
            .call(
                Method::PUT,
                &format!("/tokens/{serial}/pin"),
                &SetPin { pin: u.pin.clone() },
            )
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(pin: &str) -> BenchUser {
        BenchUser {
            login: "u".into(),
            seed: b"12345678901234567890".to_vec(),
            counter: 0,
            pin: pin.into(),
            failures: 0,
            wrong: String::new(),
        }
    }

    #[test]
    fn passcodes_follow_rfc4226_and_advance() {
        let mut u = user("");
        // RFC 4226 appendix D.
        assert_eq!(u.next_passcode().unwrap(), "755224");
        assert_eq!(u.next_passcode().unwrap(), "287082");
        assert_eq!(u.counter, 2);
        let mut p = user("4821");
        assert_eq!(p.next_passcode().unwrap(), "4821755224");
    }

    #[test]
    fn wrong_passcode_matches_no_nearby_counter() {
        let u = user("99");
        let wrong = u.wrong_passcode().unwrap();
        assert!(wrong.starts_with("99"));
        let code = &wrong[2..];
        for c in 0..128 {
            assert_ne!(hotp(&u.seed, c, 6, OtpAlgorithm::Sha1).unwrap(), code);
        }
    }
}

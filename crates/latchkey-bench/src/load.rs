//! The load phases: client tasks on this process's tokio runtime, one shared keep-alive
//! connection pool, every loop bounded by a deadline.
//!
//! Each task owns a disjoint set of users and walks through them one request at a time, so no
//! two requests for the same user are ever in flight and every HOTP code sent for a success
//! is fresh: any answer other than `SUCCESS` there is a finding, not load.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use latchkey_proto::authn::{AuthnResponse, AuthnResult, InitializeRequest};
use reqwest::{Client, RequestBuilder};

use crate::provision::{BenchUser, FAILURE_CAP};
use crate::radius::{Ask, Heard, RadiusClient};
use crate::stats::Tally;

/// Where the load goes.
pub struct Target {
    /// Shared client (one connection pool for every task).
    pub client: Client,
    /// Base URLs of the nodes.
    pub nodes: Vec<String>,
    /// The REST agent's API key.
    pub api_key: String,
    /// RADIUS addresses of the nodes (same order as `nodes`); empty without RADIUS.
    pub radius: Vec<SocketAddr>,
    /// The RADIUS client's shared secret.
    pub radius_secret: String,
}

/// What a phase sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `GET /healthz`: the same HTTP stack with no work behind it.
    Health,
    /// A fresh valid passcode: `SUCCESS` expected.
    Success,
    /// A wrong code for an existing user: `FAIL` expected.
    Fail,
    /// RADIUS Status-Server: the UDP stack with no work behind it; Access-Accept expected.
    RadiusStatus,
    /// RADIUS Access-Request with a fresh valid passcode: Access-Accept expected.
    RadiusSuccess,
}

impl Kind {
    fn is_radius(self) -> bool {
        matches!(self, Kind::RadiusStatus | Kind::RadiusSuccess)
    }
}

/// A request ready to be sent.
enum Prepared {
    Http(RequestBuilder),
    Radius(crate::radius::Prepared),
}

/// One phase.
#[derive(Clone, Debug)]
pub struct Plan {
    /// What to send.
    pub kind: Kind,
    /// How long to keep sending.
    pub duration: Duration,
    /// Indexes into [`Target::nodes`], used round-robin.
    pub nodes: Vec<usize>,
    /// Open loop at this many requests per second; `None` is closed loop (each task sends its
    /// next request when the previous one is answered).
    pub rate: Option<f64>,
}

/// The shared schedule of an open-loop phase: request `k` is due at `start + k * interval`.
struct Schedule {
    ticket: AtomicU64,
    interval: Duration,
}

/// What a phase measured, and the users back with their counters advanced.
pub struct Outcome {
    /// Counts and latencies.
    pub tally: Tally,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// The users' partitions, as handed in.
    pub parts: Vec<Vec<BenchUser>>,
}

/// Runs one phase with one task per partition of `parts`.
pub async fn run(target: &Arc<Target>, plan: &Plan, mut parts: Vec<Vec<BenchUser>>) -> Outcome {
    if plan.kind == Kind::Fail {
        for u in parts.iter_mut().flatten() {
            // Precomputed: the counters do not move while only wrong codes are sent.
            u.wrong = u.wrong_passcode().unwrap_or_default();
        }
    }
    let schedule = plan.rate.map(|r| {
        Arc::new(Schedule {
            ticket: AtomicU64::new(0),
            interval: Duration::from_secs_f64(1.0 / r.max(1.0)),
        })
    });
    let nodes = Arc::new(plan.nodes.clone());
    let start = Instant::now();
    let end = start + plan.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, users) in parts.into_iter().enumerate() {
        let ctx = TaskCtx {
            target: Arc::clone(target),
            kind: plan.kind,
            nodes: Arc::clone(&nodes),
            first_node: i,
            start,
            end,
            schedule: schedule.clone(),
        };
        tasks.spawn(async move { (i, ctx.run(users).await) });
    }
    let mut tally = Tally::default();
    let mut back: Vec<(usize, Vec<BenchUser>)> = Vec::new();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok((i, (t, users))) => {
                tally.merge(&t);
                back.push((i, users));
            }
            Err(e) => tally.error(format!("a load task failed: {e}")),
        }
    }
    let elapsed = start.elapsed();
    back.sort_by_key(|(i, _)| *i);
    tally.latency.finish();
    tally.service.finish();
    Outcome {
        tally,
        elapsed,
        parts: back.into_iter().map(|(_, u)| u).collect(),
    }
}

struct TaskCtx {
    target: Arc<Target>,
    kind: Kind,
    nodes: Arc<Vec<usize>>,
    first_node: usize,
    start: Instant,
    end: Instant,
    schedule: Option<Arc<Schedule>>,
}

impl TaskCtx {
    async fn run(self, mut users: Vec<BenchUser>) -> (Tally, Vec<BenchUser>) {
        let mut tally = Tally::with_capacity(16 * 1024);
        let mut radius = None;
        if self.kind.is_radius() {
            match RadiusClient::new().await {
                Ok(c) => radius = Some(c),
                Err(e) => {
                    tally.error(format!("RADIUS socket: {e}"));
                    return (tally, users);
                }
            }
        }
        let secret = self.target.radius_secret.as_bytes();
        let mut rr = self.first_node;
        let mut next_user = 0usize;
        loop {
            // When this request counts from: its due time if the schedule is behind (so a
            // stalled server is charged for the queue it caused), else when it is sent.
            let mut origin = None;
            match &self.schedule {
                None => {
                    if Instant::now() >= self.end {
                        break;
                    }
                }
                Some(s) => {
                    let k = s.ticket.fetch_add(1, Ordering::Relaxed);
                    #[allow(clippy::cast_precision_loss)] // ticket numbers far below 2^52
                    let due = self.start + s.interval.mul_f64(k as f64);
                    if due >= self.end {
                        break;
                    }
                    if Instant::now() < due {
                        tokio::time::sleep_until(due.into()).await;
                    } else {
                        origin = Some(due);
                    }
                }
            }
            let node = self
                .nodes
                .get(rr % self.nodes.len().max(1))
                .copied()
                .unwrap_or(0);
            rr += 1;
            let Some(req) = self.prepare(
                node,
                radius.as_mut(),
                &mut users,
                &mut next_user,
                &mut tally,
            ) else {
                break;
            };
            let sent = Instant::now();
            let answer = match (req, radius.as_mut()) {
                (Prepared::Http(r), _) => send(r, self.kind).await,
                (Prepared::Radius(p), Some(c)) => match c.exchange(&p, secret).await {
                    Heard::Reply(code) if code == latchkey_radius::codec::Code::ACCESS_ACCEPT => {
                        Answer::Expected
                    }
                    Heard::Reply(code) => Answer::Unexpected(format!("{code:?}")),
                    Heard::Nothing(e) => Answer::Transport(e),
                },
                (Prepared::Radius(_), None) => Answer::Transport("no RADIUS socket".to_owned()),
            };
            let done = Instant::now();
            match answer {
                Answer::Expected => {
                    tally.requests += 1;
                    tally.expected += 1;
                }
                Answer::Unexpected(what) => {
                    tally.requests += 1;
                    tally.unexpected(what);
                }
                Answer::HttpError(what) => tally.error(what),
                Answer::Transport(what) => {
                    tally.error(what);
                    continue;
                }
            }
            tally.latency.record(done - origin.unwrap_or(sent));
            tally.service.record(done - sent);
        }
        (tally, users)
    }

    /// The next request to `node`; `None` when this task has nothing left to send (an error
    /// is then in the tally).
    fn prepare(
        &self,
        node: usize,
        radius: Option<&mut RadiusClient>,
        users: &mut [BenchUser],
        next_user: &mut usize,
        tally: &mut Tally,
    ) -> Option<Prepared> {
        let base = self.target.nodes.get(node).map_or("", String::as_str);
        let secret = self.target.radius_secret.as_bytes();
        let prepared = match (self.kind, radius, self.target.radius.get(node)) {
            (Kind::Health, _, _) => {
                return Some(Prepared::Http(
                    self.target.client.get(format!("{base}/healthz")),
                ));
            }
            (Kind::Success | Kind::Fail, _, _) => {
                let (login, passcode) = self.passcode(users, next_user, tally)?;
                return Some(Prepared::Http(self.authn(base, login, passcode)));
            }
            (Kind::RadiusStatus, Some(c), Some(&to)) => c.prepare(to, secret, &Ask::Status),
            (Kind::RadiusSuccess, Some(c), Some(&to)) => {
                let (login, passcode) = self.passcode(users, next_user, tally)?;
                let ask = Ask::Access {
                    user: &login,
                    password: &passcode,
                };
                c.prepare(to, secret, &ask)
            }
            (Kind::RadiusStatus | Kind::RadiusSuccess, _, _) => {
                Err("the node has no RADIUS address".to_owned())
            }
        };
        match prepared {
            Ok(p) => Some(Prepared::Radius(p)),
            Err(e) => {
                tally.error(e);
                None
            }
        }
    }

    /// The user and passcode of the next request, moving `next` past that user; `None` when
    /// this task has nothing left to send (no users, or all at the failure cap).
    fn passcode(
        &self,
        users: &mut [BenchUser],
        next: &mut usize,
        tally: &mut Tally,
    ) -> Option<(String, String)> {
        let n = users.len();
        for _ in 0..n {
            let i = *next % n;
            *next = i + 1;
            let u = users.get_mut(i)?;
            match self.kind {
                Kind::Success | Kind::RadiusSuccess => match u.next_passcode() {
                    Ok(p) => return Some((u.login.clone(), p)),
                    Err(e) => {
                        tally.error(format!("computing a code: {e}"));
                        return None;
                    }
                },
                Kind::Fail if u.failures < FAILURE_CAP => {
                    u.failures += 1;
                    return Some((u.login.clone(), u.wrong.clone()));
                }
                _ => {}
            }
        }
        None
    }

    fn authn(&self, base: &str, user: String, passcode: String) -> RequestBuilder {
        self.target
            .client
            .post(format!("{base}/api/v1/authn/initialize"))
            .bearer_auth(&self.target.api_key)
            .json(&InitializeRequest {
                user,
                passcode,
                client_address: None,
            })
    }
}

/// How one request ended.
enum Answer {
    Expected,
    Unexpected(String),
    HttpError(String),
    Transport(String),
}

async fn send(req: RequestBuilder, kind: Kind) -> Answer {
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return Answer::Transport(format!("{e}")),
    };
    let status = resp.status();
    let body = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Answer::Transport(format!("reading the body: {e}")),
    };
    if !status.is_success() {
        let text = String::from_utf8_lossy(body.get(..200.min(body.len())).unwrap_or_default());
        return Answer::HttpError(format!("HTTP {status}: {text}"));
    }
    let want = match kind {
        Kind::Health | Kind::RadiusStatus => return Answer::Expected,
        Kind::Success | Kind::RadiusSuccess => AuthnResult::Success,
        Kind::Fail => AuthnResult::Fail,
    };
    match serde_json::from_slice::<AuthnResponse>(&body) {
        Ok(r) if r.result == want => Answer::Expected,
        Ok(r) => Answer::Unexpected(describe(&r)),
        Err(e) => Answer::HttpError(format!("unreadable answer: {e}")),
    }
}

fn describe(r: &AuthnResponse) -> String {
    let mut s = format!("{:?}: {}", r.result, r.message);
    if let Some(c) = &r.challenge {
        let _ = write!(s, " (challenge {:?}: {})", c.kind, c.prompt);
    }
    s
}

/// What the replay check found.
#[derive(Debug, Default)]
pub struct Replay {
    /// Fresh codes tried.
    pub codes: usize,
    /// Requests per code.
    pub fanout: usize,
    /// Codes accepted more than once.
    pub double: usize,
    /// Codes never accepted (a lost request, or a server too eager to refuse).
    pub never: usize,
    /// Requests that got no well-formed answer.
    pub errors: usize,
    /// The first such error.
    pub first_error: Option<String>,
}

/// Fires each of `codes` fresh passcodes `fanout` times at once, spread round-robin over all
/// nodes, and counts how often each was accepted: exactly once is right.
pub async fn replay_check(
    target: &Arc<Target>,
    users: &mut [BenchUser],
    codes: usize,
    fanout: usize,
) -> Result<Replay> {
    let mut out = Replay {
        codes,
        fanout,
        ..Replay::default()
    };
    let n = users.len();
    for r in 0..codes {
        let u = users
            .get_mut(r % n.max(1))
            .context("no users for the replay check")?;
        let passcode = u.next_passcode()?;
        let login = u.login.clone();
        let barrier = Arc::new(tokio::sync::Barrier::new(fanout));
        let mut tasks = tokio::task::JoinSet::new();
        for j in 0..fanout {
            let t = Arc::clone(target);
            let (barrier, login, passcode) =
                (Arc::clone(&barrier), login.clone(), passcode.clone());
            tasks.spawn(async move {
                let base = t
                    .nodes
                    .get(j % t.nodes.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                let req = t
                    .client
                    .post(format!("{base}/api/v1/authn/initialize"))
                    .bearer_auth(&t.api_key)
                    .json(&InitializeRequest {
                        user: login,
                        passcode,
                        client_address: None,
                    });
                barrier.wait().await;
                send(req, Kind::Success).await
            });
        }
        let mut accepted = 0usize;
        while let Some(a) = tasks.join_next().await {
            match a {
                Ok(Answer::Expected) => accepted += 1,
                Ok(Answer::Unexpected(_)) => {}
                Ok(Answer::HttpError(e) | Answer::Transport(e)) => {
                    out.errors += 1;
                    out.first_error.get_or_insert(e);
                }
                Err(e) => {
                    out.errors += 1;
                    out.first_error.get_or_insert(e.to_string());
                }
            }
        }
        if accepted > 1 {
            out.double += 1;
        } else if accepted == 0 {
            out.never += 1;
        }
    }
    Ok(out)
}

/// Splits users into `k` disjoint partitions, user `i` to partition `i % k`.
pub fn partition(users: Vec<BenchUser>, k: usize) -> Vec<Vec<BenchUser>> {
    let k = k.max(1);
    let mut parts: Vec<Vec<BenchUser>> = (0..k).map(|_| Vec::new()).collect();
    for (i, u) in users.into_iter().enumerate() {
        if let Some(p) = parts.get_mut(i % k) {
            p.push(u);
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_disjoint_and_complete() {
        let users: Vec<BenchUser> = (0..10)
            .map(|i| BenchUser {
                login: format!("u{i}"),
                seed: vec![1; 20],
                counter: 0,
                pin: String::new(),
                failures: 0,
                wrong: String::new(),
            })
            .collect();
        let parts = partition(users, 3);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [4, 3, 3]);
        let mut all: Vec<String> = parts.iter().flatten().map(|u| u.login.clone()).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 10);
    }
}

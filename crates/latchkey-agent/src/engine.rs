//! The agent's decision logic, one request of the PAM protocol at a time, as an explicit
//! state machine:
//!
//! ```text
//! authenticate(user, passcode)
//!   ├─ server answers SUCCESS ─▶ store offline_data (if any) ─▶ success
//!   ├─ server answers CHALLENGE ─▶ remember attempt ─▶ challenge (respond continues online)
//!   ├─ server answers FAIL ─▶ fail                        (never offline)
//!   ├─ server refuses (4xx) ─▶ fail                        (never offline)
//!   └─ server unreachable (connect/timeout/5xx) ─▶ offline:
//!        no/unreadable cache ─▶ fail
//!        open(OAD, pinned key, host id) fails ─▶ fail
//!        verify ─▶ Accepted ─▶ success | Rejected/EmergencyOnly/Expired ─▶ fail
//!                 Wipe ─▶ delete cache ─▶ fail
//!        (state saved and event queued before the answer)
//! ```
//!
//! Invariants:
//! - Deciding whether to verify offline depends only on [`UpstreamError`]; the offline branch
//!   never touches the network.
//! - One user's requests are serialised (a per-user lock), so the replay and failure state
//!   read, updated and written by one attempt is never raced by another.
//! - Time comes from the [`Clock`]; nothing here reads the system clock.
//! - Passcodes stay in [`Passcode`]s and are never logged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use latchkey_offline::{Oad, UserState, Verdict};

use crate::cache::{Cache, Entry};
use crate::events::{BATCH, Event, EventQueue, new_id};
use crate::protocol::{Passcode, Request, Response};
use crate::upstream::{AuthnAnswer, Step, StepResult, Upstream, UpstreamError};

/// Seconds a challenge stays answerable.
pub const ATTEMPT_TTL: i64 = 600;

/// Most challenges pending at once (oldest dropped beyond).
pub const MAX_PENDING: usize = 1000;

/// `state` with its failure counter at zero and everything else (last accepted steps, used
/// one-time codes, clock high-water mark) kept. `latchkey_offline::UserState` has no setter,
/// so this goes through its serde form — the same form the cache file stores, hence stable.
pub fn reset_failures(state: &UserState) -> UserState {
    let reset = serde_json::to_value(state).and_then(|mut v| {
        if let Some(o) = v.as_object_mut() {
            o.insert("failures".to_owned(), serde_json::Value::from(0));
        }
        serde_json::from_value::<UserState>(v)
    });
    match reset {
        Ok(s) if s.failures() == 0 => s,
        _ => {
            tracing::error!("cannot reset the offline failure counter; starting a fresh state");
            UserState::default()
        }
    }
}

/// The time source.
pub trait Clock: Send + Sync {
    /// Unix seconds.
    fn now(&self) -> i64;
}

/// What the engine needs to know about the host.
#[derive(Debug, Clone)]
pub struct HostIdentity {
    /// The host id the server assigned.
    pub host_id: String,
    /// The pinned server key.
    pub server_key: [u8; 32],
}

struct Pending {
    user: String,
    server_attempt: String,
    want_offline: bool,
    created: i64,
}

/// The engine.
pub struct Engine {
    upstream: Arc<dyn Upstream>,
    clock: Arc<dyn Clock>,
    cache: Cache,
    events: EventQueue,
    host: HostIdentity,
    pending: Mutex<HashMap<String, Pending>>,
    user_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    events_lock: tokio::sync::Mutex<()>,
    contacted: AtomicBool,
    refresh_every_login: bool,
}

/// Why an offline attempt ended, for logs and events.
struct Offline {
    response: Response,
    event: Option<Event>,
}

impl Engine {
    /// An engine over a cache and an event queue.
    pub fn new(
        upstream: Arc<dyn Upstream>,
        clock: Arc<dyn Clock>,
        cache: Cache,
        events: EventQueue,
        host: HostIdentity,
    ) -> Self {
        Self {
            upstream,
            clock,
            cache,
            events,
            host,
            pending: Mutex::new(HashMap::new()),
            user_locks: Mutex::new(HashMap::new()),
            events_lock: tokio::sync::Mutex::new(()),
            contacted: AtomicBool::new(false),
            refresh_every_login: true,
        }
    }

    /// Whether to ask for fresh offline data at every online login (the default) or only when
    /// due (none, unusable, past `refresh_at` or expired). Every login is what lets a reset
    /// emergency passcode or a policy change reach this host at its next online login: only
    /// the server knows the held data went stale.
    #[must_use]
    pub fn with_refresh_every_login(mut self, every: bool) -> Self {
        self.refresh_every_login = every;
        self
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// Whether the server answered since the last call (then events should be flushed).
    pub fn take_contacted(&self) -> bool {
        self.contacted.swap(false, Ordering::AcqRel)
    }

    fn user_lock(&self, user: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self
            .user_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() > 10_000 {
            m.retain(|_, l| Arc::strong_count(l) > 1);
        }
        Arc::clone(m.entry(user.to_owned()).or_default())
    }

    /// Answers one request of the PAM protocol.
    pub async fn handle(&self, req: Request) -> Response {
        match req {
            Request::Authenticate {
                user,
                passcode,
                rhost,
            } => self.authenticate(&user, &passcode, rhost.as_deref()).await,
            Request::Respond {
                attempt_id,
                response,
            } => self.respond(&attempt_id, &response).await,
        }
    }

    /// Opens a cached entry's OAD with the pinned key; `None` (logged) when unusable.
    fn open_entry(&self, user: &str, entry: &Entry) -> Option<Oad> {
        match latchkey_offline::open(&entry.oad, &self.host.server_key, &self.host.host_id) {
            Ok(oad) if oad.user() == user => Some(oad),
            Ok(oad) => {
                tracing::error!(
                    user,
                    "cached offline data is for user {:?}; refusing it",
                    oad.user()
                );
                None
            }
            Err(e) => {
                tracing::error!(user, "cached offline data refused: {e}");
                None
            }
        }
    }

    /// Whether to ask the server for new offline data for `user`.
    fn wants_offline_data(&self, user: &str) -> bool {
        if self.refresh_every_login {
            return true;
        }
        let now = self.clock.now();
        match self.cache.load(user) {
            Ok(Some(entry)) => self
                .open_entry(user, &entry)
                .is_none_or(|oad| now >= oad.refresh_at() || now >= oad.expires_at()),
            Ok(None) => true,
            Err(e) => {
                tracing::error!(user, "{e}; treating the user as having no offline data");
                true
            }
        }
    }

    async fn authenticate(&self, user: &str, passcode: &Passcode, rhost: Option<&str>) -> Response {
        let lock = self.user_lock(user);
        let _guard = lock.lock().await;
        let want = self.wants_offline_data(user);
        let step = Step::Initialize {
            user,
            passcode,
            client_address: rhost,
        };
        match self.upstream.step(step, want).await {
            Ok(answer) => {
                self.contacted.store(true, Ordering::Release);
                self.online_answer(user, want, answer)
            }
            Err(UpstreamError::Refused(why)) => {
                tracing::error!(user, "online authentication refused by the server: {why}");
                Response::fail()
            }
            Err(UpstreamError::Unreachable(why)) => {
                tracing::warn!(user, "server unreachable ({why}); verifying offline");
                let o = self.offline(user, passcode).await;
                if let Some(ev) = o.event {
                    let _g = self.events_lock.lock().await;
                    match self.events.push(ev) {
                        Ok(0) => {}
                        Ok(n) => tracing::warn!("event queue full: dropped {n} oldest events"),
                        Err(e) => tracing::error!("cannot queue the offline event: {e}"),
                    }
                }
                o.response
            }
        }
    }

    async fn respond(&self, attempt_id: &str, response: &Passcode) -> Response {
        let now = self.clock.now();
        let p = {
            let mut m = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            m.retain(|_, p| now - p.created < ATTEMPT_TTL && now >= p.created);
            m.remove(attempt_id)
        };
        let Some(p) = p else {
            tracing::info!("answer to an unknown or expired attempt");
            return Response::fail();
        };
        let lock = self.user_lock(&p.user);
        let _guard = lock.lock().await;
        let step = Step::Verify {
            attempt_id: &p.server_attempt,
            response,
        };
        match self.upstream.step(step, p.want_offline).await {
            Ok(answer) => {
                self.contacted.store(true, Ordering::Release);
                self.online_answer(&p.user, p.want_offline, answer)
            }
            Err(e) => {
                // A challenge is the server's; it cannot be finished offline.
                tracing::error!(user = p.user, "challenge answer not delivered: {e}");
                Response::fail()
            }
        }
    }

    fn online_answer(&self, user: &str, want: bool, answer: AuthnAnswer) -> Response {
        match answer.result {
            StepResult::Fail => {
                tracing::info!(user, "online: fail");
                Response::fail()
            }
            StepResult::Challenge => {
                let (Some(server_attempt), Some(prompt)) = (answer.attempt_id, answer.prompt)
                else {
                    tracing::error!(
                        user,
                        "the server sent a challenge without attempt or prompt"
                    );
                    return Response::fail();
                };
                let id = hex::encode(rand::random::<[u8; 16]>());
                let now = self.clock.now();
                let mut m = self
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if m.len() >= MAX_PENDING
                    && let Some(oldest) = m
                        .iter()
                        .min_by_key(|(_, p)| p.created)
                        .map(|(k, _)| k.clone())
                {
                    m.remove(&oldest);
                }
                m.insert(
                    id.clone(),
                    Pending {
                        user: user.to_owned(),
                        server_attempt,
                        want_offline: want,
                        created: now,
                    },
                );
                tracing::info!(user, "online: challenge");
                Response::challenge(id, prompt)
            }
            StepResult::Success => {
                tracing::info!(user, "online: success");
                self.after_online_success(user, answer.offline_data);
                Response::success("Authenticated")
            }
        }
    }

    /// Stores new offline data (keeping the host-side replay state, so a refresh never
    /// reopens a step used offline), and resets the failure counter: an online login is the
    /// "online login" that lifts the emergency-only state.
    fn after_online_success(&self, user: &str, offline_data: Option<Vec<u8>>) {
        let now = self.clock.now();
        let current = match self.cache.load(user) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(user, "{e}; it will be replaced by new offline data if any");
                None
            }
        };
        if let Some(bytes) = offline_data {
            match latchkey_offline::open(&bytes, &self.host.server_key, &self.host.host_id) {
                Ok(oad) if oad.user() == user => {
                    let state = current
                        .as_ref()
                        .map(|e| reset_failures(&e.state))
                        .unwrap_or_default();
                    let entry = Entry {
                        oad: bytes,
                        state,
                        stored_at: now,
                    };
                    match self.cache.store(user, &entry) {
                        Ok(()) => tracing::info!(
                            user,
                            expires_at = oad.expires_at(),
                            "stored new offline data"
                        ),
                        Err(e) => tracing::error!(user, "cannot store offline data: {e}"),
                    }
                    return;
                }
                Ok(oad) => tracing::error!(
                    user,
                    "the server sent offline data for user {:?}; ignored",
                    oad.user()
                ),
                Err(e) => {
                    tracing::error!(user, "the server sent offline data that is refused: {e}");
                }
            }
        }
        if let Some(entry) = current
            && entry.state.failures() > 0
        {
            let fresh = Entry {
                state: reset_failures(&entry.state),
                ..entry
            };
            if let Err(e) = self.cache.store(user, &fresh) {
                tracing::error!(user, "cannot reset the offline failure counter: {e}");
            }
        }
    }

    fn event(&self, user: &str, ok: bool, credential: Option<&str>, reason: &str) -> Event {
        Event {
            id: new_id(),
            user: user.to_owned(),
            at: self.clock.now(),
            result: if ok { "success" } else { "fail" }.to_owned(),
            credential: credential.map(str::to_owned),
            reason: reason.to_owned(),
        }
    }

    async fn offline(&self, user: &str, passcode: &Passcode) -> Offline {
        let fail = |reason: &str| Offline {
            response: Response::fail(),
            event: Some(self.event(user, false, None, reason)),
        };
        let entry = match self.cache.load(user) {
            Ok(Some(e)) => e,
            Ok(None) => {
                tracing::info!(user, "offline: no offline data for this user");
                return fail("no_offline_data");
            }
            Err(e) => {
                tracing::error!(
                    user,
                    "offline: {e}; treating the user as having no offline data"
                );
                return fail("cache_unreadable");
            }
        };
        let Some(oad) = self.open_entry(user, &entry) else {
            return fail("offline_data_refused");
        };
        let now = self.clock.now();
        let pass = passcode.clone();
        let mut state = entry.state.clone();
        // Argon2id is slow by design: off the async threads.
        let joined = tokio::task::spawn_blocking(move || {
            let v = oad.verify(pass.expose(), now, &mut state);
            (v, state)
        })
        .await;
        let Ok((verdict, state)) = joined else {
            tracing::error!(user, "offline verification task failed");
            return Offline {
                response: Response::fail(),
                event: None,
            };
        };
        let save = |state: UserState| -> bool {
            let e = Entry {
                state,
                ..entry.clone()
            };
            match self.cache.store(user, &e) {
                Ok(()) => true,
                Err(err) => {
                    tracing::error!(user, "offline: cannot save the user's state: {err}");
                    false
                }
            }
        };
        match verdict {
            Verdict::Accepted { credential } => {
                // Durability first: an accepted code is used only once the state is on disk.
                if !save(state) {
                    return fail("state_not_saved");
                }
                tracing::info!(user, credential = credential.as_str(), "offline: success");
                Offline {
                    response: Response::success("Authenticated offline"),
                    event: Some(self.event(user, true, Some(credential.as_str()), "offline_login")),
                }
            }
            Verdict::Rejected { reason } => {
                save(state);
                tracing::info!(user, reason, "offline: fail");
                fail(reason)
            }
            Verdict::EmergencyOnly => {
                save(state);
                tracing::info!(
                    user,
                    "offline: fail (too many failures: only an emergency code or an online login works now)"
                );
                fail("emergency_only")
            }
            Verdict::Expired => {
                save(state);
                tracing::info!(user, "offline: fail (offline data expired)");
                fail("offline_data_expired")
            }
            Verdict::Wipe => {
                match self.cache.delete(user) {
                    Ok(_) => tracing::warn!(
                        user,
                        "offline: too many failures; the user's offline data was deleted"
                    ),
                    Err(e) => tracing::error!(user, "offline: cannot delete the cache: {e}"),
                }
                fail("cache_wiped")
            }
        }
    }

    /// Uploads queued events until the queue is empty or the server is unreachable; returns
    /// how many left the queue. A batch the server refuses (4xx: one event it finds invalid,
    /// e.g. a login typed with spaces or a host clock far ahead) is retried one event at a
    /// time, and only the events refused on their own are dropped (logged), so one bad event
    /// never blocks the queue.
    pub async fn flush_events(&self) -> Result<usize, UpstreamError> {
        let _g = self.events_lock.lock().await;
        let mut sent = 0;
        loop {
            let all = match self.events.load() {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!("event queue: {e}");
                    return Ok(sent);
                }
            };
            if all.is_empty() {
                return Ok(sent);
            }
            let batch: Vec<Event> = all.into_iter().take(BATCH).collect();
            let done: Vec<String> = match self.upstream.upload_events(&batch).await {
                Ok(accepted) => {
                    tracing::info!(uploaded = batch.len(), accepted, "offline events uploaded");
                    batch.iter().map(|e| e.id.clone()).collect()
                }
                Err(UpstreamError::Refused(why)) => {
                    tracing::warn!("event upload refused ({why}); retrying one by one");
                    let mut done = Vec::new();
                    for e in &batch {
                        match self.upstream.upload_events(std::slice::from_ref(e)).await {
                            Ok(_) => {}
                            Err(UpstreamError::Refused(why)) => tracing::error!(
                                event = e.id,
                                user = e.user,
                                "offline event refused by the server, dropped: {why}"
                            ),
                            Err(unreachable) => {
                                self.remove_events(&done);
                                return Err(unreachable);
                            }
                        }
                        done.push(e.id.clone());
                    }
                    done
                }
                Err(unreachable) => return Err(unreachable),
            };
            if !self.remove_events(&done) {
                return Ok(sent);
            }
            sent += done.len();
        }
    }

    fn remove_events(&self, ids: &[String]) -> bool {
        if ids.is_empty() {
            return true;
        }
        match self.events.remove(ids) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("event queue: cannot remove uploaded events: {e}");
                false
            }
        }
    }
}

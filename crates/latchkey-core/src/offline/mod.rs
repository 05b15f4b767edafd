//! Offline hosts (PRODUCT.md §5, `docs/design/offline.md`): enrolment, offline authentication
//! data (OAD) after an online SUCCESS, uploaded offline events, and per-user host lists.
//!
//! Invariants:
//! - OAD is only issued to an enrolled `offline_host` agent, after SUCCESS, when the user's
//!   domain offline policy is enabled and the passcode reached its minimum length; it covers
//!   the TOTP tokens whose PIN the passcode carried (the PIN keys the tokencode verifiers).
//! - The signing key is derived from the PIN verifier key (sealed in the store, unchanged by
//!   master key rotation), so hosts keep their pinned key across rotations and nodes.
//! - Every state change (enrolment, download, event) is audited in the same transaction.
//! - Uploaded events are validated as a whole before anything is written.

pub mod store;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latchkey_crypto::verifier::check_keyed_verifier;
use latchkey_offline::{BuildRequest, EacSource, EmergencySource, KdfParams, TokenSource};
use latchkey_proto::admin::{AgentKind, TokenType};
use latchkey_proto::emergency::{OfflineEmergencyKind, OfflineEmergencyView, OfflineHolder};
use latchkey_proto::offline::{
    EnrollRequest, EnrollResponse, EventsRequest, EventsResponse, HeldTokencode,
    MAX_EVENTS_PER_UPLOAD, OfflineCredential, OfflineHostView, OfflineResult, UserOfflineHosts,
};
use latchkey_proto::policy::EffectivePolicies;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::CoreError;
use crate::admin::{AdminService, PIN_CONTEXT, seed_aad};
use crate::audit::AuditDraft;
use crate::authz::{Actor, DomainTree, Permission};
use crate::emergency::{Eac, OfflineEmergency, OfflineOwner};
use crate::model::{Agent, Token, User};
use crate::policy;
use crate::ports::{Clock, Entropy, EntropyRng};
use latchkey_crypto::SecretString;
pub use store::{Download, HeldDownload, OfflineHost, OfflineStore};

/// The user's offline emergency passcode, each token's offline emergency tokencode, and the
/// current emergency access code, as embedded in offline data.
type EmergencyValues = (
    Option<(OfflineEmergency, SecretString)>,
    Vec<(OfflineEmergency, SecretString)>,
    Option<Eac>,
);

/// Longest host name.
const HOSTNAME_MAX: usize = 253;
/// Longest event id and reason.
const EVENT_FIELD_MAX: usize = 64;
/// How far in the future an event time may be (host clocks drift).
const EVENT_FUTURE_SLACK: i64 = 86_400;

/// The offline-host service.
pub struct OfflineService {
    store: Arc<dyn OfflineStore>,
    admin: Arc<AdminService>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    kdf: KdfParams,
    signing_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for OfflineService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineService").finish_non_exhaustive()
    }
}

/// Hex SHA-256 of the policies that shape offline data: a change makes held data stale.
pub fn policy_fingerprint(p: &EffectivePolicies) -> [u8; 32] {
    let text = serde_json::json!({"offline": p.offline, "emergency": p.emergency, "format": latchkey_offline::FORMAT_VERSION})
        .to_string();
    Sha256::digest(text.as_bytes()).into()
}

impl OfflineService {
    /// Builds the service; the signing key is derived from the admin service's PIN key.
    pub fn new(
        store: Arc<dyn OfflineStore>,
        admin: Arc<AdminService>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Self {
        let mut h = Sha256::new();
        h.update(b"latchkey offline data signing key v1\0");
        h.update(admin.pin_key().expose());
        let signing_key = Zeroizing::new(<[u8; 32]>::from(h.finalize()));
        Self {
            store,
            admin,
            clock,
            entropy,
            kdf: KdfParams::DEFAULT,
            signing_key,
        }
    }

    /// Sets the Argon2id cost (tests use cheap parameters).
    #[must_use]
    pub fn with_kdf(mut self, kdf: KdfParams) -> Self {
        self.kdf = kdf;
        self
    }

    /// The Ed25519 verifying key hosts pin.
    pub fn server_key(&self) -> [u8; 32] {
        latchkey_offline::verifying_key(&self.signing_key)
    }

    fn rng(&self) -> EntropyRng<'_> {
        EntropyRng(self.entropy.as_ref())
    }

    fn require_host_agent(agent: &Agent) -> Result<(), CoreError> {
        if agent.kind == AgentKind::OfflineHost {
            Ok(())
        } else {
            Err(CoreError::Forbidden(
                "only offline-host agents use this endpoint".to_owned(),
            ))
        }
    }

    /// `POST /api/v1/offline/enroll`.
    pub async fn enroll(
        &self,
        agent: &Agent,
        source: Option<&str>,
        req: &EnrollRequest,
    ) -> Result<EnrollResponse, CoreError> {
        Self::require_host_agent(agent)?;
        let hostname = req.hostname.trim();
        if hostname.is_empty()
            || hostname.len() > HOSTNAME_MAX
            || !hostname
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        {
            return Err(CoreError::invalid(
                "hostname",
                "must be 1–253 letters, digits, dots, hyphens or underscores",
            ));
        }
        let key = STANDARD
            .decode(req.host_public_key.trim())
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or_else(|| CoreError::invalid("host_public_key", "must be base64 of 32 bytes"))?;
        let mut id = [0u8; 12];
        self.rng().fill_bytes(&mut id);
        let now = self.clock.now();
        let audit = AuditDraft::ok(
            now,
            &format!("agent:{}", agent.name),
            "offline.host.enroll",
            &format!("agent:{}", agent.name),
            source,
        )
        .with_detail(&serde_json::json!({"hostname": hostname, "host_key": hex::encode(&key)}));
        let host = self
            .store
            .enroll_host(agent.id, &hex::encode(id), hostname, &key, now, &audit)
            .await?;
        Ok(EnrollResponse {
            host_id: host.host_id,
            server_key: STANDARD.encode(self.server_key()),
        })
    }

    /// The login of a pending attempt of an offline-host `agent` (`None` for other agents, an
    /// unknown attempt or a malformed id), read before `verify` consumes the attempt.
    pub async fn attempt_login(
        &self,
        agent: &Agent,
        attempt_id: &str,
    ) -> Result<Option<String>, CoreError> {
        let id = attempt_id.trim();
        if agent.kind != AgentKind::OfflineHost || id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        Ok(self.store.attempt_login(id, agent.id).await?)
    }

    /// The offline data for `login` after a SUCCESS with `passcode` through `agent`, or `None`
    /// when the conditions are not met (not an enrolled host, policy off, passcode too short,
    /// no TOTP token whose PIN the passcode carries).
    pub async fn offline_data(
        &self,
        agent: &Agent,
        source: Option<&str>,
        login: &str,
        passcode: &str,
    ) -> Result<Option<String>, CoreError> {
        if agent.kind != AgentKind::OfflineHost {
            return Ok(None);
        }
        let Some(host) = self.store.find_offline_host(agent.id).await? else {
            return Ok(None);
        };
        let Ok(login) = crate::validate::login(login) else {
            return Ok(None);
        };
        let Some(user) = self.store.find_user_by_login(&login).await? else {
            return Ok(None);
        };
        let tree = DomainTree::new(self.store.list_domains().await?);
        let policies = policy::effective(&tree, user.domain_id);
        let off = policies.offline;
        let long_enough = u32::try_from(passcode.chars().count())
            .is_ok_and(|n| n >= off.min_online_passcode_length);
        if !off.enabled || !long_enough {
            return Ok(None);
        }
        let tokens: Vec<(Token, String)> = self
            .store
            .list_tokens_for_user(user.id)
            .await?
            .into_iter()
            .filter(|t| t.enabled && t.token_type == TokenType::Totp)
            .filter_map(|t| {
                let d = usize::try_from(t.digits).ok()?;
                let cut = passcode.len().checked_sub(d)?;
                let pin = passcode.get(..cut)?.to_owned();
                let ok = match &t.pin_verifier {
                    Some(v) => {
                        check_keyed_verifier(self.admin.pin_key(), PIN_CONTEXT, pin.as_bytes(), v)
                    }
                    None => pin.is_empty(),
                };
                ok.then_some((t, pin))
            })
            .collect();
        if tokens.is_empty() {
            return Ok(None);
        }
        self.build_for(&host, agent, source, &user, &policies, &tokens)
            .await
            .map(Some)
    }

    async fn build_for(
        &self,
        host: &OfflineHost,
        agent: &Agent,
        source: Option<&str>,
        user: &User,
        policies: &EffectivePolicies,
        tokens: &[(Token, String)],
    ) -> Result<String, CoreError> {
        let off = policies.offline;
        let now = self.clock.now();
        let actor = format!("agent:{}", agent.name);
        let mut seeds = Vec::with_capacity(tokens.len());
        for (t, _) in tokens {
            seeds.push(self.admin.open(&t.seed_sealed, &seed_aad(&t.serial))?);
        }
        let (passcode, tokencodes, eac) = self
            .emergency_values(user, policies, tokens, &actor, source, now)
            .await?;
        let fingerprint = policy_fingerprint(policies);
        let req = BuildRequest {
            host_id: &host.host_id,
            user: &user.login,
            generated_at: now,
            days: off.days,
            refresh_below_days: off.refresh_below_days.min(off.days),
            policy_fingerprint: fingerprint,
            failures_before_online_required: off.failures_before_online_required,
            failures_before_wipe: off.failures_before_wipe,
            kdf: self.kdf,
            tokens: tokens
                .iter()
                .zip(&seeds)
                .enumerate()
                .map(|(i, ((t, pin), seed))| TokenSource {
                    serial: &t.serial,
                    seed: seed.expose(),
                    pin,
                    digits: t.digits,
                    period: t.period,
                    algorithm: t.algorithm,
                    drift: t.drift,
                    emergency_tokencode: tokencodes.get(i).map(|(e, v)| EmergencySource {
                        generation: e.generation,
                        expires_at: e.expires_at,
                        value: v.expose(),
                    }),
                })
                .collect(),
            emergency_passcode: passcode.as_ref().map(|(e, v)| EmergencySource {
                generation: e.generation,
                expires_at: e.expires_at,
                value: v.expose(),
            }),
            eac: eac.as_ref().map(|e| EacSource {
                id: &e.id,
                one_time: e.one_time,
                offline_expires_at: e.offline_expires_at,
                phc: &e.offline_verifier,
            }),
        };
        let blob = latchkey_offline::build(&req, &self.signing_key, &mut self.rng())
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        let expires_at = now.saturating_add(i64::from(off.days) * 86_400);
        let download = Download {
            user_id: user.id,
            agent_id: agent.id,
            synced_at: now,
            expires_at,
            policy_fingerprint: hex::encode(fingerprint),
            passcode_generation: passcode.as_ref().map(|(e, _)| e.generation),
            tokencode_generations: tokens
                .iter()
                .zip(&tokencodes)
                .map(|((t, _), (e, _))| (t.serial.clone(), e.generation))
                .collect(),
            eac_id: eac.as_ref().map(|e| e.id.clone()),
        };
        let audit = AuditDraft::ok(
            now,
            &actor,
            "offline.download",
            &format!("user:{}", user.login),
            source,
        )
        .with_detail(&serde_json::json!({
            "host_id": host.host_id,
            "expires_at": expires_at,
            "tokens": tokens.iter().map(|(t, _)| t.serial.clone()).collect::<Vec<_>>(),
            "emergency_passcode_generation": download.passcode_generation,
            "emergency_tokencode_generations": download.tokencode_generations,
            "emergency_access_code": download.eac_id,
        }));
        self.store.record_download(&download, &audit).await?;
        Ok(STANDARD.encode(blob))
    }

    /// The emergency values to embed (when the policy downloads them): the user's offline
    /// emergency passcode and each token's offline emergency tokencode (generated when absent
    /// or expired, as the help desk's reveal does), and the current EAC when offline-valid.
    async fn emergency_values(
        &self,
        user: &User,
        policies: &EffectivePolicies,
        tokens: &[(Token, String)],
        actor: &str,
        source: Option<&str>,
        now: i64,
    ) -> Result<EmergencyValues, CoreError> {
        if !policies.offline.download_emergency_codes {
            return Ok((None, Vec::new(), None));
        }
        let (ep, ep_value) = self
            .admin
            .current_offline(
                OfflineOwner::User(user.id),
                &user.login,
                policies,
                actor,
                source,
            )
            .await?;
        let mut ets = Vec::with_capacity(tokens.len());
        for (t, _) in tokens {
            ets.push(
                self.admin
                    .current_offline(
                        OfflineOwner::Token(t.id),
                        &t.serial,
                        policies,
                        actor,
                        source,
                    )
                    .await?,
            );
        }
        let eac = self
            .store
            .find_eac(user.id)
            .await?
            .filter(|e| e.offline_expires_at > now && !(e.one_time && e.used_at.is_some()));
        Ok((Some((ep, ep_value)), ets, eac))
    }

    /// `POST /api/v1/offline/events`: validates the whole batch, then records each event once.
    pub async fn upload_events(
        &self,
        agent: &Agent,
        source: Option<&str>,
        req: &EventsRequest,
    ) -> Result<EventsResponse, CoreError> {
        Self::require_host_agent(agent)?;
        let Some(host) = self.store.find_offline_host(agent.id).await? else {
            return Err(CoreError::Conflict("the host is not enrolled".to_owned()));
        };
        if req.events.len() > MAX_EVENTS_PER_UPLOAD {
            return Err(CoreError::invalid(
                "events",
                "at most 500 events per upload",
            ));
        }
        let now = self.clock.now();
        let mut logins = Vec::with_capacity(req.events.len());
        for e in &req.events {
            let id_ok = !e.id.is_empty()
                && e.id.len() <= EVENT_FIELD_MAX
                && e.id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
            if !id_ok {
                return Err(CoreError::invalid("events.id", "must be a UUID"));
            }
            let reason_ok = !e.reason.is_empty()
                && e.reason.len() <= EVENT_FIELD_MAX
                && e.reason
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !reason_ok {
                return Err(CoreError::invalid(
                    "events.reason",
                    "must be short snake_case",
                ));
            }
            if e.at <= 0 || e.at > now.saturating_add(EVENT_FUTURE_SLACK) {
                return Err(CoreError::invalid(
                    "events.at",
                    "must be a plausible Unix time",
                ));
            }
            logins.push(
                crate::validate::login(&e.user)
                    .map_err(|_| CoreError::invalid("events.user", "not a valid login"))?,
            );
        }
        let mut accepted = 0u32;
        for (e, login) in req.events.iter().zip(logins) {
            let outcome = match e.result {
                OfflineResult::Success => "success".to_owned(),
                OfflineResult::Fail => format!("fail:{}", e.reason),
            };
            let audit = AuditDraft::ok(
                e.at,
                &format!("agent:{}", agent.name),
                "offline.authn",
                &format!("user:{login}"),
                source,
            )
            .with_outcome(&outcome)
            .with_detail(&serde_json::json!({
                "event_id": e.id,
                "host_id": host.host_id,
                "hostname": host.hostname,
                "credential": e.credential.map(OfflineCredential::as_str),
                "reason": e.reason,
                "uploaded_at": now,
            }));
            // A re-upload is accepted (the host may drop it) but not recorded twice.
            self.store
                .record_offline_event(agent.id, &e.id, now, &audit)
                .await?;
            accepted = accepted.saturating_add(1);
        }
        Ok(EventsResponse { accepted })
    }

    /// The hosts holding the value `view` describes, with the generation each holds (for the
    /// `hosts` of the offline emergency views; the caller checked right and scope).
    pub async fn holders(
        &self,
        view: &OfflineEmergencyView,
    ) -> Result<Vec<OfflineHolder>, CoreError> {
        let Some(login) = &view.user else {
            return Ok(Vec::new());
        };
        let Some(user) = self.store.find_user_by_login(login).await? else {
            return Ok(Vec::new());
        };
        let held = self.store.list_downloads(user.id).await?;
        Ok(held
            .into_iter()
            .filter_map(|h| {
                let generation = match view.kind {
                    OfflineEmergencyKind::Passcode => h.download.passcode_generation,
                    OfflineEmergencyKind::Tokencode => h
                        .download
                        .tokencode_generations
                        .iter()
                        .find(|(serial, _)| Some(serial) == view.serial.as_ref())
                        .map(|(_, g)| *g),
                }?;
                Some(OfflineHolder {
                    host: h.agent_name,
                    last_sync: h.download.synced_at,
                    generation,
                })
            })
            .collect())
    }

    /// `GET /api/v1/admin/users/{login}/offline-hosts` (view right, in scope).
    pub async fn user_hosts(
        &self,
        actor: &Actor,
        login: &str,
    ) -> Result<UserOfflineHosts, CoreError> {
        DomainTree::require(actor, Permission::ViewDirectory)?;
        let login = crate::validate::login(login)?;
        let user = self
            .store
            .find_user_by_login(&login)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("user {login:?}")))?;
        let tree = DomainTree::new(self.store.list_domains().await?);
        tree.require_in_scope(actor, Permission::ViewDirectory, user.domain_id)?;
        let current = hex::encode(policy_fingerprint(&policy::effective(
            &tree,
            user.domain_id,
        )));
        let now = self.clock.now();
        let hosts = self
            .store
            .list_downloads(user.id)
            .await?
            .into_iter()
            .map(|h| OfflineHostView {
                agent: h.agent_name,
                host_id: h.host.host_id,
                hostname: h.host.hostname,
                last_sync: h.download.synced_at,
                expires_at: h.download.expires_at,
                stale: h.download.expires_at <= now || h.download.policy_fingerprint != current,
                emergency_passcode_generation: h.download.passcode_generation,
                emergency_tokencodes: h
                    .download
                    .tokencode_generations
                    .into_iter()
                    .map(|(serial, generation)| HeldTokencode { serial, generation })
                    .collect(),
                emergency_access_code: h.download.eac_id,
            })
            .collect();
        Ok(UserOfflineHosts {
            user: user.login,
            hosts,
        })
    }
}

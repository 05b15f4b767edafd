//! The cloud channel (PRODUCT.md §2, §4 "cloud online", §6): an agent of kind `cloud-app`
//! lists a user's methods, starts one, and answers its challenge. Methods: the authenticator
//! app's code, a code by SMS or voice call, an emergency access code. Online emergency
//! tokencodes and both offline emergency values are refused here, and the audit log says so.
//!
//! Answers, failure counting, lockout and audit are those of the manager channel. An unknown
//! user is answered like a known one (a challenge whose answer always fails), except that
//! SMS and voice, which need a phone number, fail at once for both.

use latchkey_crypto::codegen::generate_digits;
use latchkey_crypto::verifier::{check_keyed_verifier, keyed_verifier};
use latchkey_proto::admin::AgentKind;
use latchkey_proto::authn::{AuthnResponse, AuthnResult, Challenge, ChallengeKind, VerifyRequest};
use latchkey_proto::cloud::{CloudMethod, MethodsRequest, MethodsResponse, StartRequest};

use super::codes::{CodeMatch, classify};
use super::store::{Attempt, AttemptState, AuthToken};
use super::{AuthnService, Caller, Reason, Subject, use_of};
use crate::CoreError;
use crate::audit::AuditDraft;
use crate::delivery::NewDelivery;
use crate::emergency::{self as em, EAC_CONTEXT, NoticeEvent};
use crate::model::{Agent, User};
use crate::ports::{PhoneChannel, PhoneMessage};

/// Context string of the keyed verifiers of SMS and voice codes.
pub const PHONE_CODE_CONTEXT: &str = "phone-code";

/// On-demand codes: length, validity and tries (PRODUCT.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhoneCodeSettings {
    /// Digits (6 or 8).
    pub digits: u32,
    /// Validity in minutes (1–70).
    pub valid_minutes: u32,
    /// Answers allowed per code.
    pub tries: u32,
}

impl Default for PhoneCodeSettings {
    fn default() -> Self {
        Self {
            digits: 6,
            valid_minutes: 5,
            tries: 3,
        }
    }
}

fn kind_of(m: CloudMethod) -> ChallengeKind {
    match m {
        CloudMethod::Authenticator => ChallengeKind::AuthenticatorCode,
        CloudMethod::Sms => ChallengeKind::SmsCode,
        CloudMethod::Voice => ChallengeKind::VoiceCode,
        CloudMethod::EmergencyAccessCode => ChallengeKind::EmergencyAccessCode,
    }
}

fn prompt_of(m: CloudMethod) -> &'static str {
    match m {
        CloudMethod::Authenticator => "Enter the code shown by your authenticator app.",
        CloudMethod::Sms => "Enter the code we sent to your phone by SMS.",
        CloudMethod::Voice => "Enter the code read out by the phone call.",
        CloudMethod::EmergencyAccessCode => "Enter the emergency access code from your help desk.",
    }
}

/// The challenge of a method.
fn challenge_of(m: CloudMethod) -> Challenge {
    Challenge {
        kind: kind_of(m),
        prompt: prompt_of(m).to_owned(),
    }
}

/// The challenge of a code sent by SMS or voice: on the manager channel (on demand) it is a
/// next-tokencode challenge; `again` after a wrong answer.
fn phone_challenge(m: CloudMethod, on_demand: bool, again: bool) -> Challenge {
    let mut c = challenge_of(m);
    if on_demand {
        c.kind = ChallengeKind::NextTokencode;
        "Enter the tokencode we sent to your phone.".clone_into(&mut c.prompt);
    }
    if again {
        c.prompt = format!("That code is not right. {}", c.prompt);
    }
    c
}

/// The last digits of a number, for the audit log.
fn masked(number: &str) -> String {
    let tail: String = number
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// The answer when a send limit refused a code.
fn rate_limited() -> AuthnResponse {
    AuthnResponse {
        message: "Too many codes were requested; wait and try again.".to_owned(),
        ..AuthnResponse::fail()
    }
}

impl AuthnService {
    /// Finds the cloud application owning an API key; anything else is
    /// [`CoreError::Unauthenticated`].
    pub async fn authenticate_cloud_agent(&self, key: &str) -> Result<Agent, CoreError> {
        self.agent_by_key(key, AgentKind::CloudApp).await
    }

    /// `POST /api/v1/cloud/methods`.
    pub async fn cloud_methods(&self, req: &MethodsRequest) -> Result<MethodsResponse, CoreError> {
        let (_, user) = self.lookup(&req.user).await?;
        let tree = self.domain_tree(user.as_ref().map(|u| u.domain_id)).await?;
        // An unknown user gets the methods of the root domain, as one without a phone would.
        let domain = user.as_ref().map(|u| u.domain_id).or_else(|| tree.root());
        let settings = domain
            .map_or_else(latchkey_proto::policy::EmergencySettings::default, |d| {
                crate::policy::effective(&tree, d).emergency
            });
        let phone = self.messenger.is_some()
            && user.as_ref().is_some_and(|u| {
                u.status == latchkey_proto::admin::UserStatus::Enabled && !u.phones.is_empty()
            });
        let mut methods = vec![CloudMethod::Authenticator];
        if phone && settings.cloud_sms {
            methods.push(CloudMethod::Sms);
        }
        if phone && settings.cloud_voice {
            methods.push(CloudMethod::Voice);
        }
        if settings.cloud_access_code {
            methods.push(CloudMethod::EmergencyAccessCode);
        }
        Ok(MethodsResponse { methods })
    }

    /// A challenge for `method`, stored for `user`, or (no user) not stored at all: its answer
    /// then fails as an unknown attempt.
    async fn cloud_challenge(
        &self,
        caller: &Caller,
        user: Option<&User>,
        challenge: Challenge,
        state: AttemptState,
        ttl: i64,
    ) -> Result<AuthnResponse, CoreError> {
        let id = self.new_attempt_id();
        if let Some(u) = user {
            let now = self.clock.now();
            self.store
                .insert_attempt(&Attempt {
                    id: id.clone(),
                    agent_id: caller.agent.id,
                    user_id: u.id,
                    login: u.login.clone(),
                    expires_at: now.saturating_add(ttl),
                    created_at: now,
                    state,
                })
                .await?;
        }
        Ok(AuthnResponse {
            result: AuthnResult::Challenge,
            attempt_id: Some(id),
            challenge: Some(challenge),
            message: "Additional information required".to_owned(),
        })
    }

    /// `POST /api/v1/cloud/start`.
    pub async fn cloud_start(
        &self,
        caller: &Caller,
        req: &StartRequest,
    ) -> Result<AuthnResponse, CoreError> {
        let now = self.clock.now();
        let (target, user) = self.lookup(&req.user).await?;
        let method = req.method;
        let detail = serde_json::json!({"method": method});
        let refusal = match &user {
            None => Some(Reason::UnknownUser),
            Some(u) => self.refuses(u, &target, now).await?,
        };
        let phone = matches!(method, CloudMethod::Sms | CloudMethod::Voice);
        if let Some(reason) = refusal {
            // Recorded now; the answer looks like a known user's.
            self.store
                .audit_only(&self.audit(caller, &target, reason, detail))
                .await?;
            if phone {
                return Ok(AuthnResponse::fail());
            }
            return self
                .cloud_challenge(
                    caller,
                    None,
                    challenge_of(method),
                    AttemptState::CloudAccessCode,
                    0,
                )
                .await;
        }
        let Some(user) = user else {
            return Ok(AuthnResponse::fail());
        };
        let settings = self.subject(user.clone()).await?.policies.emergency;
        let allowed = match method {
            CloudMethod::Authenticator => true,
            CloudMethod::Sms => settings.cloud_sms,
            CloudMethod::Voice => settings.cloud_voice,
            CloudMethod::EmergencyAccessCode => settings.cloud_access_code,
        };
        if !allowed {
            let detail = serde_json::json!({"method": method});
            self.store
                .audit_only(&self.audit(caller, &target, Reason::MethodNotAllowed, detail))
                .await?;
            return Ok(AuthnResponse::fail());
        }
        let ttl = self.attempt_ttl;
        match method {
            CloudMethod::Authenticator => {
                self.cloud_challenge(
                    caller,
                    Some(&user),
                    challenge_of(method),
                    AttemptState::CloudAuthenticator,
                    ttl,
                )
                .await
            }
            CloudMethod::EmergencyAccessCode => {
                self.cloud_challenge(
                    caller,
                    Some(&user),
                    challenge_of(method),
                    AttemptState::CloudAccessCode,
                    ttl,
                )
                .await
            }
            CloudMethod::Sms | CloudMethod::Voice => {
                self.send_phone_code(caller, &target, &user, method, false)
                    .await
            }
        }
    }

    async fn send_phone_code(
        &self,
        caller: &Caller,
        target: &str,
        user: &User,
        method: CloudMethod,
        on_demand: bool,
    ) -> Result<AuthnResponse, CoreError> {
        let now = self.clock.now();
        let (channel, channel_name) = if method == CloudMethod::Sms {
            (PhoneChannel::Sms, "sms")
        } else {
            (PhoneChannel::Voice, "voice")
        };
        let (Some(messenger), Some(phone)) = (&self.messenger, user.phones.first()) else {
            let detail = serde_json::json!({"method": method});
            self.store
                .audit_only(&self.audit(caller, target, Reason::NoPhone, detail))
                .await?;
            return Ok(AuthnResponse::fail());
        };
        let mut request = self.audit(
            caller,
            target,
            Reason::Challenge,
            serde_json::json!({"method": method, "to": masked(&phone.number)}),
        );
        "authn.code_send".clone_into(&mut request.action);
        "ok".clone_into(&mut request.outcome);
        let reserved = self
            .store
            .reserve_delivery(
                &NewDelivery {
                    user_id: user.id,
                    destination: phone.number.clone(),
                    channel: channel_name.to_owned(),
                    now,
                },
                &self.send_limits,
                &request,
            )
            .await?;
        let delivery = match reserved {
            Ok(id) => id,
            Err(hit) => {
                tracing::warn!(user = %user.login, limit = hit.as_str(), "on-demand code refused");
                return Ok(rate_limited());
            }
        };
        let s = self.phone_code;
        let digits = usize::try_from(s.digits).unwrap_or(6);
        let code = generate_digits(&mut self.rng(), digits);
        let verifier = keyed_verifier(
            self.admin.pin_key(),
            &mut self.rng(),
            PHONE_CODE_CONTEXT,
            code.expose().as_bytes(),
        );
        let outcome = messenger
            .deliver(&PhoneMessage {
                channel,
                to: phone.number.clone(),
                code,
                valid_minutes: s.valid_minutes,
            })
            .await;
        let attempts: Vec<serde_json::Value> = outcome
            .attempts
            .iter()
            .map(|a| {
                serde_json::json!({"provider": a.provider, "ok": a.ok, "transient": a.transient, "detail": a.detail})
            })
            .collect();
        let delivered = outcome.delivered();
        let mut record = AuditDraft::ok(now, "system", "message.delivery", target, None)
            .with_outcome(if delivered { "ok" } else { "fail:not_delivered" })
            .with_detail(&serde_json::json!({"delivery": delivery, "channel": channel_name, "attempts": attempts}));
        record.at = self.clock.now();
        self.store
            .record_delivery(
                delivery,
                delivered,
                &serde_json::Value::from(attempts).to_string(),
                &record,
            )
            .await?;
        if !delivered {
            return Ok(AuthnResponse::fail());
        }
        let state = AttemptState::CloudPhoneCode {
            channel: channel_name.to_owned(),
            on_demand,
            verifier,
            tries: 0,
        };
        self.cloud_challenge(
            caller,
            Some(user),
            phone_challenge(method, on_demand, false),
            state,
            i64::from(s.valid_minutes) * 60,
        )
        .await
    }

    /// Manager channel: a passcode that is the user's on-demand PIN sends a tokencode by SMS
    /// and answers with a next-tokencode challenge. `None` when it is not.
    pub(super) async fn try_on_demand(
        &self,
        caller: &Caller,
        target: &str,
        user: &User,
        passcode: &str,
    ) -> Result<Option<AuthnResponse>, CoreError> {
        let Some(verifier) = self.store.find_on_demand(user.id).await? else {
            return Ok(None);
        };
        if !check_keyed_verifier(
            self.admin.pin_key(),
            crate::admin::PIN_CONTEXT,
            passcode.as_bytes(),
            &verifier,
        ) {
            return Ok(None);
        }
        self.send_phone_code(caller, target, user, CloudMethod::Sms, true)
            .await
            .map(Some)
    }

    /// Answers a cloud challenge (called from `verify` with the attempt already taken).
    pub(super) async fn continue_cloud(
        &self,
        caller: &Caller,
        target: &str,
        attempt: Attempt,
        req: &VerifyRequest,
    ) -> Result<AuthnResponse, CoreError> {
        let now = self.clock.now();
        let Some(user) = self.store.find_user_by_id(attempt.user_id).await? else {
            return self
                .fail(
                    caller,
                    target,
                    Reason::UnknownAttempt,
                    None,
                    serde_json::json!({}),
                )
                .await;
        };
        if let Some(reason) = self.refuses(&user, target, now).await? {
            return self
                .fail(caller, target, reason, None, serde_json::json!({}))
                .await;
        }
        let subject = self.subject(user).await?;
        let tokens: Vec<AuthToken> = self
            .store
            .list_auth_tokens(subject.user.id)
            .await?
            .into_iter()
            .filter(|t| t.token.enabled)
            .collect();
        let response = req.response.trim();
        match attempt.state.clone() {
            AttemptState::CloudAuthenticator => {
                self.answer_authenticator(caller, target, &subject, tokens, response)
                    .await
            }
            AttemptState::CloudAccessCode => {
                self.answer_access_code(caller, target, &subject, tokens, response)
                    .await
            }
            AttemptState::CloudPhoneCode {
                channel,
                on_demand,
                verifier,
                tries,
            } => {
                if check_keyed_verifier(
                    self.admin.pin_key(),
                    PHONE_CODE_CONTEXT,
                    response.as_bytes(),
                    &verifier,
                ) {
                    let detail = serde_json::json!({"method": channel});
                    let audit = self.audit(caller, target, Reason::Success, detail);
                    self.store.commit_success(subject.user.id, &audit).await?;
                    return Ok(AuthnResponse::success());
                }
                let tries = tries.saturating_add(1);
                let detail = serde_json::json!({"method": channel, "tries": tries});
                let answer = self
                    .fail(
                        caller,
                        target,
                        Reason::WrongCode,
                        Some((&subject, tokens)),
                        detail,
                    )
                    .await?;
                if tries >= self.phone_code.tries {
                    return Ok(answer);
                }
                // Another try at the same code, under the same attempt id.
                let method = if channel == "sms" {
                    CloudMethod::Sms
                } else {
                    CloudMethod::Voice
                };
                let mut again = attempt_clone(&attempt.id, &attempt, now);
                again.state = AttemptState::CloudPhoneCode {
                    channel,
                    on_demand,
                    verifier,
                    tries,
                };
                self.store.insert_attempt(&again).await?;
                Ok(AuthnResponse {
                    result: AuthnResult::Challenge,
                    attempt_id: Some(again.id),
                    challenge: Some(phone_challenge(method, on_demand, true)),
                    message: "Additional information required".to_owned(),
                })
            }
            _ => {
                self.fail(
                    caller,
                    target,
                    Reason::UnknownAttempt,
                    None,
                    serde_json::json!({}),
                )
                .await
            }
        }
    }

    async fn answer_authenticator(
        &self,
        caller: &Caller,
        target: &str,
        subject: &Subject,
        tokens: Vec<AuthToken>,
        code: &str,
    ) -> Result<AuthnResponse, CoreError> {
        let now = self.clock.now();
        let mut reused = false;
        for t in &tokens {
            let seed = self.admin.open(
                &t.token.seed_sealed,
                &crate::admin::seed_aad(&t.token.serial),
            )?;
            match classify(&t.token, seed.expose(), code, now, false) {
                CodeMatch::Fresh { step, drift } => {
                    let detail =
                        serde_json::json!({"method": "authenticator", "serial": t.token.serial});
                    let audit = self.audit(caller, target, Reason::Success, detail.clone());
                    if self
                        .store
                        .commit_token_use(&use_of(t, step, drift, Some(subject.user.id)), &audit)
                        .await?
                    {
                        return Ok(AuthnResponse::success());
                    }
                    reused = true;
                }
                CodeMatch::Reused => reused = true,
                CodeMatch::Drifted { .. } | CodeMatch::NoMatch => {}
            }
        }
        let reason = if reused {
            Reason::PasscodeReuse
        } else {
            Reason::WrongTokencode
        };
        self.refuse_on_cloud(caller, target, subject, tokens, code, reason)
            .await
    }

    async fn answer_access_code(
        &self,
        caller: &Caller,
        target: &str,
        subject: &Subject,
        tokens: Vec<AuthToken>,
        code: &str,
    ) -> Result<AuthnResponse, CoreError> {
        let now = self.clock.now();
        let typed = em::normalize_code(code, subject.policies.token.emergency_code_format);
        let eac = self.store.find_eac(subject.user.id).await?.filter(|e| {
            check_keyed_verifier(
                self.admin.pin_key(),
                EAC_CONTEXT,
                typed.as_bytes(),
                &e.verifier,
            )
        });
        let Some(eac) = eac else {
            return self
                .refuse_on_cloud(caller, target, subject, tokens, code, Reason::WrongCode)
                .await;
        };
        let detail = serde_json::json!({"method": "emergency_access_code", "id": eac.id});
        if eac.expires_at <= now {
            return self
                .fail(
                    caller,
                    target,
                    Reason::EmergencyCodeExpired,
                    Some((subject, tokens)),
                    detail,
                )
                .await;
        }
        if eac.used_at.is_some() {
            return self
                .fail(
                    caller,
                    target,
                    Reason::PasscodeReuse,
                    Some((subject, tokens)),
                    detail,
                )
                .await;
        }
        let audit = self
            .audit(caller, target, Reason::Success, detail.clone())
            .with_field("credential", "emergency_access_code".into());
        let notice = em::notice(&subject.user, NoticeEvent::Used, now);
        if self
            .store
            .commit_eac_use(
                subject.user.id,
                &eac.id,
                eac.one_time,
                now,
                Some(&notice),
                &audit,
            )
            .await?
        {
            em::log_queued(&notice);
            Ok(AuthnResponse::success())
        } else {
            self.fail(
                caller,
                target,
                Reason::PasscodeReuse,
                Some((subject, tokens)),
                detail,
            )
            .await
        }
    }

    /// Fails a cloud answer, naming a manager-channel emergency credential when that is what
    /// was typed (refused on this channel), otherwise with `reason`.
    async fn refuse_on_cloud(
        &self,
        caller: &Caller,
        target: &str,
        subject: &Subject,
        tokens: Vec<AuthToken>,
        typed: &str,
        reason: Reason,
    ) -> Result<AuthnResponse, CoreError> {
        if let Some(credential) = self.emergency_credential(subject, &tokens, typed).await? {
            let detail = serde_json::json!({"credential": credential});
            return self
                .fail(
                    caller,
                    target,
                    Reason::NotAcceptedOnCloud,
                    Some((subject, tokens)),
                    detail,
                )
                .await;
        }
        self.fail(
            caller,
            target,
            reason,
            Some((subject, tokens)),
            serde_json::json!({}),
        )
        .await
    }
}

/// A copy of an attempt for another try, with a fresh creation time.
fn attempt_clone(id: &str, a: &Attempt, now: i64) -> Attempt {
    Attempt {
        id: id.to_owned(),
        agent_id: a.agent_id,
        user_id: a.user_id,
        login: a.login.clone(),
        expires_at: a.expires_at,
        created_at: now,
        state: a.state.clone(),
    }
}

//! Challenges: new-PIN mode, next-tokencode mode, re-synchronisation, and answering them.
//!
//! An attempt is taken out of the store when it is answered (one answer, on any node) and,
//! if the conversation goes on, a new one with a new id is stored. Nothing secret is kept in
//! an attempt: a PIN waiting for confirmation is held as its keyed verifier.

use latchkey_crypto::codegen::{CharClasses, generate_code, generate_digits};
use latchkey_crypto::secret::SecretString;
use latchkey_crypto::verifier::{check_keyed_verifier, keyed_verifier};
use latchkey_proto::authn::{AuthnResponse, AuthnResult, Challenge, ChallengeKind, VerifyRequest};
use latchkey_proto::policy::{PinCharset, PinCreation, TokenPolicy};
use rand::RngCore;

use super::codes::{CodeMatch, classify, split_passcode};
use super::store::{Attempt, AttemptState, AuthToken};
use super::{AuthnService, Caller, Reason, Subject, use_of};
use crate::CoreError;
use crate::admin::{PIN_CONTEXT, seed_aad};
use crate::ids::TokenId;
use crate::policy;

/// How many invalid or mismatched new PINs a user may offer in one conversation.
const MAX_PIN_TRIES: u32 = 3;

fn pin_rules(tp: &TokenPolicy) -> String {
    let kind = match tp.pin_charset {
        PinCharset::Numeric => "digits",
        PinCharset::Alphanumeric => "letters and digits",
    };
    format!("{} to {} {kind}", tp.pin_min_length, tp.pin_max_length)
}

impl AuthnService {
    /// Generates a PIN that satisfies the token policy.
    fn generate_pin(&self, tp: &TokenPolicy) -> Result<SecretString, CoreError> {
        let len = usize::try_from(tp.pin_min_length.max(6).min(tp.pin_max_length)).unwrap_or(6);
        let mut rng = self.rng();
        Ok(match tp.pin_charset {
            PinCharset::Numeric => generate_digits(&mut rng, len),
            PinCharset::Alphanumeric => generate_code(
                &mut rng,
                len,
                CharClasses {
                    digits: true,
                    upper: true,
                    lower: true,
                    special: false,
                },
            )?,
        })
    }

    pub(super) fn new_attempt_id(&self) -> String {
        let mut b = [0u8; 18];
        self.rng().fill_bytes(&mut b);
        latchkey_crypto::base32::encode_base32(&b).to_lowercase()
    }

    /// Stores an attempt and answers with its challenge.
    pub(super) async fn challenge(
        &self,
        caller: &Caller,
        subject_login: &str,
        user_id: crate::ids::UserId,
        state: AttemptState,
        kind: ChallengeKind,
        prompt: String,
    ) -> Result<AuthnResponse, CoreError> {
        let id = self.new_attempt_id();
        let attempt = Attempt {
            id: id.clone(),
            agent_id: caller.agent.id,
            user_id,
            login: subject_login.to_owned(),
            expires_at: self.clock.now().saturating_add(self.attempt_ttl),
            created_at: self.clock.now(),
            state,
        };
        self.store.insert_attempt(&attempt).await?;
        Ok(AuthnResponse {
            result: AuthnResult::Challenge,
            attempt_id: Some(id),
            challenge: Some(Challenge { kind, prompt }),
            message: "Additional information required".to_owned(),
        })
    }

    /// Uses up `step` of a token for a challenge, audited with `detail`. `Some(FAIL)` when
    /// another request used the code first.
    async fn use_up(
        &self,
        caller: &Caller,
        target: &str,
        subject: &Subject,
        t: &AuthToken,
        (step, drift): (i64, i64),
        detail: serde_json::Value,
    ) -> Result<Option<AuthnResponse>, CoreError> {
        let audit = self.audit(caller, target, Reason::Challenge, detail.clone());
        if self
            .store
            .commit_token_use(&use_of(t, step, drift, None), &audit)
            .await?
        {
            return Ok(None);
        }
        let lost = self
            .fail(
                caller,
                target,
                Reason::PasscodeReuse,
                Some((subject, vec![t.clone()])),
                detail,
            )
            .await?;
        Ok(Some(lost))
    }

    /// The tokencode was right and the token needs a new PIN: use up the code, then ask.
    pub(super) async fn start_new_pin(
        &self,
        caller: &Caller,
        target: &str,
        subject: &Subject,
        t: &AuthToken,
        step: i64,
        drift: i64,
    ) -> Result<AuthnResponse, CoreError> {
        let detail = serde_json::json!({"serial": t.token.serial, "challenge": "new_pin"});
        if let Some(lost) = self
            .use_up(caller, target, subject, t, (step, drift), detail)
            .await?
        {
            return Ok(lost);
        }
        self.ask_new_pin(
            caller,
            &subject.user.login,
            subject.user.id,
            t.token.id,
            &subject.policies.token,
            0,
            None,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)] // the conversation's state, passed as it is
    async fn ask_new_pin(
        &self,
        caller: &Caller,
        login: &str,
        user_id: crate::ids::UserId,
        token: TokenId,
        tp: &TokenPolicy,
        tries: u32,
        problem: Option<String>,
    ) -> Result<AuthnResponse, CoreError> {
        let prefix = problem.map(|p| format!("{p}. ")).unwrap_or_default();
        if tp.pin_creation == PinCreation::SystemGenerated {
            let pin = self.generate_pin(tp)?;
            let verifier = keyed_verifier(
                self.admin.pin_key(),
                &mut self.rng(),
                PIN_CONTEXT,
                pin.expose().as_bytes(),
            );
            let prompt = format!(
                "{prefix}Your new PIN is {}. Memorise it and enter it to confirm.",
                pin.expose()
            );
            let state = AttemptState::ConfirmPin {
                token: token.0,
                verifier,
                tries,
            };
            return self
                .challenge(
                    caller,
                    login,
                    user_id,
                    state,
                    ChallengeKind::ConfirmPin,
                    prompt,
                )
                .await;
        }
        let prompt = format!("{prefix}Enter a new PIN of {}.", pin_rules(tp));
        let state = AttemptState::NewPin {
            token: token.0,
            tries,
        };
        self.challenge(caller, login, user_id, state, ChallengeKind::NewPin, prompt)
            .await
    }

    /// Use up `step` and ask for the next tokencode (too many wrong passcodes, or a drifted
    /// token to re-synchronise, when the answer must be exactly the following code).
    pub(super) async fn start_next_tokencode(
        &self,
        caller: &Caller,
        target: &str,
        subject: &Subject,
        t: &AuthToken,
        step: i64,
        resync: bool,
    ) -> Result<AuthnResponse, CoreError> {
        let detail = serde_json::json!({"serial": t.token.serial, "challenge": "next_tokencode", "resync": resync});
        // The drift is learned only when the following code confirms it.
        if let Some(lost) = self
            .use_up(caller, target, subject, t, (step, t.token.drift), detail)
            .await?
        {
            return Ok(lost);
        }
        let state = AttemptState::NextTokencode {
            token: t.token.id.0,
            after: step,
            resync,
        };
        let prompt = "Wait for the tokencode to change, then enter the next tokencode.".to_owned();
        self.challenge(
            caller,
            &subject.user.login,
            subject.user.id,
            state,
            ChallengeKind::NextTokencode,
            prompt,
        )
        .await
    }

    /// Answers a challenge.
    pub(super) async fn continue_attempt(
        &self,
        caller: &Caller,
        req: &VerifyRequest,
    ) -> Result<AuthnResponse, CoreError> {
        let now = self.clock.now();
        let id = req.attempt_id.trim();
        let attempt = if id.is_empty() || id.len() > 64 {
            None
        } else {
            self.store.take_attempt(id, caller.agent.id).await?
        };
        let Some(attempt) = attempt else {
            return self
                .fail(
                    caller,
                    "attempt",
                    Reason::UnknownAttempt,
                    None,
                    serde_json::json!({}),
                )
                .await;
        };
        let target = format!("user:{}", attempt.login);
        if attempt.expires_at < now {
            return self
                .fail(
                    caller,
                    &target,
                    Reason::AttemptExpired,
                    None,
                    serde_json::json!({}),
                )
                .await;
        }
        if attempt.state.is_cloud() {
            return self.continue_cloud(caller, &target, attempt, req).await;
        }
        let user = self.store.find_user_by_id(attempt.user_id).await?;
        let token_id = match &attempt.state {
            AttemptState::NewPin { token, .. }
            | AttemptState::ConfirmPin { token, .. }
            | AttemptState::NextTokencode { token, .. }
            | AttemptState::NextPasscode { token } => TokenId(*token),
            AttemptState::CloudAuthenticator
            | AttemptState::CloudAccessCode
            | AttemptState::CloudPhoneCode { .. } => {
                return Err(CoreError::Internal(
                    "cloud attempt on the manager path".into(),
                ));
            }
        };
        let token = self
            .store
            .find_auth_token(token_id)
            .await?
            .filter(|t| t.token.enabled);
        let (Some(user), Some(t)) = (user, token) else {
            return self
                .fail(
                    caller,
                    &target,
                    Reason::UnknownAttempt,
                    None,
                    serde_json::json!({}),
                )
                .await;
        };
        let turn = Turn {
            caller,
            target,
            subject: self.subject(user).await?,
            t,
        };
        let r = req.response.as_str();
        match attempt.state {
            AttemptState::NewPin { tries, .. } => self.answer_new_pin(&turn, r, tries).await,
            AttemptState::ConfirmPin {
                verifier, tries, ..
            } => self.answer_confirm_pin(&turn, r, &verifier, tries).await,
            AttemptState::NextTokencode { after, resync, .. } => {
                self.answer_next_code(&turn, r, Some((after, resync))).await
            }
            AttemptState::NextPasscode { .. } => self.answer_next_code(&turn, r, None).await,
            AttemptState::CloudAuthenticator
            | AttemptState::CloudAccessCode
            | AttemptState::CloudPhoneCode { .. } => Err(CoreError::Internal(
                "cloud attempt on the manager path".into(),
            )),
        }
    }

    /// Answers next-tokencode (`next = Some((after, resync))`) or next-passcode (`None`).
    async fn answer_next_code(
        &self,
        turn: &Turn<'_>,
        r: &str,
        next: Option<(i64, bool)>,
    ) -> Result<AuthnResponse, CoreError> {
        let now = self.clock.now();
        let token = &turn.t.token;
        let seed = self
            .admin
            .open(&token.seed_sealed, &seed_aad(&token.serial))?;
        let ok = match next {
            Some((after, resync)) => match classify(token, seed.expose(), r.trim(), now, resync) {
                CodeMatch::Fresh { step, drift } if !resync && step > after => Some((step, drift)),
                CodeMatch::Fresh { step, drift } | CodeMatch::Drifted { step, drift }
                    if resync && step == after + 1 =>
                {
                    Some((step, drift))
                }
                _ => None,
            },
            None => split_passcode(r, token.digits).and_then(|(pin, code)| {
                let pin_ok = token.pin_verifier.as_deref().is_some_and(|v| {
                    check_keyed_verifier(self.admin.pin_key(), PIN_CONTEXT, pin.as_bytes(), v)
                });
                match classify(token, seed.expose(), code, now, false) {
                    CodeMatch::Fresh { step, drift } if pin_ok => Some((step, drift)),
                    _ => None,
                }
            }),
        };
        self.finish(turn, ok).await
    }

    /// A re-prompt within the conversation, audited like every other step.
    async fn reprompt(
        &self,
        turn: &Turn<'_>,
        tries: u32,
        problem: &str,
    ) -> Result<AuthnResponse, CoreError> {
        let detail = serde_json::json!({"serial": turn.t.token.serial, "challenge": "new_pin", "reprompt": problem});
        self.store
            .audit_only(&self.audit(turn.caller, &turn.target, Reason::Challenge, detail))
            .await?;
        let u = &turn.subject.user;
        self.ask_new_pin(
            turn.caller,
            &u.login,
            u.id,
            turn.t.token.id,
            &turn.subject.policies.token,
            tries,
            Some(problem.to_owned()),
        )
        .await
    }

    async fn answer_new_pin(
        &self,
        turn: &Turn<'_>,
        r: &str,
        tries: u32,
    ) -> Result<AuthnResponse, CoreError> {
        match policy::check_pin(&turn.subject.policies.token, r) {
            Err(problem) if tries + 1 < MAX_PIN_TRIES => {
                self.reprompt(turn, tries + 1, &format!("That PIN {problem}"))
                    .await
            }
            Err(_) => self.fail_turn(turn, Reason::NewPinRejected).await,
            Ok(()) => {
                let verifier = keyed_verifier(
                    self.admin.pin_key(),
                    &mut self.rng(),
                    PIN_CONTEXT,
                    r.as_bytes(),
                );
                let detail =
                    serde_json::json!({"serial": turn.t.token.serial, "challenge": "confirm_pin"});
                self.store
                    .audit_only(&self.audit(turn.caller, &turn.target, Reason::Challenge, detail))
                    .await?;
                let state = AttemptState::ConfirmPin {
                    token: turn.t.token.id.0,
                    verifier,
                    tries,
                };
                let prompt = "Enter the new PIN again to confirm it.".to_owned();
                let u = &turn.subject.user;
                self.challenge(
                    turn.caller,
                    &u.login,
                    u.id,
                    state,
                    ChallengeKind::ConfirmPin,
                    prompt,
                )
                .await
            }
        }
    }

    async fn answer_confirm_pin(
        &self,
        turn: &Turn<'_>,
        r: &str,
        verifier: &str,
        tries: u32,
    ) -> Result<AuthnResponse, CoreError> {
        if check_keyed_verifier(self.admin.pin_key(), PIN_CONTEXT, r.as_bytes(), verifier) {
            let detail = serde_json::json!({"serial": turn.t.token.serial, "challenge": "next_passcode", "pin_changed": true});
            let audit = self.audit(turn.caller, &turn.target, Reason::Challenge, detail);
            self.store
                .update_token_pin(turn.t.token.id, verifier, &audit)
                .await?;
            let state = AttemptState::NextPasscode {
                token: turn.t.token.id.0,
            };
            let prompt = "PIN accepted. Wait for the tokencode to change, then enter your new PIN followed by the next tokencode.";
            let u = &turn.subject.user;
            self.challenge(
                turn.caller,
                &u.login,
                u.id,
                state,
                ChallengeKind::NextPasscode,
                prompt.to_owned(),
            )
            .await
        } else if tries + 1 < MAX_PIN_TRIES {
            self.reprompt(turn, tries + 1, "The PINs did not match")
                .await
        } else {
            self.fail_turn(turn, Reason::PinMismatch).await
        }
    }

    /// Accepts the matched step, or fails the conversation.
    async fn finish(
        &self,
        turn: &Turn<'_>,
        ok: Option<(i64, i64)>,
    ) -> Result<AuthnResponse, CoreError> {
        match ok {
            Some((step, drift)) => {
                self.accept(
                    turn.caller,
                    &turn.target,
                    &turn.subject,
                    &turn.t,
                    step,
                    drift,
                    vec![turn.t.clone()],
                )
                .await
            }
            None => self.fail_turn(turn, Reason::WrongNextCode).await,
        }
    }

    async fn fail_turn(&self, turn: &Turn<'_>, reason: Reason) -> Result<AuthnResponse, CoreError> {
        let detail = serde_json::json!({"serial": turn.t.token.serial});
        self.fail(
            turn.caller,
            &turn.target,
            reason,
            Some((&turn.subject, vec![turn.t.clone()])),
            detail,
        )
        .await
    }
}

/// One answer in a conversation: who, about which user and token, when.
struct Turn<'a> {
    caller: &'a Caller,
    target: String,
    subject: Subject,
    t: AuthToken,
}

//! Emergency credentials on the manager channel (PRODUCT.md §4, column "manager online"):
//! online emergency tokencodes (fixed or one-time) are accepted; an offline emergency
//! tokencode only when its "use offline code for online access" is set; the offline
//! emergency passcode never (recognised, refused, and recorded as such).
//!
//! Each goes through the same failure counting, lockout and audit as a tokencode, and a
//! success notifies the user in the same transaction.

use latchkey_crypto::secret::ct_eq;
use latchkey_crypto::verifier::check_keyed_verifier;
use latchkey_proto::authn::AuthnResponse;
use latchkey_proto::emergency::OnlineEmergencyKind;
use latchkey_proto::policy::{CodeFormat, TokenAvailableBehavior};

use super::store::AuthToken;
use super::{AuthnService, Caller, Reason, Subject};
use crate::CoreError;
use crate::audit::AuditDraft;
use crate::emergency::{
    self as em, EmergencyUse, NoticeEvent, ONLINE_CODE_CONTEXT, ONLINE_CODE_LENGTH, OfflineOwner,
    OnlineEmergency,
};
use crate::policy;

/// Splits a passcode into PIN and the last `len` characters.
fn split_tail(passcode: &str, len: usize) -> Option<(&str, &str)> {
    let at = passcode
        .char_indices()
        .rev()
        .nth(len.checked_sub(1)?)
        .map(|(i, _)| i)?;
    passcode.split_at_checked(at)
}

/// The emergency code format of a token's domain.
fn emergency_format(subject: &Subject, t: &AuthToken) -> CodeFormat {
    policy::effective(&subject.tree, t.token.domain_id)
        .token
        .emergency_code_format
}

/// Audit name of an offline emergency tokencode.
const OFFLINE_TOKENCODE: &str = "offline_emergency_tokencode";

/// How an emergency attempt ended, before the store is asked.
enum Verdict {
    Accept {
        one_time_code: Option<i64>,
        credential: &'static str,
    },
    Refuse(Reason, &'static str),
}

impl AuthnService {
    /// The code typed after the token's PIN, if the PIN part matches (or is empty for a token
    /// without a PIN).
    fn after_pin<'p>(&self, t: &AuthToken, passcode: &'p str, len: usize) -> Option<&'p str> {
        let (pin, code) = split_tail(passcode, len)?;
        self.pin_matches(t, pin).then_some(code)
    }

    /// Records that emergency access of a token ended because its codes expired.
    async fn expire_online(&self, serial: &str, e: &OnlineEmergency) -> Result<(), CoreError> {
        let audit = AuditDraft::ok(
            self.clock.now(),
            "system",
            "emergency.online.expire",
            &format!("token:{serial}"),
            None,
        )
        .with_detail(&serde_json::json!({"expired_at": e.expires_at}));
        self.store.end_online_emergency(e.token_id, &audit).await?;
        Ok(())
    }

    /// A valid code of token `t` while the token may be in emergency access mode: `None` to
    /// go on with the token (emergency access ended or expired meanwhile), or the answer when
    /// the token is refused ("deny the token", or "allow only after the codes expire").
    pub(super) async fn emergency_gate(
        &self,
        caller: &Caller,
        target: &str,
        subject: &Subject,
        t: &AuthToken,
        all: &[AuthToken],
    ) -> Result<Option<AuthnResponse>, CoreError> {
        if !t.in_emergency {
            return Ok(None);
        }
        let Some(e) = self.store.find_online_emergency(t.token.id).await? else {
            return Ok(None);
        };
        if e.expired(self.clock.now()) {
            self.expire_online(&t.token.serial, &e).await?;
            return Ok(None);
        }
        match e.token_available {
            TokenAvailableBehavior::AllowAndEndEmergency => {
                let audit = AuditDraft::ok(
                    self.clock.now(),
                    &format!("agent:{}", caller.agent.name),
                    "emergency.online.end",
                    &format!("token:{}", t.token.serial),
                    caller.source.as_deref(),
                )
                .with_detail(&serde_json::json!({
                    "cause": "the token was used again",
                    "user": subject.user.login,
                }));
                self.store.end_online_emergency(t.token.id, &audit).await?;
                Ok(None)
            }
            TokenAvailableBehavior::DenyToken | TokenAvailableBehavior::AllowAfterExpiry => {
                let detail = serde_json::json!({
                    "serial": t.token.serial,
                    "token_available": e.token_available,
                });
                self.fail(
                    caller,
                    target,
                    Reason::TokenRefusedInEmergency,
                    Some((subject, all.to_vec())),
                    detail,
                )
                .await
                .map(Some)
            }
        }
    }

    /// Tries the passcode as an emergency credential of the user's enabled tokens; `None`
    /// when it is none of them.
    pub(super) async fn try_emergency(
        &self,
        caller: &Caller,
        target: &str,
        subject: &Subject,
        tokens: &[AuthToken],
        passcode: &str,
    ) -> Result<Option<AuthnResponse>, CoreError> {
        let Some((t, verdict)) = self.emergency_verdict(subject, tokens, passcode).await? else {
            if self.is_access_code(subject, passcode).await? {
                return self
                    .fail(
                        caller,
                        target,
                        Reason::AccessCodeOnManager,
                        Some((subject, tokens.to_vec())),
                        serde_json::json!({"credential": "emergency_access_code"}),
                    )
                    .await
                    .map(Some);
            }
            return Ok(None);
        };
        let serial = t.map(|t| t.token.serial.clone());
        let detail = serde_json::json!({"serial": serial});
        match (verdict, t) {
            (Verdict::Refuse(reason, credential), _) => self
                .fail(
                    caller,
                    target,
                    reason,
                    Some((subject, tokens.to_vec())),
                    serde_json::json!({"serial": serial, "credential": credential}),
                )
                .await
                .map(Some),
            (
                Verdict::Accept {
                    one_time_code,
                    credential,
                },
                Some(t),
            ) => {
                let now = self.clock.now();
                let audit = self
                    .audit(caller, target, Reason::Success, detail.clone())
                    .with_field("credential", credential.into());
                let notice = em::notice(&subject.user, NoticeEvent::Used, now);
                let used = EmergencyUse {
                    user_id: subject.user.id,
                    token_id: t.token.id,
                    one_time_code,
                    now,
                };
                if self
                    .store
                    .commit_emergency_use(&used, Some(&notice), &audit)
                    .await?
                {
                    em::log_queued(&notice);
                    Ok(Some(AuthnResponse::success()))
                } else {
                    self.fail(
                        caller,
                        target,
                        Reason::PasscodeReuse,
                        Some((subject, tokens.to_vec())),
                        serde_json::json!({"serial": t.token.serial, "credential": credential}),
                    )
                    .await
                    .map(Some)
                }
            }
            (Verdict::Accept { .. }, None) => Err(CoreError::Internal(
                "an accepted emergency credential without its token".to_owned(),
            )),
        }
    }

    /// The name of the manager-channel emergency credential `typed` is, if any (for the
    /// refusal on the cloud channel).
    pub(super) async fn emergency_credential(
        &self,
        subject: &Subject,
        tokens: &[AuthToken],
        typed: &str,
    ) -> Result<Option<&'static str>, CoreError> {
        if let Some((_, v)) = self.emergency_verdict(subject, tokens, typed).await? {
            return Ok(Some(match v {
                Verdict::Accept { credential, .. } | Verdict::Refuse(_, credential) => credential,
            }));
        }
        // Typed without the PIN: compare the tail alone, since the answer here is a refusal.
        for e in self.store.list_online_emergencies(subject.user.id).await? {
            let Some(t) = tokens.iter().find(|t| t.token.id == e.token_id) else {
                continue;
            };
            let Some((_, code)) = split_tail(typed, ONLINE_CODE_LENGTH) else {
                continue;
            };
            let code = em::normalize_code(code, emergency_format(subject, t));
            if e.codes.iter().any(|c| {
                check_keyed_verifier(
                    self.admin.pin_key(),
                    ONLINE_CODE_CONTEXT,
                    code.as_bytes(),
                    &c.verifier,
                )
            }) {
                return Ok(Some(match e.kind {
                    OnlineEmergencyKind::Fixed => "online_fixed_tokencode",
                    OnlineEmergencyKind::OneTime => "online_one_time_tokencode",
                }));
            }
        }
        for o in self.store.list_offline_emergencies(subject.user.id).await? {
            if let OfflineOwner::Token(id) = o.owner
                && let Some(t) = tokens.iter().find(|t| t.token.id == id)
            {
                let value = self.admin.open_offline(&o)?;
                let len = value.expose().chars().count();
                if let Some((_, code)) = split_tail(typed, len) {
                    let code = em::normalize_code(code, emergency_format(subject, t));
                    if ct_eq(code.as_bytes(), value.expose().as_bytes()) {
                        return Ok(Some(OFFLINE_TOKENCODE));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Whether `passcode` is the user's emergency access code (refused on this channel).
    async fn is_access_code(&self, subject: &Subject, passcode: &str) -> Result<bool, CoreError> {
        let typed = em::normalize_code(passcode, subject.policies.token.emergency_code_format);
        Ok(self
            .store
            .find_eac(subject.user.id)
            .await?
            .is_some_and(|e| {
                check_keyed_verifier(
                    self.admin.pin_key(),
                    em::EAC_CONTEXT,
                    typed.as_bytes(),
                    &e.verifier,
                )
            }))
    }

    /// Which emergency credential the passcode is, and what to do with it.
    async fn emergency_verdict<'t>(
        &self,
        subject: &Subject,
        tokens: &'t [AuthToken],
        passcode: &str,
    ) -> Result<Option<(Option<&'t AuthToken>, Verdict)>, CoreError> {
        let now = self.clock.now();
        for e in self.store.list_online_emergencies(subject.user.id).await? {
            let Some(t) = tokens.iter().find(|t| t.token.id == e.token_id) else {
                continue;
            };
            let Some(code) = self.after_pin(t, passcode, ONLINE_CODE_LENGTH) else {
                continue;
            };
            let typed = em::normalize_code(code, emergency_format(subject, t));
            // Every code is checked, so the time does not tell which one matched.
            let mut hit = None;
            for c in &e.codes {
                if check_keyed_verifier(
                    self.admin.pin_key(),
                    ONLINE_CODE_CONTEXT,
                    typed.as_bytes(),
                    &c.verifier,
                ) && hit.is_none()
                {
                    hit = Some(c);
                }
            }
            let Some(hit) = hit else {
                continue;
            };
            let credential = match e.kind {
                OnlineEmergencyKind::Fixed => "online_fixed_tokencode",
                OnlineEmergencyKind::OneTime => "online_one_time_tokencode",
            };
            let verdict = if e.expired(now) {
                self.expire_online(&t.token.serial, &e).await?;
                Verdict::Refuse(Reason::EmergencyCodeExpired, credential)
            } else if hit.used_at.is_some() {
                Verdict::Refuse(Reason::PasscodeReuse, credential)
            } else {
                Verdict::Accept {
                    one_time_code: (e.kind == OnlineEmergencyKind::OneTime).then_some(hit.id),
                    credential,
                }
            };
            return Ok(Some((Some(t), verdict)));
        }
        for o in self.store.list_offline_emergencies(subject.user.id).await? {
            let value = self.admin.open_offline(&o)?;
            match o.owner {
                OfflineOwner::Token(id) => {
                    let Some(t) = tokens.iter().find(|t| t.token.id == id) else {
                        continue;
                    };
                    let len = value.expose().chars().count();
                    let Some(code) = self.after_pin(t, passcode, len) else {
                        continue;
                    };
                    let typed = em::normalize_code(code, emergency_format(subject, t));
                    if !ct_eq(typed.as_bytes(), value.expose().as_bytes()) {
                        continue;
                    }
                    let verdict = if o.expires_at <= now {
                        Verdict::Refuse(Reason::EmergencyCodeExpired, OFFLINE_TOKENCODE)
                    } else if !o.online_use {
                        Verdict::Refuse(Reason::OfflineTokencodeNotOnline, OFFLINE_TOKENCODE)
                    } else {
                        Verdict::Accept {
                            one_time_code: None,
                            credential: OFFLINE_TOKENCODE,
                        }
                    };
                    return Ok(Some((Some(t), verdict)));
                }
                OfflineOwner::User(_) => {
                    let typed =
                        em::normalize_code(passcode, subject.policies.token.emergency_code_format);
                    if ct_eq(typed.as_bytes(), value.expose().as_bytes()) {
                        return Ok(Some((
                            None,
                            Verdict::Refuse(
                                Reason::OfflinePasscodeOnline,
                                "offline_emergency_passcode",
                            ),
                        )));
                    }
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::split_tail;

    #[test]
    fn splits_the_code_off_the_end() {
        assert_eq!(split_tail("1234ABCD2345", 8), Some(("1234", "ABCD2345")));
        assert_eq!(split_tail("ABCD2345", 8), Some(("", "ABCD2345")));
        assert_eq!(split_tail("ABC", 8), None);
        assert_eq!(split_tail("ABC", 0), None);
        assert_eq!(split_tail("é1ABCD2345", 8), Some(("é1", "ABCD2345")));
        assert_eq!(split_tail("1234ABCDé345", 8), Some(("1234", "ABCDé345")));
    }
}

//! The storage port of authentication: the atomic steps the engine needs.
//!
//! Contract (held by the conformance suite on both databases):
//! - [`AuthnStore::commit_token_use`] advances a token's last-used step only if the new step is
//!   greater than the stored one, in one conditional `UPDATE`; when two requests (or two nodes)
//!   race with the same code exactly one gets `true`. Its audit record is written in the same
//!   transaction, and nothing is written when it returns `false`. Uses of one token that race
//!   with different steps may be decided either way round: a store may let the highest step
//!   win and the lower ones lose (they are replays once it is accepted).
//! - [`AuthnStore::commit_failure`] increments the counters atomically (no lost update under
//!   concurrent failures) and locks the user when the policy says so, in one transaction with
//!   its audit record.
//! - [`AuthnStore::take_attempt`] removes and returns an attempt in one statement, so an
//!   attempt can be answered once, on whichever node.

use async_trait::async_trait;
use latchkey_proto::policy::LockoutPolicy;
use serde::{Deserialize, Serialize};

use crate::audit::AuditDraft;
use crate::ids::{AgentId, TokenId, UserId};
use crate::model::{Token, User};
use crate::store::{Store, StoreError};

/// A user's failure and lock state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LockState {
    /// Consecutive failures in the current window.
    pub failures: u32,
    /// Time of the last failure.
    pub last_failure_at: Option<i64>,
    /// When a lock ends by itself; `None` while locked means an administrator must unlock.
    pub locked_until: Option<i64>,
    /// Locks since the last success (for escalating lock times).
    pub lock_count: u32,
}

/// A token's authentication state, beside the administrative [`Token`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthToken {
    /// The token.
    pub token: Token,
    /// Incorrect passcodes since the last success (next-tokencode mode at the policy's limit).
    pub failed_passcodes: u32,
    /// The token has online emergency credentials (read with the token, so that the common
    /// case costs no extra query).
    pub in_emergency: bool,
}

/// Using a token code: the new last-used step/counter and learned drift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenUse {
    /// Token.
    pub token_id: TokenId,
    /// New last-used TOTP step or HOTP counter; must exceed the stored one.
    pub used: i64,
    /// Drift to store (TOTP steps).
    pub drift: i64,
    /// Next HOTP counter to expect (`used + 1`; unchanged meaningfully for TOTP).
    pub next_counter: u64,
    /// A successful authentication of this user, the token's owner: also reset the token's
    /// and the user's failure counters. A token that no longer belongs to the user is not
    /// used (nothing written, as for a lost race).
    pub success_for: Option<UserId>,
}

/// A failed authentication to count.
#[derive(Clone, Debug)]
pub struct Failure {
    /// User (known users only).
    pub user_id: UserId,
    /// Tokens whose incorrect-passcode counter grows.
    pub token_ids: Vec<TokenId>,
    /// Now.
    pub now: i64,
    /// The user's lockout policy.
    pub policy: LockoutPolicy,
}

/// What counting a failure did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Failures in the window after this one.
    pub failures: u32,
    /// The user is locked now (by this failure).
    pub locked: bool,
}

/// A pending challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Random identifier given to the agent.
    pub id: String,
    /// Agent that started it (only it may continue).
    pub agent_id: AgentId,
    /// User.
    pub user_id: UserId,
    /// The user's login (for the audit log).
    pub login: String,
    /// Expiry.
    pub expires_at: i64,
    /// Creation time.
    pub created_at: i64,
    /// Where the conversation stands.
    pub state: AttemptState,
}

/// Where a challenge conversation stands. Stored as JSON; holds no secret in clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttemptState {
    /// Waiting for a new PIN.
    NewPin {
        /// Token.
        token: i64,
        /// Invalid PINs offered so far.
        tries: u32,
    },
    /// Waiting for the PIN again.
    ConfirmPin {
        /// Token.
        token: i64,
        /// Keyed verifier of the PIN to confirm.
        verifier: String,
        /// Tries so far.
        tries: u32,
    },
    /// Waiting for the next tokencode (after too many wrong passcodes, or to re-synchronise).
    NextTokencode {
        /// Token.
        token: i64,
        /// The step/counter already used by this attempt.
        after: i64,
        /// Re-synchronisation: the answer must be exactly `after + 1`.
        resync: bool,
    },
    /// Waiting for a full passcode with the new PIN.
    NextPasscode {
        /// Token.
        token: i64,
    },
    /// Cloud channel: waiting for an authenticator app code.
    CloudAuthenticator,
    /// Cloud channel: waiting for an emergency access code.
    CloudAccessCode,
    /// Cloud channel: waiting for the code sent by SMS or read by a call.
    CloudPhoneCode {
        /// `sms` or `voice`.
        channel: String,
        /// An on-demand tokencode of the manager channel (answered as a next tokencode).
        #[serde(default)]
        on_demand: bool,
        /// Keyed verifier of the code.
        verifier: String,
        /// Wrong answers so far.
        tries: u32,
    },
}

impl AttemptState {
    /// Whether this is a cloud-channel conversation.
    pub fn is_cloud(&self) -> bool {
        matches!(
            self,
            Self::CloudAuthenticator | Self::CloudAccessCode | Self::CloudPhoneCode { .. }
        )
    }
}

/// The storage port of authentication.
#[async_trait]
pub trait AuthnStore: Store {
    /// Failure and lock state of a user.
    async fn find_lock_state(&self, user: UserId) -> Result<LockState, StoreError>;
    /// The user's enabled and disabled tokens with their authentication state, by serial.
    async fn list_auth_tokens(&self, user: UserId) -> Result<Vec<AuthToken>, StoreError>;
    /// The user with this login and the user's tokens (as [`Store::find_user_by_login`] and
    /// [`AuthnStore::list_auth_tokens`]), read in one snapshot where the backend can.
    async fn find_user_with_tokens(
        &self,
        login: &str,
    ) -> Result<Option<(User, Vec<AuthToken>)>, StoreError> {
        user_with_tokens_in_two_reads(self, login).await
    }
    /// One token with its authentication state.
    async fn find_auth_token(&self, id: TokenId) -> Result<Option<AuthToken>, StoreError>;
    /// Advances a token atomically (see the module contract); `false` means another request
    /// used this or a later code first, and nothing was written.
    async fn commit_token_use(&self, u: &TokenUse, audit: &AuditDraft) -> Result<bool, StoreError>;
    /// Counts a failure atomically and locks the user if the policy says so.
    async fn commit_failure(
        &self,
        f: &Failure,
        audit: &AuditDraft,
    ) -> Result<FailureOutcome, StoreError>;
    /// Unlocks a user whose lock has expired (`locked_until <= now`); `false` if not due.
    async fn auto_unlock(
        &self,
        user: UserId,
        now: i64,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError>;
    /// Sets a token's PIN verifier and clears its new-PIN flag.
    async fn update_token_pin(
        &self,
        token: TokenId,
        verifier: &str,
        audit: &AuditDraft,
    ) -> Result<(), StoreError>;
    /// Stores a pending challenge.
    async fn insert_attempt(&self, a: &Attempt) -> Result<(), StoreError>;
    /// Removes and returns the pending challenge `id` started by `agent`; another agent's
    /// attempt is neither returned nor removed.
    async fn take_attempt(&self, id: &str, agent: AgentId) -> Result<Option<Attempt>, StoreError>;
    /// Appends an audit record with nothing else (an attempt that changes no state).
    async fn audit_only(&self, audit: &AuditDraft) -> Result<(), StoreError> {
        self.append_audit(audit).await.map(|_| ())
    }
}

/// [`AuthnStore::find_user_with_tokens`] as two reads, for a backend with nothing better.
pub async fn user_with_tokens_in_two_reads<S: AuthnStore + ?Sized>(
    store: &S,
    login: &str,
) -> Result<Option<(User, Vec<AuthToken>)>, StoreError> {
    let Some(user) = store.find_user_by_login(login).await? else {
        return Ok(None);
    };
    let tokens = store.list_auth_tokens(user.id).await?;
    Ok(Some((user, tokens)))
}

/// When a lock that starts now ends: `None` for "until an administrator unlocks".
/// With escalation, each lock since the last success doubles the time (capped at 30 days).
pub fn lock_until(policy: &LockoutPolicy, lock_count: u32, now: i64) -> Option<i64> {
    let minutes = i64::from(policy.auto_unlock_minutes?);
    let factor = if policy.escalate {
        1_i64 << lock_count.min(20)
    } else {
        1
    };
    let secs = (minutes * 60).saturating_mul(factor).min(30 * 86_400);
    Some(now.saturating_add(secs))
}

/// Whether the failure count after a failure at `now` starts again (the window passed).
pub fn window_restarts(policy: &LockoutPolicy, last_failure_at: Option<i64>, now: i64) -> bool {
    last_failure_at.is_none_or(|t| now - t > i64::from(policy.window_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_times_escalate_and_cap() {
        let p = LockoutPolicy {
            auto_unlock_minutes: Some(10),
            escalate: true,
            ..LockoutPolicy::default()
        };
        assert_eq!(lock_until(&p, 0, 1000), Some(1000 + 600));
        assert_eq!(lock_until(&p, 2, 1000), Some(1000 + 2400));
        assert_eq!(lock_until(&p, 30, 0), Some(30 * 86_400));
        let manual = LockoutPolicy::default();
        assert_eq!(lock_until(&manual, 0, 1000), None);
    }

    #[test]
    fn failure_window() {
        let p = LockoutPolicy {
            window_seconds: 60,
            ..LockoutPolicy::default()
        };
        assert!(window_restarts(&p, None, 100));
        assert!(!window_restarts(&p, Some(100), 160));
        assert!(window_restarts(&p, Some(100), 161));
    }
}

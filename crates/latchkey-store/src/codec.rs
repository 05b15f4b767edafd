//! Rows to domain objects and back: enums as their serde names, phones and policies as JSON
//! text, booleans as 0/1, unsigned numbers checked into `i64`.

use latchkey_core::audit::{AuditDraft, AuditHead, AuditRecord};
use latchkey_core::authn::store::{Attempt, AttemptState, AuthToken, LockState};
use latchkey_core::emergency::{
    Eac, EmergencyCode, OfflineEmergency, OfflineOwner, OnlineEmergency,
};
use latchkey_core::ids::{AdminId, AgentId, DomainId, TokenId, UserId};
use latchkey_core::model::{Admin, Agent, Domain, Token, User};
use latchkey_core::store::StoreError;
use latchkey_crypto::OtpAlgorithm;
use latchkey_proto::policy::{PolicyKind, PolicyValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::{corrupt, map_db};

/// Columns of `domains`, in the order [`domain`] expects.
pub(crate) const DOMAIN_COLS: &str = "id, name, parent_id, token_policy, lockout_policy, \
     offline_policy, emergency_policy, created_at";
/// Columns of `users`.
pub(crate) const USER_COLS: &str = "id, login, domain_id, status, email, phones, created_at";
/// Columns of `tokens`.
pub(crate) const TOKEN_COLS: &str = "id, serial, token_type, algorithm, digits, period, counter, \
     seed_sealed, domain_id, user_id, enabled, pin_verifier, new_pin_required, last_used, drift, \
     created_at";
/// Columns of `tokens` with the authentication state.
pub(crate) const AUTH_TOKEN_COLS: &str = "id, serial, token_type, algorithm, digits, period, \
     counter, seed_sealed, domain_id, user_id, enabled, pin_verifier, new_pin_required, \
     last_used, drift, created_at, failed_passcodes, \
     (SELECT COUNT(*) FROM emergency_online e WHERE e.token_id = tokens.id) AS in_emergency";
/// Columns of `users` holding the lock state.
pub(crate) const LOCK_COLS: &str = "failures, last_failure_at, locked_until, lock_count";
/// Columns of `authn_attempts` (all but `created_at`).
pub(crate) const ATTEMPT_COLS: &str = "id, agent_id, user_id, login, expires_at, created_at, state";
/// Columns of `agents`.
pub(crate) const AGENT_COLS: &str = "id, name, kind, domain_id, api_key_hash, address, \
     secret_sealed, require_message_authenticator, created_at";
/// Columns of `admins`.
pub(crate) const ADMIN_COLS: &str = "id, name, role, scope_domain_id, password_hash, created_at";
/// Columns of `audit_log`.
pub(crate) const AUDIT_COLS: &str =
    "seq, at, actor, action, target, outcome, source, detail, prev_hash, hash";
/// Columns of `emergency_online e`. Qualified because the lists join `tokens` (which also has
/// `created_at`), and aliased so that each column is named as the decoder and the `rusqlite`
/// path's column list (`lite::ColumnNames`) expect.
pub(crate) const ONLINE_COLS: &str = "e.token_id AS token_id, e.kind AS kind, \
     e.expires_at AS expires_at, e.token_available AS token_available, \
     e.created_at AS created_at";
/// Columns of `emergency_online_codes c` (qualified and aliased as [`ONLINE_COLS`]).
pub(crate) const CODE_COLS: &str =
    "c.token_id AS token_id, c.id AS id, c.verifier AS verifier, c.used_at AS used_at";
/// Columns of `offline_emergency` (all but `id`).
pub(crate) const OFFLINE_COLS: &str =
    "user_id, token_id, generation, value_sealed, created_at, expires_at, online_use";
/// Columns of `emergency_access_codes` (also the column list of its `INSERT`).
pub(crate) const EAC_COLS: &str = "user_id, id, verifier, offline_verifier, one_time, expires_at, \
     offline_expires_at, created_at, used_at";

/// Reads one column, mapping sqlx's decode errors to [`StoreError::Corrupt`].
pub(crate) fn get<'r, T>(
    row: &'r AnyRow,
    table: &'static str,
    col: &'static str,
) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get::<T, _>(col)
        .map_err(|e| map_db(e, || table.to_owned(), ""))
}

/// A result row the decoders below read by column name: sqlx's `AnyRow`, or a `rusqlite` row
/// of the SQLite paths on `rusqlite` (`lite/`), so both paths share one decoder per type.
pub(crate) trait Cols {
    /// An integer column.
    fn int(&self, table: &'static str, col: &'static str) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, table: &'static str, col: &'static str) -> Result<Option<i64>, StoreError>;
    /// A text column.
    fn text(&self, table: &'static str, col: &'static str) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(
        &self,
        table: &'static str,
        col: &'static str,
    ) -> Result<Option<String>, StoreError>;
    /// A blob column.
    fn blob(&self, table: &'static str, col: &'static str) -> Result<Vec<u8>, StoreError>;
}

impl Cols for AnyRow {
    fn int(&self, table: &'static str, col: &'static str) -> Result<i64, StoreError> {
        get(self, table, col)
    }
    fn opt_int(&self, table: &'static str, col: &'static str) -> Result<Option<i64>, StoreError> {
        get(self, table, col)
    }
    fn text(&self, table: &'static str, col: &'static str) -> Result<String, StoreError> {
        get(self, table, col)
    }
    fn opt_text(
        &self,
        table: &'static str,
        col: &'static str,
    ) -> Result<Option<String>, StoreError> {
        get(self, table, col)
    }
    fn blob(&self, table: &'static str, col: &'static str) -> Result<Vec<u8>, StoreError> {
        get(self, table, col)
    }
}

/// The serde name of a unit enum variant (`enabled`, `offline-host`, …).
pub(crate) fn enum_text<T: Serialize>(v: &T, what: &str) -> Result<String, StoreError> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(StoreError::Backend(format!("{what} has no text form"))),
    }
}

/// Parses a serde name back into its enum.
fn enum_parse<T: DeserializeOwned>(s: String, table: &str, col: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s))
        .map_err(|_| corrupt(table, col, "unknown value"))
}

/// A boolean as stored.
pub(crate) fn bool_int(b: bool) -> i64 {
    i64::from(b)
}

fn int_bool(v: i64, table: &str, col: &str) -> Result<bool, StoreError> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(corrupt(table, col, "not 0 or 1")),
    }
}

pub(crate) fn u32_of(v: i64, table: &str, col: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt(table, col, "out of range"))
}

/// A token counter as stored; values above `i64::MAX` are refused, never wrapped.
pub(crate) fn counter_int(counter: u64) -> Result<i64, StoreError> {
    i64::try_from(counter).map_err(|_| {
        StoreError::Corrupt(format!("token counter above {} cannot be stored", i64::MAX))
    })
}

/// The column holding a policy of `kind`.
pub(crate) fn policy_column(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Token => "token_policy",
        PolicyKind::Lockout => "lockout_policy",
        PolicyKind::Offline => "offline_policy",
        PolicyKind::Emergency => "emergency_policy",
    }
}

/// The stored JSON of a policy: the inner value, without the kind tag (the column says it).
pub(crate) fn policy_json(v: &PolicyValue) -> Result<String, StoreError> {
    let json = match v {
        PolicyValue::Token(p) => serde_json::to_string(p),
        PolicyValue::Lockout(p) => serde_json::to_string(p),
        PolicyValue::Offline(p) => serde_json::to_string(p),
        PolicyValue::Emergency(p) => serde_json::to_string(p),
    };
    json.map_err(|_| StoreError::Backend("policy cannot be serialised".to_owned()))
}

fn policy_parse(kind: PolicyKind, json: &str) -> Result<PolicyValue, StoreError> {
    let col = policy_column(kind);
    let bad = |_| corrupt("domains", col, "invalid policy JSON");
    Ok(match kind {
        PolicyKind::Token => PolicyValue::Token(serde_json::from_str(json).map_err(bad)?),
        PolicyKind::Lockout => PolicyValue::Lockout(serde_json::from_str(json).map_err(bad)?),
        PolicyKind::Offline => PolicyValue::Offline(serde_json::from_str(json).map_err(bad)?),
        PolicyKind::Emergency => PolicyValue::Emergency(serde_json::from_str(json).map_err(bad)?),
    })
}

/// The four policy columns of a new domain (`None` = inherit); a later value of the same
/// kind wins.
pub(crate) fn policy_columns(policies: &[PolicyValue]) -> Result<[Option<String>; 4], StoreError> {
    let mut out: [Option<String>; 4] = [None, None, None, None];
    for p in policies {
        let json = policy_json(p)?;
        let slot = match p.kind() {
            PolicyKind::Token => &mut out[0],
            PolicyKind::Lockout => &mut out[1],
            PolicyKind::Offline => &mut out[2],
            PolicyKind::Emergency => &mut out[3],
        };
        *slot = Some(json);
    }
    Ok(out)
}

pub(crate) fn domain(row: &AnyRow) -> Result<Domain, StoreError> {
    const T: &str = "domains";
    let mut policies = Vec::new();
    for kind in PolicyKind::ALL {
        let json: Option<String> = get(row, T, policy_column(kind))?;
        if let Some(json) = json {
            policies.push(policy_parse(kind, &json)?);
        }
    }
    Ok(Domain {
        id: DomainId(get(row, T, "id")?),
        name: get(row, T, "name")?,
        parent: get::<Option<i64>>(row, T, "parent_id")?.map(DomainId),
        policies,
        created_at: get(row, T, "created_at")?,
    })
}

/// Phones as stored.
pub(crate) fn phones_json(phones: &[latchkey_proto::admin::Phone]) -> Result<String, StoreError> {
    serde_json::to_string(phones)
        .map_err(|_| StoreError::Backend("phones cannot be serialised".to_owned()))
}

pub(crate) fn user<R: Cols>(row: &R) -> Result<User, StoreError> {
    const T: &str = "users";
    let phones = row.text(T, "phones")?;
    Ok(User {
        id: UserId(row.int(T, "id")?),
        login: row.text(T, "login")?,
        domain_id: DomainId(row.int(T, "domain_id")?),
        status: enum_parse(row.text(T, "status")?, T, "status")?,
        email: row.opt_text(T, "email")?,
        phones: serde_json::from_str(&phones).map_err(|_| corrupt(T, "phones", "invalid JSON"))?,
        created_at: row.int(T, "created_at")?,
    })
}

pub(crate) fn token<R: Cols>(row: &R) -> Result<Token, StoreError> {
    const T: &str = "tokens";
    let algorithm = row.text(T, "algorithm")?;
    Ok(Token {
        id: TokenId(row.int(T, "id")?),
        serial: row.text(T, "serial")?,
        token_type: enum_parse(row.text(T, "token_type")?, T, "token_type")?,
        algorithm: OtpAlgorithm::parse(&algorithm)
            .map_err(|_| corrupt(T, "algorithm", "unknown value"))?,
        digits: u32_of(row.int(T, "digits")?, T, "digits")?,
        period: u32_of(row.int(T, "period")?, T, "period")?,
        counter: u64::try_from(row.int(T, "counter")?)
            .map_err(|_| corrupt(T, "counter", "negative"))?,
        seed_sealed: row.blob(T, "seed_sealed")?,
        domain_id: DomainId(row.int(T, "domain_id")?),
        user_id: row.opt_int(T, "user_id")?.map(UserId),
        enabled: int_bool(row.int(T, "enabled")?, T, "enabled")?,
        pin_verifier: row.opt_text(T, "pin_verifier")?,
        new_pin_required: int_bool(row.int(T, "new_pin_required")?, T, "new_pin_required")?,
        last_used: row.opt_int(T, "last_used")?,
        drift: row.int(T, "drift")?,
        created_at: row.int(T, "created_at")?,
    })
}

pub(crate) fn agent(row: &AnyRow) -> Result<Agent, StoreError> {
    const T: &str = "agents";
    let address: Option<String> = get(row, T, "address")?;
    Ok(Agent {
        id: AgentId(get(row, T, "id")?),
        name: get(row, T, "name")?,
        kind: enum_parse(get(row, T, "kind")?, T, "kind")?,
        domain_id: DomainId(get(row, T, "domain_id")?),
        api_key_hash: get(row, T, "api_key_hash")?,
        address: address
            .map(|a| a.parse())
            .transpose()
            .map_err(|_| corrupt(T, "address", "not an IP network"))?,
        secret_sealed: get(row, T, "secret_sealed")?,
        require_message_authenticator: int_bool(
            get(row, T, "require_message_authenticator")?,
            T,
            "require_message_authenticator",
        )?,
        created_at: get(row, T, "created_at")?,
    })
}

pub(crate) fn admin(row: &AnyRow) -> Result<Admin, StoreError> {
    const T: &str = "admins";
    Ok(Admin {
        id: AdminId(get(row, T, "id")?),
        name: get(row, T, "name")?,
        role: enum_parse(get(row, T, "role")?, T, "role")?,
        scope: DomainId(get(row, T, "scope_domain_id")?),
        password_hash: get(row, T, "password_hash")?,
        created_at: get(row, T, "created_at")?,
    })
}

pub(crate) fn audit_record(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    const T: &str = "audit_log";
    Ok(AuditRecord {
        seq: get(row, T, "seq")?,
        draft: AuditDraft {
            at: get(row, T, "at")?,
            actor: get(row, T, "actor")?,
            action: get(row, T, "action")?,
            target: get(row, T, "target")?,
            outcome: get(row, T, "outcome")?,
            source: get(row, T, "source")?,
            detail: get(row, T, "detail")?,
        },
        prev_hash: get(row, T, "prev_hash")?,
        hash: get(row, T, "hash")?,
    })
}

pub(crate) fn audit_head(row: &AnyRow) -> Result<AuditHead, StoreError> {
    const T: &str = "audit_head";
    Ok(AuditHead {
        seq: get(row, T, "seq")?,
        hash: get(row, T, "hash")?,
    })
}

pub(crate) fn auth_token<R: Cols>(row: &R) -> Result<AuthToken, StoreError> {
    const T: &str = "tokens";
    Ok(AuthToken {
        token: token(row)?,
        failed_passcodes: u32_of(row.int(T, "failed_passcodes")?, T, "failed_passcodes")?,
        in_emergency: row.int(T, "in_emergency")? > 0,
    })
}

pub(crate) fn lock_state(row: &AnyRow) -> Result<LockState, StoreError> {
    const T: &str = "users";
    Ok(LockState {
        failures: u32_of(get(row, T, "failures")?, T, "failures")?,
        last_failure_at: get(row, T, "last_failure_at")?,
        locked_until: get(row, T, "locked_until")?,
        lock_count: u32_of(get(row, T, "lock_count")?, T, "lock_count")?,
    })
}

/// An attempt's conversation state as stored.
pub(crate) fn attempt_state_json(state: &AttemptState) -> Result<String, StoreError> {
    serde_json::to_string(state)
        .map_err(|_| StoreError::Backend("attempt state cannot be serialised".to_owned()))
}

pub(crate) fn attempt<R: Cols>(row: &R) -> Result<Attempt, StoreError> {
    const T: &str = "authn_attempts";
    let state = row.text(T, "state")?;
    Ok(Attempt {
        id: row.text(T, "id")?,
        agent_id: AgentId(row.int(T, "agent_id")?),
        user_id: UserId(row.int(T, "user_id")?),
        login: row.text(T, "login")?,
        expires_at: row.int(T, "expires_at")?,
        created_at: row.opt_int(T, "created_at")?.unwrap_or_default(),
        state: serde_json::from_str(&state).map_err(|_| corrupt(T, "state", "invalid JSON"))?,
    })
}

/// An `emergency_online` row, without its codes.
pub(crate) fn online<R: Cols>(row: &R) -> Result<OnlineEmergency, StoreError> {
    const T: &str = "emergency_online";
    Ok(OnlineEmergency {
        token_id: TokenId(row.int(T, "token_id")?),
        kind: enum_parse(row.text(T, "kind")?, T, "kind")?,
        expires_at: row.opt_int(T, "expires_at")?,
        token_available: enum_parse(row.text(T, "token_available")?, T, "token_available")?,
        created_at: row.int(T, "created_at")?,
        codes: Vec::new(),
    })
}

/// An `emergency_online_codes` row and the token it belongs to.
pub(crate) fn online_code<R: Cols>(row: &R) -> Result<(TokenId, EmergencyCode), StoreError> {
    const T: &str = "emergency_online_codes";
    Ok((
        TokenId(row.int(T, "token_id")?),
        EmergencyCode {
            id: row.int(T, "id")?,
            verifier: row.text(T, "verifier")?,
            used_at: row.opt_int(T, "used_at")?,
        },
    ))
}

/// An `offline_emergency` row; exactly one of its owner columns must be set.
pub(crate) fn offline<R: Cols>(row: &R) -> Result<OfflineEmergency, StoreError> {
    const T: &str = "offline_emergency";
    let owner = match (row.opt_int(T, "user_id")?, row.opt_int(T, "token_id")?) {
        (Some(u), None) => OfflineOwner::User(UserId(u)),
        (None, Some(t)) => OfflineOwner::Token(TokenId(t)),
        _ => {
            return Err(StoreError::Corrupt(
                "offline_emergency row with no single owner".to_owned(),
            ));
        }
    };
    Ok(OfflineEmergency {
        owner,
        generation: row.int(T, "generation")?,
        value_sealed: row.blob(T, "value_sealed")?,
        created_at: row.int(T, "created_at")?,
        expires_at: row.int(T, "expires_at")?,
        online_use: row.int(T, "online_use")? != 0,
    })
}

/// An `emergency_access_codes` row.
pub(crate) fn eac<R: Cols>(row: &R) -> Result<Eac, StoreError> {
    const T: &str = "emergency_access_codes";
    Ok(Eac {
        user_id: UserId(row.int(T, "user_id")?),
        id: row.text(T, "id")?,
        verifier: row.text(T, "verifier")?,
        offline_verifier: row.text(T, "offline_verifier")?,
        one_time: row.int(T, "one_time")? != 0,
        expires_at: row.int(T, "expires_at")?,
        offline_expires_at: row.int(T, "offline_expires_at")?,
        created_at: row.int(T, "created_at")?,
        used_at: row.opt_int(T, "used_at")?,
    })
}

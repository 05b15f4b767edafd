//! [`Store`] for [`SqlStore`]: one SQL text per operation, identical on both backends.

use async_trait::async_trait;
use latchkey_core::admin::{agent_secret_aad, secret_aad, seed_aad};
use latchkey_core::audit::{AuditDraft, AuditHead, AuditRecord};
use latchkey_core::delivery::{DeliveryRecord, LimitHit, NewDelivery, SendLimits};
use latchkey_core::emergency::{
    Eac, EmergencyUse, NewNotice, NewOnlineEmergency, Notice, OfflineEmergency, OfflineOwner,
    OnlineEmergency, offline_aad,
};
use latchkey_core::ids::{AdminId, AgentId, DomainId, TokenId, UserId};
use latchkey_core::model::{
    Admin, Agent, Domain, NewAdmin, NewAgent, NewDomain, NewToken, NewUser, Token, User,
};
use latchkey_core::store::{SealedItem, SealedKind, Store, StoreError};
use latchkey_proto::admin::UserStatus;
use latchkey_proto::policy::{PolicyKind, PolicyValue};
use sqlx::any::AnyRow;

use crate::SqlStore;
use crate::codec::{
    self, ADMIN_COLS, AGENT_COLS, AUDIT_COLS, DOMAIN_COLS, TOKEN_COLS, USER_COLS, bool_int,
    counter_int, enum_text, get, phones_json, policy_column, policy_columns, policy_json,
};
use crate::emergency::clear_token_emergency;
use crate::error::map_db;

/// Longest id list sent as an `IN (…)` list; longer filters are applied after reading.
const MAX_IN_LIST: usize = 500;

/// A list that may be restricted to some domains.
struct Scoped<T> {
    /// Table name, for errors.
    table: &'static str,
    /// `SELECT … FROM …`.
    select: String,
    /// Column holding the domain id.
    domain_col: &'static str,
    /// `ORDER BY` expression.
    order: &'static str,
    /// Row decoder.
    decode: fn(&AnyRow) -> Result<T, StoreError>,
    /// Domain of a decoded row.
    domain_of: fn(&T) -> DomainId,
}

/// `$from, $from+1, …` (`n` placeholders).
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The associated data of an `offline_emergency` row (owner columns and generation).
fn offline_binding(row: &AnyRow) -> Result<Vec<u8>, StoreError> {
    const T: &str = "offline_emergency";
    let user: Option<i64> = get(row, T, "user_id")?;
    let token: Option<i64> = get(row, T, "token_id")?;
    let owner = match (user, token) {
        (Some(u), None) => OfflineOwner::User(UserId(u)),
        (None, Some(t)) => OfflineOwner::Token(TokenId(t)),
        _ => return Err(StoreError::Corrupt("offline_emergency owner".to_owned())),
    };
    Ok(offline_aad(owner, get(row, T, "generation")?))
}

/// The error for an update or delete that matched no row.
fn missing(what: &str, id: i64) -> StoreError {
    StoreError::NotFound(format!("{what} #{id}"))
}

impl SqlStore {
    /// Runs a scoped list on the reader pool.
    async fn list_scoped<T>(
        &self,
        list: Scoped<T>,
        domains: Option<&[DomainId]>,
    ) -> Result<Vec<T>, StoreError> {
        let in_list = match domains {
            Some([]) => return Ok(Vec::new()),
            Some(ds) if ds.len() <= MAX_IN_LIST => Some(ds),
            _ => None,
        };
        let sql = match in_list {
            Some(ds) => format!(
                "{} WHERE {} IN ({}) ORDER BY {}",
                list.select,
                list.domain_col,
                placeholders(1, ds.len()),
                list.order
            ),
            None => format!("{} ORDER BY {}", list.select, list.order),
        };
        let mut query = sqlx::query(&sql);
        for d in in_list.unwrap_or_default() {
            query = query.bind(d.0);
        }
        let rows = query
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || list.table.to_owned(), ""))?;
        let mut out = rows
            .iter()
            .map(list.decode)
            .collect::<Result<Vec<_>, _>>()?;
        if let (Some(ds), None) = (domains, in_list) {
            out.retain(|x| ds.contains(&(list.domain_of)(x)));
        }
        Ok(out)
    }

    /// Reads at most one row by a text key, on the reader pool.
    async fn find_by<T>(
        &self,
        sql: &str,
        key: &str,
        table: &'static str,
        decode: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row = sqlx::query(sql)
            .bind(key)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| map_db(e, || table.to_owned(), ""))?;
        row.as_ref().map(decode).transpose()
    }

    /// Deletes one row by id in an audited transaction.
    async fn delete_by_id(
        &self,
        table: &'static str,
        what: &'static str,
        id: i64,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        let sql = format!("DELETE FROM {table} WHERE id = $1");
        let mut tx = self.begin_audited(audit).await?;
        let done = sqlx::query(&sql)
            .bind(id)
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("{what} #{id}"), ""))?;
        if done.rows_affected() == 0 {
            return Err(missing(what, id));
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(|e| map_db(e, || "ping".to_owned(), ""))?;
        Ok(())
    }

    // ----- domains -----

    async fn list_domains(&self) -> Result<Vec<Domain>, StoreError> {
        let sql = format!("SELECT {DOMAIN_COLS} FROM domains ORDER BY name");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || "domains".to_owned(), ""))?;
        rows.iter().map(codec::domain).collect()
    }

    async fn insert_domain(&self, d: &NewDomain, audit: &AuditDraft) -> Result<Domain, StoreError> {
        let [token, lockout, offline, emergency] = policy_columns(&d.policies)?;
        let sql = format!(
            "INSERT INTO domains (name, parent_id, token_policy, lockout_policy, \
             offline_policy, emergency_policy, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {DOMAIN_COLS}"
        );
        let mut tx = self.begin_audited(audit).await?;
        let row = sqlx::query(&sql)
            .bind(&d.name)
            .bind(d.parent.map(|p| p.0))
            .bind(token)
            .bind(lockout)
            .bind(offline)
            .bind(emergency)
            .bind(d.created_at)
            .fetch_one(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("domain {:?}", d.name), "parent domain"))?;
        let domain = codec::domain(&row)?;
        tx.commit().await?;
        Ok(domain)
    }

    async fn update_domain_policy(
        &self,
        id: DomainId,
        kind: PolicyKind,
        value: Option<&PolicyValue>,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        if let Some(v) = value
            && v.kind() != kind
        {
            // A caller bug, not an outage: reported as an internal error.
            return Err(StoreError::Corrupt(format!(
                "a {} policy value cannot be stored as the {} policy",
                v.kind().as_str(),
                kind.as_str()
            )));
        }
        let json = value.map(policy_json).transpose()?;
        let sql = format!(
            "UPDATE domains SET {} = $1 WHERE id = $2",
            policy_column(kind)
        );
        let mut tx = self.begin_audited(audit).await?;
        let done = sqlx::query(&sql)
            .bind(json)
            .bind(id.0)
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("domain #{}", id.0), ""))?;
        if done.rows_affected() == 0 {
            return Err(missing("domain", id.0));
        }
        tx.commit().await?;
        Ok(())
    }

    // ----- users -----

    async fn find_user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        if let Some(lite) = &self.lite {
            return lite.reads.find_user_by_login(login);
        }
        let sql = format!("SELECT {USER_COLS} FROM users WHERE login = $1");
        self.find_by(&sql, login, "users", codec::user).await
    }

    async fn find_user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| map_db(e, || "users".to_owned(), ""))?;
        row.as_ref().map(codec::user).transpose()
    }

    async fn list_users(&self, domains: Option<&[DomainId]>) -> Result<Vec<User>, StoreError> {
        let list = Scoped {
            table: "users",
            select: format!("SELECT {USER_COLS} FROM users"),
            domain_col: "domain_id",
            order: "login",
            decode: codec::user,
            domain_of: |u: &User| u.domain_id,
        };
        self.list_scoped(list, domains).await
    }

    async fn insert_user(&self, u: &NewUser, audit: &AuditDraft) -> Result<User, StoreError> {
        let status = enum_text(&UserStatus::Enabled, "user status")?;
        let phones = phones_json(&u.phones)?;
        let sql = format!(
            "INSERT INTO users (login, domain_id, status, email, phones, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {USER_COLS}"
        );
        let mut tx = self.begin_audited(audit).await?;
        let row = sqlx::query(&sql)
            .bind(&u.login)
            .bind(u.domain_id.0)
            .bind(status)
            .bind(u.email.as_deref())
            .bind(phones)
            .bind(u.created_at)
            .fetch_one(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("user {:?}", u.login), "domain"))?;
        let user = codec::user(&row)?;
        tx.commit().await?;
        Ok(user)
    }

    async fn update_user(&self, u: &User, audit: &AuditDraft) -> Result<(), StoreError> {
        let status = enum_text(&u.status, "user status")?;
        let phones = phones_json(&u.phones)?;
        // Writing `enabled` is also an unlock: the failure count and lock time go (the lock
        // count stays, for escalation, until the next success).
        let sql = if u.status == UserStatus::Enabled {
            "UPDATE users SET status = $1, email = $2, phones = $3, domain_id = $4, \
             failures = 0, last_failure_at = NULL, locked_until = NULL WHERE id = $5"
        } else {
            "UPDATE users SET status = $1, email = $2, phones = $3, domain_id = $4 \
             WHERE id = $5"
        };
        let mut tx = self.begin_audited(audit).await?;
        let done = sqlx::query(sql)
            .bind(status)
            .bind(u.email.as_deref())
            .bind(phones)
            .bind(u.domain_id.0)
            .bind(u.id.0)
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("user {:?}", u.login), "domain"))?;
        if done.rows_affected() == 0 {
            return Err(missing("user", u.id.0));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_user(&self, id: UserId, audit: &AuditDraft) -> Result<(), StoreError> {
        // tokens.user_id is ON DELETE SET NULL: the user's tokens become unassigned.
        self.delete_by_id("users", "user", id.0, audit).await
    }

    // ----- tokens -----

    async fn find_token_by_serial(&self, serial: &str) -> Result<Option<Token>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLS} FROM tokens WHERE serial = $1");
        self.find_by(&sql, serial, "tokens", codec::token).await
    }

    async fn list_tokens_for_user(&self, user: UserId) -> Result<Vec<Token>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLS} FROM tokens WHERE user_id = $1 ORDER BY serial");
        let rows = sqlx::query(&sql)
            .bind(user.0)
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || "tokens".to_owned(), ""))?;
        rows.iter().map(codec::token).collect()
    }

    async fn list_tokens(&self, domains: Option<&[DomainId]>) -> Result<Vec<Token>, StoreError> {
        let list = Scoped {
            table: "tokens",
            select: format!("SELECT {TOKEN_COLS} FROM tokens"),
            domain_col: "domain_id",
            order: "serial",
            decode: codec::token,
            domain_of: |t: &Token| t.domain_id,
        };
        self.list_scoped(list, domains).await
    }

    async fn insert_token(&self, t: &NewToken, audit: &AuditDraft) -> Result<Token, StoreError> {
        let counter = counter_int(t.counter)?;
        let token_type = enum_text(&t.token_type, "token type")?;
        let sql = format!(
            "INSERT INTO tokens (serial, token_type, algorithm, digits, period, counter, \
             seed_sealed, domain_id, user_id, enabled, pin_verifier, new_pin_required, \
             last_used, drift, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, NULL, 0, NULL, 0, $10) \
             RETURNING {TOKEN_COLS}"
        );
        let mut tx = self.begin_audited(audit).await?;
        let row = sqlx::query(&sql)
            .bind(&t.serial)
            .bind(token_type)
            .bind(t.algorithm.as_str())
            .bind(i64::from(t.digits))
            .bind(i64::from(t.period))
            .bind(counter)
            .bind(t.seed_sealed.as_slice())
            .bind(t.domain_id.0)
            .bind(t.user_id.map(|u| u.0))
            .bind(t.created_at)
            .fetch_one(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("token {:?}", t.serial), "domain or user"))?;
        let token = codec::token(&row)?;
        tx.commit().await?;
        Ok(token)
    }

    async fn update_token_admin(&self, t: &Token, audit: &AuditDraft) -> Result<(), StoreError> {
        let mut tx = self.begin_audited(audit).await?;
        let owner = sqlx::query("SELECT user_id FROM tokens WHERE id = $1")
            .bind(t.id.0)
            .fetch_optional(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("token {:?}", t.serial), ""))?
            .ok_or_else(|| missing("token", t.id.0))?;
        let old_user: Option<i64> = get(&owner, "tokens", "user_id")?;
        if old_user != t.user_id.map(|u| u.0) {
            // The emergency credentials were the previous owner's.
            clear_token_emergency(tx.conn(), t.id).await?;
        }
        let done = sqlx::query(
            "UPDATE tokens SET domain_id = $1, user_id = $2, enabled = $3, pin_verifier = $4, \
             new_pin_required = $5 WHERE id = $6",
        )
        .bind(t.domain_id.0)
        .bind(t.user_id.map(|u| u.0))
        .bind(bool_int(t.enabled))
        .bind(t.pin_verifier.as_deref())
        .bind(bool_int(t.new_pin_required))
        .bind(t.id.0)
        .execute(tx.conn())
        .await
        .map_err(|e| map_db(e, || format!("token {:?}", t.serial), "domain or user"))?;
        if done.rows_affected() == 0 {
            return Err(missing("token", t.id.0));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_token(&self, id: TokenId, audit: &AuditDraft) -> Result<(), StoreError> {
        self.delete_by_id("tokens", "token", id.0, audit).await
    }

    // ----- agents -----

    async fn find_agent_by_name(&self, name: &str) -> Result<Option<Agent>, StoreError> {
        let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE name = $1");
        self.find_by(&sql, name, "agents", codec::agent).await
    }

    async fn find_agent_by_key_hash(&self, hash: &str) -> Result<Option<Agent>, StoreError> {
        let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE api_key_hash = $1");
        self.find_by(&sql, hash, "agents", codec::agent).await
    }

    async fn list_agents(&self, domains: Option<&[DomainId]>) -> Result<Vec<Agent>, StoreError> {
        let list = Scoped {
            table: "agents",
            select: format!("SELECT {AGENT_COLS} FROM agents"),
            domain_col: "domain_id",
            order: "name",
            decode: codec::agent,
            domain_of: |a: &Agent| a.domain_id,
        };
        self.list_scoped(list, domains).await
    }

    async fn insert_agent(&self, a: &NewAgent, audit: &AuditDraft) -> Result<Agent, StoreError> {
        let kind = enum_text(&a.kind, "agent kind")?;
        let sql = format!(
            "INSERT INTO agents (name, kind, domain_id, api_key_hash, address, secret_sealed, \
             require_message_authenticator, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {AGENT_COLS}"
        );
        let mut tx = self.begin_audited(audit).await?;
        let row = sqlx::query(&sql)
            .bind(&a.name)
            .bind(kind)
            .bind(a.domain_id.0)
            .bind(a.api_key_hash.as_deref())
            .bind(a.address.map(|n| n.to_string()))
            .bind(a.secret_sealed.as_deref())
            .bind(bool_int(a.require_message_authenticator))
            .bind(a.created_at)
            .fetch_one(tx.conn())
            .await
            // The name or (practically never) the API key hash is taken; neither hash nor
            // secret goes into the message.
            .map_err(|e| map_db(e, || format!("agent {:?}", a.name), "domain"))?;
        let agent = codec::agent(&row)?;
        tx.commit().await?;
        Ok(agent)
    }

    async fn delete_agent(&self, id: AgentId, audit: &AuditDraft) -> Result<(), StoreError> {
        self.delete_by_id("agents", "agent", id.0, audit).await
    }

    // ----- administrators -----

    async fn count_admins(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM admins")
            .fetch_one(&self.reader)
            .await
            .map_err(|e| map_db(e, || "admins".to_owned(), ""))?;
        get(&row, "admins", "n")
    }

    async fn find_admin_by_name(&self, name: &str) -> Result<Option<Admin>, StoreError> {
        let sql = format!("SELECT {ADMIN_COLS} FROM admins WHERE name = $1");
        self.find_by(&sql, name, "admins", codec::admin).await
    }

    async fn find_admin_by_token_hash(&self, hash: &str) -> Result<Option<Admin>, StoreError> {
        let sql = format!(
            "SELECT {ADMIN_COLS} FROM admins \
             WHERE id = (SELECT admin_id FROM admin_tokens WHERE token_hash = $1)"
        );
        self.find_by(&sql, hash, "admins", codec::admin).await
    }

    async fn list_admins(&self, domains: Option<&[DomainId]>) -> Result<Vec<Admin>, StoreError> {
        let list = Scoped {
            table: "admins",
            select: format!("SELECT {ADMIN_COLS} FROM admins"),
            domain_col: "scope_domain_id",
            order: "name",
            decode: codec::admin,
            domain_of: |a: &Admin| a.scope,
        };
        self.list_scoped(list, domains).await
    }

    async fn insert_admin(&self, a: &NewAdmin, audit: &AuditDraft) -> Result<Admin, StoreError> {
        let role = enum_text(&a.role, "role")?;
        let sql = format!(
            "INSERT INTO admins (name, role, scope_domain_id, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {ADMIN_COLS}"
        );
        let mut tx = self.begin_audited(audit).await?;
        let row = sqlx::query(&sql)
            .bind(&a.name)
            .bind(role)
            .bind(a.scope.0)
            .bind(&a.password_hash)
            .bind(a.created_at)
            .fetch_one(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("administrator {:?}", a.name), "scope domain"))?;
        let admin = codec::admin(&row)?;
        sqlx::query(
            "INSERT INTO admin_tokens (admin_id, token_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(admin.id.0)
        .bind(&a.token_hash)
        .bind(a.created_at)
        .execute(tx.conn())
        .await
        .map_err(|e| map_db(e, || "administrator API token".to_owned(), "administrator"))?;
        tx.commit().await?;
        Ok(admin)
    }

    async fn delete_admin(&self, id: AdminId, audit: &AuditDraft) -> Result<(), StoreError> {
        // admin_tokens.admin_id is ON DELETE CASCADE: the API tokens go too.
        self.delete_by_id("admins", "administrator", id.0, audit)
            .await
    }

    // ----- named secrets -----

    async fn find_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        fn value(row: &AnyRow) -> Result<Vec<u8>, StoreError> {
            get(row, "secrets", "value_sealed")
        }
        self.find_by(
            "SELECT value_sealed FROM secrets WHERE name = $1",
            name,
            "secrets",
            value,
        )
        .await
    }

    async fn insert_secret_if_absent(
        &self,
        name: &str,
        sealed: &[u8],
        created_at: i64,
    ) -> Result<Vec<u8>, StoreError> {
        let subject = || format!("secret {name:?}");
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO secrets (name, value_sealed, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(sealed)
        .bind(created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_db(e, subject, ""))?;
        // A new statement sees a row another node committed meanwhile (READ COMMITTED).
        let row = sqlx::query("SELECT value_sealed FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| map_db(e, subject, ""))?;
        let value = get(&row, "secrets", "value_sealed")?;
        tx.commit().await.map_err(|e| map_db(e, subject, ""))?;
        Ok(value)
    }

    // ----- master-key rotation -----

    async fn list_sealed(&self) -> Result<Vec<SealedItem>, StoreError> {
        let read = |sql: &'static str, table: &'static str| async move {
            sqlx::query(sql)
                .fetch_all(&self.reader)
                .await
                .map_err(|e| map_db(e, || table.to_owned(), ""))
        };
        let mut out = Vec::new();
        for row in read(
            "SELECT id, serial, seed_sealed FROM tokens ORDER BY id",
            "tokens",
        )
        .await?
        {
            let serial: String = get(&row, "tokens", "serial")?;
            out.push(SealedItem {
                kind: SealedKind::TokenSeed,
                id: get(&row, "tokens", "id")?,
                aad: seed_aad(&serial),
                sealed: get(&row, "tokens", "seed_sealed")?,
            });
        }
        for row in read(
            "SELECT id, name, secret_sealed FROM agents WHERE secret_sealed IS NOT NULL \
             ORDER BY id",
            "agents",
        )
        .await?
        {
            let name: String = get(&row, "agents", "name")?;
            out.push(SealedItem {
                kind: SealedKind::AgentSecret,
                id: get(&row, "agents", "id")?,
                aad: agent_secret_aad(&name),
                sealed: get(&row, "agents", "secret_sealed")?,
            });
        }
        for row in read(
            "SELECT id, name, value_sealed FROM secrets ORDER BY id",
            "secrets",
        )
        .await?
        {
            let name: String = get(&row, "secrets", "name")?;
            out.push(SealedItem {
                kind: SealedKind::Secret,
                id: get(&row, "secrets", "id")?,
                aad: secret_aad(&name),
                sealed: get(&row, "secrets", "value_sealed")?,
            });
        }
        for row in read(
            "SELECT id, user_id, token_id, generation, value_sealed FROM offline_emergency \
             ORDER BY id",
            "offline_emergency",
        )
        .await?
        {
            out.push(SealedItem {
                kind: SealedKind::OfflineEmergency,
                id: get(&row, "offline_emergency", "id")?,
                aad: offline_binding(&row)?,
                sealed: get(&row, "offline_emergency", "value_sealed")?,
            });
        }
        out.extend(self.mp_list_sealed().await?);
        Ok(out)
    }

    async fn update_sealed(
        &self,
        items: &[SealedItem],
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_audited(audit).await?;
        for item in items {
            if item.kind == SealedKind::OfflineEmergency {
                // Bound to owner and generation: a value reset meanwhile is refused.
                let row = sqlx::query(
                    "UPDATE offline_emergency SET value_sealed = $1 WHERE id = $2 \
                     RETURNING user_id, token_id, generation",
                )
                .bind(item.sealed.as_slice())
                .bind(item.id)
                .fetch_optional(tx.conn())
                .await
                .map_err(|e| map_db(e, || format!("offline emergency value #{}", item.id), ""))?
                .ok_or_else(|| missing("offline emergency value", item.id))?;
                if offline_binding(&row)? != item.aad {
                    return Err(StoreError::NotFound(format!(
                        "offline emergency value #{} with the given associated data",
                        item.id
                    )));
                }
                continue;
            }
            // Each statement returns the name the value is bound to, so a value sealed for
            // another binding is refused instead of becoming undecryptable.
            let (sql, table, what, aad_of): (_, _, _, fn(&str) -> Vec<u8>) = match item.kind {
                SealedKind::TokenSeed => (
                    "UPDATE tokens SET seed_sealed = $1 WHERE id = $2 RETURNING serial AS bound",
                    "tokens",
                    "token seed",
                    seed_aad,
                ),
                SealedKind::AgentSecret => (
                    "UPDATE agents SET secret_sealed = $1 \
                     WHERE id = $2 AND secret_sealed IS NOT NULL RETURNING name AS bound",
                    "agents",
                    "agent secret",
                    agent_secret_aad,
                ),
                SealedKind::MessagingProvider => (
                    "UPDATE messaging_providers SET secrets_sealed = $1 \
                     WHERE id = $2 AND secrets_sealed IS NOT NULL RETURNING name AS bound",
                    "messaging_providers",
                    "messaging provider credentials",
                    latchkey_core::messaging_config::provider_aad,
                ),
                SealedKind::Secret | SealedKind::OfflineEmergency => (
                    "UPDATE secrets SET value_sealed = $1 WHERE id = $2 RETURNING name AS bound",
                    "secrets",
                    "secret",
                    secret_aad,
                ),
            };
            let row = sqlx::query(sql)
                .bind(item.sealed.as_slice())
                .bind(item.id)
                .fetch_optional(tx.conn())
                .await
                .map_err(|e| map_db(e, || format!("{what} #{}", item.id), ""))?
                .ok_or_else(|| missing(what, item.id))?;
            let bound: String = get(&row, table, "bound")?;
            if aad_of(&bound) != item.aad {
                return Err(StoreError::NotFound(format!(
                    "{what} #{} with the given associated data",
                    item.id
                )));
            }
        }
        tx.commit().await?;
        Ok(())
    }

    // ----- emergency access (emergency.rs) -----
    // On SQLite the reads a wrong passcode makes (and a token's grant) run on the calling
    // thread (`lite/reads.rs`), like the other reads of the authentication path.

    async fn find_online_emergency(
        &self,
        token: TokenId,
    ) -> Result<Option<OnlineEmergency>, StoreError> {
        if let Some(lite) = &self.lite {
            return lite.reads.find_online_emergency(token);
        }
        self.em_find_online(token).await
    }

    async fn list_online_emergencies(
        &self,
        user: UserId,
    ) -> Result<Vec<OnlineEmergency>, StoreError> {
        if let Some(lite) = &self.lite {
            return lite.reads.list_online_emergencies(user);
        }
        self.em_list_online(user).await
    }

    async fn put_online_emergency(
        &self,
        e: &NewOnlineEmergency,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        self.em_put_online(e, notice, audit).await
    }

    async fn end_online_emergency(
        &self,
        token: TokenId,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        self.em_end_online(token, audit).await
    }

    async fn commit_emergency_use(
        &self,
        u: &EmergencyUse,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        self.em_commit_use(u, notice, audit).await
    }

    async fn find_offline_emergency(
        &self,
        owner: OfflineOwner,
    ) -> Result<Option<OfflineEmergency>, StoreError> {
        self.em_find_offline(owner).await
    }

    async fn list_offline_emergencies(
        &self,
        user: UserId,
    ) -> Result<Vec<OfflineEmergency>, StoreError> {
        if let Some(lite) = &self.lite {
            return lite.reads.list_offline_emergencies(user);
        }
        self.em_list_offline(user).await
    }

    async fn put_offline_emergency(
        &self,
        e: &OfflineEmergency,
        replaces: Option<i64>,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        self.em_put_offline(e, replaces, notice, audit).await
    }

    async fn set_offline_online_use(
        &self,
        token: TokenId,
        on: bool,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        self.em_set_online_use(token, on, audit).await
    }

    async fn find_eac(&self, user: UserId) -> Result<Option<Eac>, StoreError> {
        if let Some(lite) = &self.lite {
            return lite.reads.find_eac(user);
        }
        self.em_find_eac(user).await
    }

    async fn put_eac(
        &self,
        e: &Eac,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        self.em_put_eac(e, notice, audit).await
    }

    async fn commit_eac_use(
        &self,
        user: UserId,
        id: &str,
        one_time: bool,
        now: i64,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        self.em_commit_eac_use(user, id, one_time, now, notice, audit)
            .await
    }

    async fn delete_eac(&self, user: UserId, audit: &AuditDraft) -> Result<bool, StoreError> {
        self.em_delete_eac(user, audit).await
    }

    async fn reserve_delivery(
        &self,
        d: &NewDelivery,
        limits: &SendLimits,
        audit: &AuditDraft,
    ) -> Result<Result<i64, LimitHit>, StoreError> {
        self.dl_reserve(d, limits, audit).await
    }

    async fn record_delivery(
        &self,
        id: i64,
        delivered: bool,
        attempts: &str,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        self.dl_record(id, delivered, attempts, audit).await
    }

    async fn list_deliveries(
        &self,
        domains: Option<&[DomainId]>,
        user: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.dl_list(domains, user, limit).await
    }

    async fn find_on_demand(&self, user: UserId) -> Result<Option<String>, StoreError> {
        if let Some(lite) = &self.lite {
            return lite.reads.find_on_demand(user);
        }
        self.dl_find_on_demand(user).await
    }

    async fn set_on_demand(
        &self,
        user: UserId,
        pin_verifier: Option<&str>,
        now: i64,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        self.dl_set_on_demand(user, pin_verifier, now, audit).await
    }

    async fn commit_success(&self, user: UserId, audit: &AuditDraft) -> Result<(), StoreError> {
        self.em_commit_success(user, audit).await
    }

    async fn audit_with_notice(
        &self,
        notice: &NewNotice,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        self.em_audit_with_notice(notice, audit).await
    }

    async fn list_notices(
        &self,
        domains: Option<&[DomainId]>,
        user: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<Notice>, StoreError> {
        self.em_list_notices(domains, user, limit).await
    }

    // ----- audit -----

    async fn append_audit(&self, audit: &AuditDraft) -> Result<AuditRecord, StoreError> {
        self.begin_audited(audit).await?.commit().await
    }

    async fn list_audit(&self, after: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let sql =
            format!("SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || "audit_log".to_owned(), ""))?;
        rows.iter().map(codec::audit_record).collect()
    }

    async fn find_audit_head(&self) -> Result<AuditHead, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| map_db(e, || "audit_head".to_owned(), ""))?
            .ok_or_else(|| StoreError::Corrupt("audit_head row is missing".to_owned()))?;
        codec::audit_head(&row)
    }
}

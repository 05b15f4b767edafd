//! Emergency access for [`SqlStore`]: online emergency grants and their codes, offline
//! emergency values, and the notification outbox. The [`latchkey_core::store::Store`] impl
//! in `store.rs` delegates here.
//!
//! The two steps that must admit one winner under concurrency are single conditional
//! statements: marking a one-time code used (`used_at IS NULL`) and storing a new offline
//! value (`INSERT … ON CONFLICT DO NOTHING` for the first, `generation = old` for a
//! replacement). Every write takes the audit head first, as every other writer does.

use std::sync::LazyLock;

use latchkey_core::audit::AuditDraft;
use latchkey_core::emergency::{
    Eac, EmergencyCode, EmergencyUse, NewNotice, NewOnlineEmergency, Notice, OfflineEmergency,
    OfflineOwner, OnlineEmergency,
};
use latchkey_core::ids::{DomainId, TokenId, UserId};
use latchkey_core::store::StoreError;
use sqlx::AnyConnection;

use crate::SqlStore;
use crate::codec::{
    self, CODE_COLS, EAC_COLS, OFFLINE_COLS, ONLINE_COLS, bool_int, enum_text, get,
};
use crate::error::map_db;

// The reads of the authentication path, shared with their `rusqlite` versions on SQLite
// (`lite/reads.rs`) so the two cannot drift apart. Each binds the user or token id as `$1`.

/// `Store::find_eac`.
pub(crate) static FIND_EAC: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {EAC_COLS} FROM emergency_access_codes WHERE user_id = $1"));
/// `Store::find_online_emergency`: the grant of a token…
pub(crate) static FIND_ONLINE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {ONLINE_COLS} FROM emergency_online e WHERE e.token_id = $1"));
/// …and its codes.
pub(crate) static FIND_ONLINE_CODES: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {CODE_COLS} FROM emergency_online_codes c WHERE c.token_id = $1 ORDER BY c.id")
});
/// `Store::list_online_emergencies`: the grants of a user's tokens…
pub(crate) static LIST_ONLINE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ONLINE_COLS} FROM emergency_online e JOIN tokens t ON t.id = e.token_id \
         WHERE t.user_id = $1 ORDER BY e.token_id"
    )
});
/// …and their codes (read only when there is a grant).
pub(crate) static LIST_ONLINE_CODES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CODE_COLS} FROM emergency_online_codes c JOIN tokens t ON t.id = c.token_id \
         WHERE t.user_id = $1 ORDER BY c.id"
    )
});
/// `Store::list_offline_emergencies`: the user's own value and those of the user's tokens.
pub(crate) static LIST_OFFLINE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {OFFLINE_COLS} FROM offline_emergency WHERE user_id = $1 \
         OR token_id IN (SELECT id FROM tokens WHERE user_id = $1) ORDER BY id"
    )
});

/// Hands each code of [`LIST_ONLINE_CODES`] to its grant in `grants`; a code whose grant is
/// not there (one the grants' read did not see) is left out.
pub(crate) fn attach_codes(
    grants: &mut [OnlineEmergency],
    codes: impl IntoIterator<Item = (TokenId, EmergencyCode)>,
) {
    for (token, c) in codes {
        if let Some(e) = grants.iter_mut().find(|e| e.token_id == token) {
            e.codes.push(c);
        }
    }
}

/// The owner column and id of an offline value.
fn owner_col(owner: OfflineOwner) -> (&'static str, i64) {
    match owner {
        OfflineOwner::User(u) => ("user_id", u.0),
        OfflineOwner::Token(t) => ("token_id", t.0),
    }
}

/// Queues a notice inside the caller's transaction.
async fn insert_notice(conn: &mut AnyConnection, n: &NewNotice) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO notices (created_at, user_id, domain_id, channel, destination, event, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(n.created_at)
    .bind(n.user_id.0)
    .bind(n.domain_id.0)
    .bind(&n.channel)
    .bind(n.destination.as_deref())
    .bind(&n.event)
    .bind(&n.body)
    .execute(&mut *conn)
    .await
    .map_err(|e| map_db(e, || format!("notice for user #{}", n.user_id.0), "user"))?;
    Ok(())
}

/// Removes a token's emergency credentials inside the caller's transaction (its owner
/// changed: they were the previous owner's).
pub(crate) async fn clear_token_emergency(
    conn: &mut AnyConnection,
    token: TokenId,
) -> Result<(), StoreError> {
    for sql in [
        "DELETE FROM emergency_online WHERE token_id = $1",
        "DELETE FROM offline_emergency WHERE token_id = $1",
    ] {
        sqlx::query(sql)
            .bind(token.0)
            .execute(&mut *conn)
            .await
            .map_err(|e| map_db(e, || format!("token #{}", token.0), ""))?;
    }
    Ok(())
}

/// Resets a user's failure counters inside the caller's transaction (a successful
/// authentication); a missing user is not found.
async fn reset_failures(conn: &mut AnyConnection, user: UserId) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE users SET failures = 0, last_failure_at = NULL, lock_count = 0 WHERE id = $1",
    )
    .bind(user.0)
    .execute(&mut *conn)
    .await
    .map_err(|e| map_db(e, || format!("user #{}", user.0), ""))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound(format!("user #{}", user.0)));
    }
    Ok(())
}

impl SqlStore {
    pub(crate) async fn em_find_eac(&self, user: UserId) -> Result<Option<Eac>, StoreError> {
        let row = sqlx::query(&FIND_EAC)
            .bind(user.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| map_db(e, || "emergency_access_codes".to_owned(), ""))?;
        row.as_ref().map(codec::eac).transpose()
    }

    pub(crate) async fn em_put_eac(
        &self,
        e: &Eac,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        let subject = || format!("emergency access code of user #{}", e.user_id.0);
        let mut tx = self.begin_audited(audit).await?;
        sqlx::query("DELETE FROM emergency_access_codes WHERE user_id = $1")
            .bind(e.user_id.0)
            .execute(tx.conn())
            .await
            .map_err(|err| map_db(err, subject, ""))?;
        let sql = format!(
            "INSERT INTO emergency_access_codes ({EAC_COLS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        sqlx::query(&sql)
            .bind(e.user_id.0)
            .bind(&e.id)
            .bind(&e.verifier)
            .bind(&e.offline_verifier)
            .bind(bool_int(e.one_time))
            .bind(e.expires_at)
            .bind(e.offline_expires_at)
            .bind(e.created_at)
            .bind(e.used_at)
            .execute(tx.conn())
            .await
            .map_err(|err| map_db(err, subject, "user"))?;
        if let Some(n) = notice {
            insert_notice(tx.conn(), n).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn em_commit_eac_use(
        &self,
        user: UserId,
        id: &str,
        one_time: bool,
        now: i64,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        let subject = || format!("emergency access code of user #{}", user.0);
        let mut tx = self.begin_reserved().await?;
        let found = if one_time {
            sqlx::query(
                "UPDATE emergency_access_codes SET used_at = $1 \
                 WHERE user_id = $2 AND id = $3 AND used_at IS NULL",
            )
            .bind(now)
            .bind(user.0)
            .bind(id)
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, subject, ""))?
            .rows_affected()
                > 0
        } else {
            // A reusable code stays unmarked; it must still be the user's current code.
            sqlx::query(
                "SELECT 1 AS one FROM emergency_access_codes \
                 WHERE user_id = $1 AND id = $2 AND one_time = 0",
            )
            .bind(user.0)
            .bind(id)
            .fetch_optional(tx.conn())
            .await
            .map_err(|e| map_db(e, subject, ""))?
            .is_some()
        };
        if !found {
            tx.rollback().await?;
            return Ok(false);
        }
        reset_failures(tx.conn(), user).await?;
        if let Some(n) = notice {
            insert_notice(tx.conn(), n).await?;
        }
        tx.append(audit).await?.commit().await?;
        Ok(true)
    }

    pub(crate) async fn em_commit_success(
        &self,
        user: UserId,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_audited(audit).await?;
        reset_failures(tx.conn(), user).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn em_delete_eac(
        &self,
        user: UserId,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_reserved().await?;
        let done = sqlx::query("DELETE FROM emergency_access_codes WHERE user_id = $1")
            .bind(user.0)
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("user #{}", user.0), ""))?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.append(audit).await?.commit().await?;
        Ok(true)
    }

    pub(crate) async fn em_find_online(
        &self,
        token: TokenId,
    ) -> Result<Option<OnlineEmergency>, StoreError> {
        let Some(row) = sqlx::query(&FIND_ONLINE)
            .bind(token.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| map_db(e, || "emergency_online".to_owned(), ""))?
        else {
            return Ok(None);
        };
        let mut e = codec::online(&row)?;
        let rows = sqlx::query(&FIND_ONLINE_CODES)
            .bind(token.0)
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || "emergency_online_codes".to_owned(), ""))?;
        for r in &rows {
            e.codes.push(codec::online_code(r)?.1);
        }
        Ok(Some(e))
    }

    pub(crate) async fn em_list_online(
        &self,
        user: UserId,
    ) -> Result<Vec<OnlineEmergency>, StoreError> {
        let rows = sqlx::query(&LIST_ONLINE)
            .bind(user.0)
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || "emergency_online".to_owned(), ""))?;
        let mut out = rows
            .iter()
            .map(codec::online)
            .collect::<Result<Vec<_>, _>>()?;
        if out.is_empty() {
            return Ok(out);
        }
        let rows = sqlx::query(&LIST_ONLINE_CODES)
            .bind(user.0)
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || "emergency_online_codes".to_owned(), ""))?;
        let codes = rows
            .iter()
            .map(codec::online_code)
            .collect::<Result<Vec<_>, _>>()?;
        attach_codes(&mut out, codes);
        Ok(out)
    }

    pub(crate) async fn em_put_online(
        &self,
        e: &NewOnlineEmergency,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        let subject = || format!("emergency access of token #{}", e.token_id.0);
        let mut tx = self.begin_audited(audit).await?;
        sqlx::query("DELETE FROM emergency_online WHERE token_id = $1")
            .bind(e.token_id.0)
            .execute(tx.conn())
            .await
            .map_err(|err| map_db(err, subject, ""))?;
        sqlx::query(
            "INSERT INTO emergency_online (token_id, kind, expires_at, token_available, \
             created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(e.token_id.0)
        .bind(enum_text(&e.kind, "emergency kind")?)
        .bind(e.expires_at)
        .bind(enum_text(&e.token_available, "token_available")?)
        .bind(e.created_at)
        .execute(tx.conn())
        .await
        .map_err(|err| map_db(err, subject, "token"))?;
        for v in &e.verifiers {
            sqlx::query("INSERT INTO emergency_online_codes (token_id, verifier) VALUES ($1, $2)")
                .bind(e.token_id.0)
                .bind(v)
                .execute(tx.conn())
                .await
                .map_err(|err| map_db(err, subject, "token"))?;
        }
        if let Some(n) = notice {
            insert_notice(tx.conn(), n).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn em_end_online(
        &self,
        token: TokenId,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_reserved().await?;
        let done = sqlx::query("DELETE FROM emergency_online WHERE token_id = $1")
            .bind(token.0)
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("token #{}", token.0), ""))?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.append(audit).await?.commit().await?;
        Ok(true)
    }

    pub(crate) async fn em_commit_use(
        &self,
        u: &EmergencyUse,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_reserved().await?;
        if let Some(code) = u.one_time_code {
            let done = sqlx::query(
                "UPDATE emergency_online_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL",
            )
            .bind(u.now)
            .bind(code)
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("emergency code #{code}"), ""))?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        reset_failures(tx.conn(), u.user_id).await?;
        sqlx::query("UPDATE tokens SET failed_passcodes = 0 WHERE id = $1")
            .bind(u.token_id.0)
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("token #{}", u.token_id.0), ""))?;
        if let Some(n) = notice {
            insert_notice(tx.conn(), n).await?;
        }
        tx.append(audit).await?.commit().await?;
        Ok(true)
    }

    pub(crate) async fn em_find_offline(
        &self,
        owner: OfflineOwner,
    ) -> Result<Option<OfflineEmergency>, StoreError> {
        let (col, id) = owner_col(owner);
        let sql = format!("SELECT {OFFLINE_COLS} FROM offline_emergency WHERE {col} = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| map_db(e, || "offline_emergency".to_owned(), ""))?;
        row.as_ref().map(codec::offline).transpose()
    }

    pub(crate) async fn em_list_offline(
        &self,
        user: UserId,
    ) -> Result<Vec<OfflineEmergency>, StoreError> {
        let rows = sqlx::query(&LIST_OFFLINE)
            .bind(user.0)
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || "offline_emergency".to_owned(), ""))?;
        rows.iter().map(codec::offline).collect()
    }

    pub(crate) async fn em_put_offline(
        &self,
        e: &OfflineEmergency,
        replaces: Option<i64>,
        notice: Option<&NewNotice>,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        let (col, id) = owner_col(e.owner);
        let subject = || format!("offline emergency value of {col} #{id}");
        let mut tx = self.begin_reserved().await?;
        let done = match replaces {
            None => {
                let sql = format!(
                    "INSERT INTO offline_emergency ({col}, generation, value_sealed, created_at, \
                     expires_at, online_use) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT DO NOTHING"
                );
                sqlx::query(&sql)
                    .bind(id)
                    .bind(e.generation)
                    .bind(e.value_sealed.as_slice())
                    .bind(e.created_at)
                    .bind(e.expires_at)
                    .bind(bool_int(e.online_use))
                    .execute(tx.conn())
                    .await
                    .map_err(|err| map_db(err, subject, "owner"))?
            }
            Some(old) => {
                let sql = format!(
                    "UPDATE offline_emergency SET generation = $1, value_sealed = $2, \
                     created_at = $3, expires_at = $4, online_use = $5 \
                     WHERE {col} = $6 AND generation = $7"
                );
                sqlx::query(&sql)
                    .bind(e.generation)
                    .bind(e.value_sealed.as_slice())
                    .bind(e.created_at)
                    .bind(e.expires_at)
                    .bind(bool_int(e.online_use))
                    .bind(id)
                    .bind(old)
                    .execute(tx.conn())
                    .await
                    .map_err(|err| map_db(err, subject, ""))?
            }
        };
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(n) = notice {
            insert_notice(tx.conn(), n).await?;
        }
        tx.append(audit).await?.commit().await?;
        Ok(true)
    }

    pub(crate) async fn em_set_online_use(
        &self,
        token: TokenId,
        on: bool,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_audited(audit).await?;
        let done = sqlx::query("UPDATE offline_emergency SET online_use = $1 WHERE token_id = $2")
            .bind(bool_int(on))
            .bind(token.0)
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, || format!("token #{}", token.0), ""))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "offline emergency tokencode of token #{}",
                token.0
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn em_audit_with_notice(
        &self,
        notice: &NewNotice,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_audited(audit).await?;
        insert_notice(tx.conn(), notice).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn em_list_notices(
        &self,
        domains: Option<&[DomainId]>,
        user: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<Notice>, StoreError> {
        const T: &str = "notices";
        // Scoped lists filter by domain here (a handful of domains per deployment); an
        // unscoped one is limited by the database.
        let mut sql = "SELECT n.id, n.created_at, n.user_id, n.domain_id, n.channel, \
             n.destination, n.event, n.body, u.login FROM notices n \
             JOIN users u ON u.id = n.user_id"
            .to_owned();
        if user.is_some() {
            sql.push_str(" WHERE n.user_id = $1");
        }
        sql.push_str(" ORDER BY n.id DESC");
        if domains.is_none() {
            sql.push_str(" LIMIT ");
            sql.push_str(&limit.to_string());
        }
        let mut q = sqlx::query(&sql);
        if let Some(u) = user {
            q = q.bind(u.0);
        }
        let rows = q
            .fetch_all(&self.reader)
            .await
            .map_err(|e| map_db(e, || T.to_owned(), ""))?;
        let mut out = Vec::new();
        for row in &rows {
            let domain_id = DomainId(get(row, T, "domain_id")?);
            if domains.is_some_and(|ds| !ds.contains(&domain_id)) {
                continue;
            }
            out.push(Notice {
                id: get(row, T, "id")?,
                login: get(row, T, "login")?,
                notice: NewNotice {
                    created_at: get(row, T, "created_at")?,
                    user_id: UserId(get(row, T, "user_id")?),
                    domain_id,
                    channel: get(row, T, "channel")?,
                    destination: get(row, T, "destination")?,
                    event: get(row, T, "event")?,
                    body: get(row, T, "body")?,
                },
            });
            if out.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                break;
            }
        }
        Ok(out)
    }
}

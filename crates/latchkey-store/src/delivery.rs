//! On-demand code sends for [`SqlStore`]: the abuse limits are counted and the send reserved
//! in one transaction that holds the audit head (as every writer does), so concurrent
//! requests — on one node or several — are counted one after the other and cannot exceed a
//! limit.

use latchkey_core::audit::AuditDraft;
use latchkey_core::delivery::{DeliveryRecord, LimitHit, NewDelivery, SendLimits};
use latchkey_core::ids::{DomainId, UserId};
use latchkey_core::store::StoreError;
use sqlx::AnyConnection;

use crate::SqlStore;
use crate::codec::get;
use crate::error::map_db;

/// `Store::find_on_demand`, shared with its `rusqlite` version on SQLite (`lite/reads.rs`).
pub(crate) const FIND_ON_DEMAND: &str = "SELECT pin_verifier FROM on_demand WHERE user_id = $1";

async fn count(
    conn: &mut AnyConnection,
    sql: &str,
    key: Option<&str>,
    user: Option<i64>,
    since: i64,
) -> Result<(i64, Option<i64>), StoreError> {
    let mut q = sqlx::query(sql);
    if let Some(u) = user {
        q = q.bind(u);
    }
    if let Some(k) = key {
        q = q.bind(k.to_owned());
    }
    let row = q
        .bind(since)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| map_db(e, || "phone_deliveries".to_owned(), ""))?;
    Ok((
        get(&row, "phone_deliveries", "n")?,
        get(&row, "phone_deliveries", "latest")?,
    ))
}

impl SqlStore {
    pub(crate) async fn dl_reserve(
        &self,
        d: &NewDelivery,
        limits: &SendLimits,
        audit: &AuditDraft,
    ) -> Result<Result<i64, LimitHit>, StoreError> {
        let mut tx = self.begin_reserved().await?;
        let (per_user, latest) = count(
            tx.conn(),
            "SELECT COUNT(*) AS n, MAX(created_at) AS latest FROM phone_deliveries \
             WHERE user_id = $1 AND created_at > $2",
            None,
            Some(d.user_id.0),
            d.now - limits.user_window_secs.max(limits.cooldown_secs),
        )
        .await?;
        let hour = d.now - 3600;
        let (per_destination, _) = count(
            tx.conn(),
            "SELECT COUNT(*) AS n, MAX(created_at) AS latest FROM phone_deliveries \
             WHERE destination = $1 AND created_at > $2",
            Some(&d.destination),
            None,
            hour,
        )
        .await?;
        let (per_deployment, _) = count(
            tx.conn(),
            "SELECT COUNT(*) AS n, MAX(created_at) AS latest FROM phone_deliveries \
             WHERE created_at > $1",
            None,
            None,
            hour,
        )
        .await?;
        let hit = if latest.is_some_and(|t| d.now - t < limits.cooldown_secs) {
            Some(LimitHit::Cooldown)
        } else if per_user >= i64::from(limits.per_user) {
            Some(LimitHit::User)
        } else if per_destination >= i64::from(limits.per_destination_per_hour) {
            Some(LimitHit::Destination)
        } else if per_deployment >= i64::from(limits.per_deployment_per_hour) {
            Some(LimitHit::Deployment)
        } else {
            None
        };
        if let Some(hit) = hit {
            let record = audit.clone().with_outcome(hit.as_str());
            tx.append(&record).await?.commit().await?;
            return Ok(Err(hit));
        }
        let row = sqlx::query(
            "INSERT INTO phone_deliveries (created_at, user_id, destination, channel, status, \
             attempts) VALUES ($1, $2, $3, $4, 'pending', '[]') RETURNING id",
        )
        .bind(d.now)
        .bind(d.user_id.0)
        .bind(&d.destination)
        .bind(&d.channel)
        .fetch_one(tx.conn())
        .await
        .map_err(|e| map_db(e, || format!("delivery for user #{}", d.user_id.0), "user"))?;
        let id: i64 = get(&row, "phone_deliveries", "id")?;
        let record = audit.clone().with_field("delivery", id.into());
        tx.append(&record).await?.commit().await?;
        Ok(Ok(id))
    }

    pub(crate) async fn dl_record(
        &self,
        id: i64,
        delivered: bool,
        attempts: &str,
        audit: &AuditDraft,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_audited(audit).await?;
        let done =
            sqlx::query("UPDATE phone_deliveries SET status = $1, attempts = $2 WHERE id = $3")
                .bind(if delivered { "delivered" } else { "failed" })
                .bind(attempts)
                .bind(id)
                .execute(tx.conn())
                .await
                .map_err(|e| map_db(e, || format!("delivery #{id}"), ""))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("delivery #{id}")));
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn dl_find_on_demand(
        &self,
        user: UserId,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(FIND_ON_DEMAND)
            .bind(user.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(|e| map_db(e, || "on_demand".to_owned(), ""))?;
        row.as_ref()
            .map(|r| get(r, "on_demand", "pin_verifier"))
            .transpose()
    }

    pub(crate) async fn dl_set_on_demand(
        &self,
        user: UserId,
        pin_verifier: Option<&str>,
        now: i64,
        audit: &AuditDraft,
    ) -> Result<bool, StoreError> {
        let subject = || format!("on-demand setting of user #{}", user.0);
        let mut tx = self.begin_reserved().await?;
        let done = sqlx::query("DELETE FROM on_demand WHERE user_id = $1")
            .bind(user.0)
            .execute(tx.conn())
            .await
            .map_err(|e| map_db(e, subject, ""))?;
        match pin_verifier {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO on_demand (user_id, pin_verifier, created_at) VALUES ($1, $2, $3)",
                )
                .bind(user.0)
                .bind(v)
                .bind(now)
                .execute(tx.conn())
                .await
                .map_err(|e| map_db(e, subject, "user"))?;
            }
            None if done.rows_affected() == 0 => {
                tx.rollback().await?;
                return Ok(false);
            }
            None => {}
        }
        tx.append(audit).await?.commit().await?;
        Ok(true)
    }

    pub(crate) async fn dl_list(
        &self,
        domains: Option<&[DomainId]>,
        user: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        const T: &str = "phone_deliveries";
        let mut sql = "SELECT d.id, d.created_at, u.login, u.domain_id, d.destination, \
             d.channel, d.status, d.attempts FROM phone_deliveries d \
             JOIN users u ON u.id = d.user_id"
            .to_owned();
        if user.is_some() {
            sql.push_str(" WHERE d.user_id = $1");
        }
        sql.push_str(" ORDER BY d.id DESC");
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
            out.push(DeliveryRecord {
                id: get(row, T, "id")?,
                created_at: get(row, T, "created_at")?,
                login: get(row, T, "login")?,
                domain_id,
                destination: get(row, T, "destination")?,
                channel: get(row, T, "channel")?,
                status: get(row, T, "status")?,
                attempts: get(row, T, "attempts")?,
            });
            if out.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                break;
            }
        }
        Ok(out)
    }
}

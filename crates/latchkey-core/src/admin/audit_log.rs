//! Reading and verifying the audit log. Only root-scoped holders of `ReadAudit` (super
//! administrators and auditors of the whole deployment) may: the log spans every domain.

use latchkey_proto::admin::{AuditRecordView, AuditVerification};

use super::AdminService;
use crate::CoreError;
use crate::audit::{AuditRecord, Verdict, Verifier};
use crate::authz::{Actor, DomainTree, Permission};

/// Records read per page while verifying.
const PAGE: u32 = 1000;

/// The wire form of a record.
pub fn record_view(r: AuditRecord) -> AuditRecordView {
    AuditRecordView {
        seq: r.seq,
        at: r.draft.at,
        actor: r.draft.actor,
        action: r.draft.action,
        target: r.draft.target,
        outcome: r.draft.outcome,
        source: r.draft.source,
        detail: serde_json::from_str(&r.draft.detail)
            .unwrap_or(serde_json::Value::String(r.draft.detail)),
        prev_hash: r.prev_hash,
        hash: r.hash,
    }
}

impl AdminService {
    async fn require_audit(&self, actor: &Actor) -> Result<(), CoreError> {
        DomainTree::require(actor, Permission::ReadAudit)?;
        let tree = self.tree().await?;
        if tree.get(actor.scope).is_some_and(|d| d.parent.is_none()) {
            Ok(())
        } else {
            Err(CoreError::Forbidden(
                "the audit log needs a root-scoped auditor or super administrator".to_owned(),
            ))
        }
    }

    /// Records after sequence number `after`, at most `limit` (1–10 000).
    pub async fn list_audit(
        &self,
        actor: &Actor,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecordView>, CoreError> {
        self.require_audit(actor).await?;
        if !(1..=10_000).contains(&limit) {
            return Err(CoreError::invalid("limit", "must be between 1 and 10000"));
        }
        Ok(self
            .store
            .list_audit(after, limit)
            .await?
            .into_iter()
            .map(record_view)
            .collect())
    }

    /// Walks the whole chain and reports the first altered, inserted or deleted record.
    pub async fn verify_audit(&self, actor: &Actor) -> Result<AuditVerification, CoreError> {
        self.require_audit(actor).await?;
        // Read the head first: records appended while we walk are beyond it and ignored.
        let head = self.store.find_audit_head().await?;
        let mut v = Verifier::default();
        let mut after = 0;
        'pages: loop {
            let page = self.store.list_audit(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for r in &page {
                if r.seq > head.seq && r.prev_hash == head.hash {
                    break 'pages;
                }
                if !v.feed(r) {
                    break 'pages;
                }
            }
        }
        Ok(match v.finish(&head) {
            Verdict::Intact(n) => AuditVerification {
                ok: true,
                records: n,
                first_bad_seq: None,
                problem: None,
            },
            Verdict::Broken {
                checked,
                seq,
                problem,
            } => AuditVerification {
                ok: false,
                records: checked,
                first_bad_seq: Some(seq),
                problem: Some(problem),
            },
        })
    }
}

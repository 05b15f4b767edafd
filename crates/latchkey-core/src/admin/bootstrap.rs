//! First start: the root domain and the first super administrator.

use latchkey_proto::admin::Role;
use latchkey_proto::policy::{PolicyKind, PolicyValue};

use super::AdminService;
use crate::CoreError;
use crate::audit::AuditDraft;
use crate::model::NewDomain;
use crate::store::StoreError;

/// Name of the root domain.
pub const ROOT_DOMAIN: &str = "root";

/// Credentials of the first administrator, shown once.
pub struct FirstAdmin {
    /// Name.
    pub name: String,
    /// Console password.
    pub password: latchkey_crypto::secret::SecretString,
    /// Admin API token.
    pub token: latchkey_crypto::secret::SecretString,
}

impl AdminService {
    /// On an empty database, creates the root domain (with every policy at its default) and a
    /// super administrator named `name`. Returns `None` when administrators already exist
    /// (a restart, or another node that bootstrapped first).
    pub async fn bootstrap(&self, name: &str) -> Result<Option<FirstAdmin>, CoreError> {
        if self.store.count_admins().await? > 0 {
            return Ok(None);
        }
        let now = self.clock.now();
        let mut tree = self.tree().await?;
        if tree.all().is_empty() {
            let root = NewDomain {
                name: ROOT_DOMAIN.to_owned(),
                parent: None,
                policies: PolicyKind::ALL
                    .into_iter()
                    .map(PolicyValue::default_of)
                    .collect(),
                created_at: now,
            };
            let audit = AuditDraft::ok(now, "system", "domain.create", "domain:root", None);
            match self.store.insert_domain(&root, &audit).await {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            tree = self.tree().await?;
        }
        let root = tree
            .root()
            .ok_or_else(|| CoreError::Internal("no root domain".to_owned()))?;
        let (admin, password, token) =
            self.new_admin(crate::validate::name("name", name)?, Role::SuperAdmin, root)?;
        let audit = AuditDraft::ok(
            now,
            "system",
            "admin.create",
            &format!("admin:{}", admin.name),
            None,
        )
        .with_detail(
            &serde_json::json!({"role": "super-admin", "scope": ROOT_DOMAIN, "bootstrap": true}),
        );
        match self.store.insert_admin(&admin, &audit).await {
            Ok(_) => Ok(Some(FirstAdmin {
                name: admin.name,
                password,
                token,
            })),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

//! Administrators.

use latchkey_crypto::codegen::{CharClasses, generate_code};
use latchkey_crypto::secret::SecretString;
use latchkey_crypto::verifier::{bearer_token_hash, generate_bearer_token, password_hash};
use latchkey_proto::admin::{AdminView, CreateAdmin, CreatedAdmin, Role};

use super::AdminService;
use super::domains::domain_named;
use crate::CoreError;
use crate::authz::{Actor, DomainTree, Permission, may_manage_role};
use crate::ids::DomainId;
use crate::model::{Admin, NewAdmin};
use crate::validate;

fn view(tree: &DomainTree, a: &Admin) -> AdminView {
    AdminView {
        name: a.name.clone(),
        role: a.role,
        scope: tree.name_of(a.scope),
        created_at: a.created_at,
    }
}

impl AdminService {
    /// A new administrator with a random console password and admin API token (both returned
    /// in clear to be shown once; only their hashes are stored).
    pub(super) fn new_admin(
        &self,
        name: String,
        role: Role,
        scope: DomainId,
    ) -> Result<(NewAdmin, SecretString, SecretString), CoreError> {
        let mut rng = self.rng();
        let classes = CharClasses {
            digits: true,
            upper: true,
            lower: true,
            special: false,
        };
        let password = generate_code(&mut rng, 20, classes)?;
        let token = generate_bearer_token(&mut rng, "lkad");
        let new = NewAdmin {
            name,
            role,
            scope,
            password_hash: password_hash(&mut rng, password.expose().as_bytes())?,
            token_hash: bearer_token_hash(token.expose()),
            created_at: self.clock.now(),
        };
        Ok((new, password, token))
    }

    /// Creates an administrator with a role no stronger than the caller's and a scope inside
    /// the caller's; returns the API token and console password once.
    pub async fn create_admin(
        &self,
        actor: &Actor,
        req: CreateAdmin,
    ) -> Result<CreatedAdmin, CoreError> {
        let tree = self.tree().await?;
        let scope = match &req.scope {
            Some(d) => domain_named(&tree, d)?.id,
            None => actor.scope,
        };
        tree.require_in_scope(actor, Permission::ManageAdmins, scope)?;
        if !may_manage_role(actor.role, req.role) {
            return Err(CoreError::Forbidden(
                "you may only create administrators with a lesser role".to_owned(),
            ));
        }
        if req.role == Role::SuperAdmin && tree.get(scope).is_some_and(|d| d.parent.is_some()) {
            return Err(CoreError::invalid(
                "scope",
                "a super administrator's scope is the root domain",
            ));
        }
        let name = validate::name("name", &req.name)?;
        let (new, password, token) = self.new_admin(name.clone(), req.role, scope)?;
        let audit = self
            .draft(actor, "admin.create", &format!("admin:{name}"))
            .with_detail(&serde_json::json!({"role": req.role, "scope": tree.name_of(scope)}));
        let a = self.store.insert_admin(&new, &audit).await?;
        Ok(CreatedAdmin {
            admin: view(&tree, &a),
            token: token.expose().to_owned(),
            password: password.expose().to_owned(),
        })
    }

    /// Administrators visible to the caller.
    pub async fn list_admins(&self, actor: &Actor) -> Result<Vec<AdminView>, CoreError> {
        DomainTree::require(actor, Permission::ViewDirectory)?;
        let tree = self.tree().await?;
        Ok(self
            .store
            .list_admins(tree.visible(actor).as_deref())
            .await?
            .iter()
            .map(|a| view(&tree, a))
            .collect())
    }

    /// Deletes another administrator (never oneself, so the last one cannot lock everyone out).
    pub async fn delete_admin(&self, actor: &Actor, name: &str) -> Result<(), CoreError> {
        let name = validate::name("name", name)?;
        let a = self
            .store
            .find_admin_by_name(&name)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("administrator {name:?}")))?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ManageAdmins, a.scope)?;
        if !may_manage_role(actor.role, a.role) {
            return Err(CoreError::Forbidden(
                "you may only delete administrators with a lesser role".to_owned(),
            ));
        }
        if a.id == actor.id {
            return Err(CoreError::Conflict("you cannot delete yourself".to_owned()));
        }
        let audit = self.draft(actor, "admin.delete", &format!("admin:{}", a.name));
        Ok(self.store.delete_admin(a.id, &audit).await?)
    }
}

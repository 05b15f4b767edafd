//! Users.

use latchkey_proto::admin::{CreateUser, UpdateUser, UserStatus, UserView};

use super::AdminService;
use super::domains::domain_named;
use crate::CoreError;
use crate::authz::{Actor, DomainTree, Permission};
use crate::model::{NewUser, User};
use crate::validate;

impl AdminService {
    /// Finds a user by login or answers not-found.
    pub(super) async fn user_named(&self, login: &str) -> Result<User, CoreError> {
        let login = validate::login(login)?;
        self.store
            .find_user_by_login(&login)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("user {login:?}")))
    }

    async fn user_view(&self, tree: &DomainTree, u: User) -> Result<UserView, CoreError> {
        let tokens = self
            .store
            .list_tokens_for_user(u.id)
            .await?
            .into_iter()
            .map(|t| t.serial)
            .collect();
        Ok(UserView {
            domain: tree.name_of(u.domain_id),
            login: u.login,
            status: u.status,
            email: u.email,
            phones: u.phones,
            tokens,
            created_at: u.created_at,
        })
    }

    /// Users visible to the caller.
    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<UserView>, CoreError> {
        DomainTree::require(actor, Permission::ViewDirectory)?;
        let tree = self.tree().await?;
        let visible = tree.visible(actor);
        let users = self.store.list_users(visible.as_deref()).await?;
        let mut out = Vec::with_capacity(users.len());
        for u in users {
            out.push(self.user_view(&tree, u).await?);
        }
        Ok(out)
    }

    /// One user with the serials of their tokens.
    pub async fn show_user(&self, actor: &Actor, login: &str) -> Result<UserView, CoreError> {
        let u = self.user_named(login).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ViewDirectory, u.domain_id)?;
        self.user_view(&tree, u).await
    }

    /// Creates a user.
    pub async fn create_user(&self, actor: &Actor, req: CreateUser) -> Result<UserView, CoreError> {
        let tree = self.tree().await?;
        let domain = match &req.domain {
            Some(d) => domain_named(&tree, d)?.id,
            None => actor.scope,
        };
        tree.require_in_scope(actor, Permission::ManageUsers, domain)?;
        let login = validate::login(&req.login)?;
        self.require_may_change_credentials(actor, &login, domain)
            .await?;
        let email = req
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(validate::email)
            .transpose()?;
        let phones = validate::phones(&req.phones)?;
        let new = NewUser {
            login: login.clone(),
            domain_id: domain,
            email,
            phones,
            created_at: self.clock.now(),
        };
        let audit = self
            .draft(actor, "user.create", &format!("user:{login}"))
            .with_detail(&serde_json::json!({"domain": tree.name_of(domain)}));
        let u = self.store.insert_user(&new, &audit).await?;
        self.user_view(&tree, u).await
    }

    /// Changes status, e-mail, phones or domain of a user.
    pub async fn update_user(
        &self,
        actor: &Actor,
        login: &str,
        req: UpdateUser,
    ) -> Result<UserView, CoreError> {
        let mut u = self.user_named(login).await?;
        let tree = self.tree().await?;
        let from = u.domain_id;
        let mut changed = Vec::new();
        if let Some(status) = req.status {
            let p = if status == UserStatus::Enabled {
                Permission::UnlockUser
            } else {
                Permission::ManageUsers
            };
            tree.require_in_scope(actor, p, u.domain_id)?;
            if status == UserStatus::Locked {
                return Err(CoreError::invalid(
                    "status",
                    "only the lockout policy locks a user; use disabled",
                ));
            }
            u.status = status;
            changed.push("status");
        }
        let details_change = req.email.is_some() || req.phones.is_some() || req.domain.is_some();
        if details_change {
            tree.require_in_scope(actor, Permission::ManageUsers, u.domain_id)?;
        }
        if let Some(email) = &req.email {
            u.email = if email.trim().is_empty() {
                None
            } else {
                Some(validate::email(email)?)
            };
            changed.push("email");
        }
        if let Some(phones) = &req.phones {
            u.phones = validate::phones(phones)?;
            changed.push("phones");
        }
        if let Some(d) = &req.domain {
            let to = domain_named(&tree, d)?.id;
            tree.require_in_scope(actor, Permission::ManageUsers, to)?;
            u.domain_id = to;
            changed.push("domain");
        }
        if changed.is_empty() {
            DomainTree::require(actor, Permission::ViewDirectory)?;
            return Err(CoreError::invalid("body", "nothing to change"));
        }
        self.require_may_change_credentials(actor, &u.login, from)
            .await?;
        if u.domain_id != from {
            self.require_may_change_credentials(actor, &u.login, u.domain_id)
                .await?;
        }
        let audit = self
            .draft(actor, "user.update", &format!("user:{}", u.login))
            .with_detail(&serde_json::json!({"changed": changed, "status": u.status, "domain": tree.name_of(u.domain_id)}));
        self.store.update_user(&u, &audit).await?;
        self.user_view(&tree, u).await
    }

    /// Deletes a user; their tokens stay, unassigned.
    pub async fn delete_user(&self, actor: &Actor, login: &str) -> Result<(), CoreError> {
        let u = self.user_named(login).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ManageUsers, u.domain_id)?;
        self.require_may_change_credentials(actor, &u.login, u.domain_id)
            .await?;
        let audit = self.draft(actor, "user.delete", &format!("user:{}", u.login));
        Ok(self.store.delete_user(u.id, &audit).await?)
    }
}

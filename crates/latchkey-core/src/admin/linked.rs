//! The guard over administrators' own sign-in accounts.
//!
//! The console's second factor is the administrator's *linked user*: the Latchkey user whose
//! login is the administrator's name, in the administrator's scope domain (`console.rs`).
//! Whoever controls that user's credentials — its PIN, its tokens, an emergency tokencode, an
//! emergency access code — holds half of that administrator's sign-in. So a change to them is
//! refused unless the actor is that administrator or may manage the administrator's role
//! ([`may_manage_role`]): a help desk cannot put a super administrator's token into emergency
//! access and read the code out, and a domain administrator cannot give a super administrator's
//! user a token whose seed it knows. Reading stays as the role allows. Every refusal is a 403
//! naming the reason; nothing is changed (`docs/design/authorization.md`).

use super::AdminService;
use crate::CoreError;
use crate::authz::{Actor, may_manage_role};
use crate::ids::DomainId;
use crate::model::Token;

impl AdminService {
    /// Refuses `actor` changing the credentials of (or creating, or moving into `domain`) the
    /// user `login` in `domain` when that user is the linked user of an administrator the
    /// actor may not manage.
    pub(super) async fn require_may_change_credentials(
        &self,
        actor: &Actor,
        login: &str,
        domain: DomainId,
    ) -> Result<(), CoreError> {
        let Some(admin) = self.store.find_admin_by_name(login).await? else {
            return Ok(());
        };
        if admin.scope != domain || admin.id == actor.id || may_manage_role(actor.role, admin.role)
        {
            return Ok(());
        }
        Err(CoreError::Forbidden(format!(
            "user {login:?} is the console sign-in account of an administrator with a role you \
             may not manage; only that administrator or one who may manage the role can change \
             its credentials"
        )))
    }

    /// [`Self::require_may_change_credentials`] for the user a token is assigned to (none:
    /// nothing to guard).
    pub(super) async fn require_may_change_token(
        &self,
        actor: &Actor,
        token: &Token,
    ) -> Result<(), CoreError> {
        let Some(uid) = token.user_id else {
            return Ok(());
        };
        match self.store.find_user_by_id(uid).await? {
            Some(u) => {
                self.require_may_change_credentials(actor, &u.login, u.domain_id)
                    .await
            }
            None => Ok(()),
        }
    }

    /// Whether `actor` may change the credentials of user `login` as far as this guard goes
    /// (role and scope are checked by each action), for pages that offer only allowed actions.
    pub async fn may_change_credentials_of(
        &self,
        actor: &Actor,
        login: &str,
    ) -> Result<bool, CoreError> {
        let u = self.user_named(login).await?;
        match self
            .require_may_change_credentials(actor, &u.login, u.domain_id)
            .await
        {
            Ok(()) => Ok(true),
            Err(CoreError::Forbidden(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

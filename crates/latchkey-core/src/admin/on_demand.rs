//! On-demand tokencodes on the manager channel (issue #5 item 4): a user enabled here types
//! an on-demand PIN alone, a code goes to their phone, and the code answers a next-tokencode
//! challenge. Enabling is an authenticator assignment: it needs the token-management right in
//! the user's domain. The PIN follows the domain's token policy and is kept as a keyed
//! verifier.

use latchkey_crypto::verifier::keyed_verifier;

use super::{AdminService, PIN_CONTEXT};
use crate::CoreError;
use crate::authz::{Actor, Permission};
use crate::policy;

impl AdminService {
    /// Enables on-demand tokencodes for a user with this PIN (or replaces the PIN).
    pub async fn enable_on_demand(
        &self,
        actor: &Actor,
        login: &str,
        pin: &str,
    ) -> Result<(), CoreError> {
        let user = self.user_named(login).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ManageTokens, user.domain_id)?;
        self.require_may_change_credentials(actor, &user.login, user.domain_id)
            .await?;
        let tp = policy::effective(&tree, user.domain_id).token;
        policy::check_pin(&tp, pin).map_err(|reason| CoreError::invalid("pin", reason))?;
        if user.phones.is_empty() {
            return Err(CoreError::Conflict(format!(
                "user {login:?} has no phone number to send codes to"
            )));
        }
        let verifier = keyed_verifier(&self.pin_key, &mut self.rng(), PIN_CONTEXT, pin.as_bytes());
        let audit = self.draft(
            actor,
            "user.on_demand.enable",
            &format!("user:{}", user.login),
        );
        self.store
            .set_on_demand(user.id, Some(&verifier), self.clock.now(), &audit)
            .await?;
        Ok(())
    }

    /// Disables on-demand tokencodes for a user.
    pub async fn disable_on_demand(&self, actor: &Actor, login: &str) -> Result<(), CoreError> {
        let user = self.user_named(login).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ManageTokens, user.domain_id)?;
        self.require_may_change_credentials(actor, &user.login, user.domain_id)
            .await?;
        let audit = self.draft(
            actor,
            "user.on_demand.disable",
            &format!("user:{}", user.login),
        );
        if self
            .store
            .set_on_demand(user.id, None, self.clock.now(), &audit)
            .await?
        {
            Ok(())
        } else {
            Err(CoreError::NotFound(format!(
                "on-demand tokencodes of {login:?}"
            )))
        }
    }
}

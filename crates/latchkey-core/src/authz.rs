//! Who may do what, where. Checked on the server for every administrative call, before any
//! data is read for the answer.
//!
//! A role grants a set of [`Permission`]s; an administrator's scope is one domain and its
//! whole subtree. An object is in scope when its domain is the scope domain or a descendant.

use std::collections::HashMap;

use latchkey_proto::admin::Role;

use crate::CoreError;
use crate::ids::{AdminId, DomainId};
use crate::model::Domain;

/// What an administrator is doing, for the audit log and the checks.
#[derive(Clone, Debug)]
pub struct Actor {
    /// Id.
    pub id: AdminId,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Scope domain.
    pub scope: DomainId,
    /// Client address.
    pub source: Option<String>,
}

impl Actor {
    /// `admin` acting from `source`.
    pub fn of(admin: crate::model::Admin, source: Option<String>) -> Self {
        Self {
            id: admin.id,
            name: admin.name,
            role: admin.role,
            scope: admin.scope,
            source,
        }
    }

    /// The audit-log name of this actor.
    pub fn audit_name(&self) -> String {
        format!("admin:{}", self.name)
    }
}

/// A permission a role may grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Read users, tokens, agents, domains and policies.
    ViewDirectory,
    /// Create, change and delete users.
    ManageUsers,
    /// Create, assign, enable, disable and delete tokens.
    ManageTokens,
    /// Set or clear PINs and require a new PIN.
    ResetPin,
    /// Enable and unlock users.
    UnlockUser,
    /// Create sub-domains.
    ManageDomains,
    /// Set and clear domain policies.
    ManagePolicies,
    /// Register and delete agents.
    ManageAgents,
    /// Create and delete administrators.
    ManageAdmins,
    /// Read and verify the audit log.
    ReadAudit,
    /// Grant emergency access and read offline emergency values.
    Emergency,
    /// Rotate the master key.
    ManageKeys,
    /// Set the deployment's SMS/voice providers (deployment-wide: super administrators only).
    ManageMessaging,
}

/// Whether `role` grants `p` (deny by default: anything not listed is refused).
pub fn grants(role: Role, p: Permission) -> bool {
    use Permission as P;
    match role {
        Role::SuperAdmin => true,
        Role::DomainAdmin => !matches!(p, P::ManageKeys | P::ReadAudit | P::ManageMessaging),
        Role::PrivilegedHelpDesk => {
            matches!(
                p,
                P::ViewDirectory | P::ResetPin | P::UnlockUser | P::Emergency
            )
        }
        Role::HelpDesk => matches!(p, P::ViewDirectory | P::ResetPin | P::UnlockUser),
        Role::Auditor => matches!(p, P::ViewDirectory | P::ReadAudit),
    }
}

/// Rank used to stop an administrator from creating one more powerful than themselves.
fn rank(role: Role) -> u8 {
    match role {
        Role::SuperAdmin => 4,
        Role::DomainAdmin => 3,
        Role::PrivilegedHelpDesk | Role::Auditor => 2,
        Role::HelpDesk => 1,
    }
}

/// Whether `actor_role` may create or delete an administrator of `target`.
pub fn may_manage_role(actor_role: Role, target: Role) -> bool {
    actor_role == Role::SuperAdmin || rank(target) < rank(actor_role)
}

/// The domain tree, loaded once per request.
#[derive(Clone, Debug)]
pub struct DomainTree {
    by_id: HashMap<DomainId, Domain>,
}

impl DomainTree {
    /// Builds the tree from all domains.
    pub fn new(domains: Vec<Domain>) -> Self {
        Self {
            by_id: domains.into_iter().map(|d| (d.id, d)).collect(),
        }
    }

    /// A domain by id.
    pub fn get(&self, id: DomainId) -> Option<&Domain> {
        self.by_id.get(&id)
    }

    /// A domain by name.
    pub fn by_name(&self, name: &str) -> Option<&Domain> {
        self.by_id.values().find(|d| d.name == name)
    }

    /// The name of a domain (`?` if unknown, which a consistent database never has).
    pub fn name_of(&self, id: DomainId) -> String {
        self.get(id)
            .map_or_else(|| "?".to_owned(), |d| d.name.clone())
    }

    /// `id` and its ancestors, nearest first. Stops on a cycle.
    pub fn ancestry(&self, id: DomainId) -> Vec<&Domain> {
        let mut out: Vec<&Domain> = Vec::new();
        let mut cur = self.get(id);
        while let Some(d) = cur {
            if out.iter().any(|o| o.id == d.id) {
                break;
            }
            out.push(d);
            cur = d.parent.and_then(|p| self.get(p));
        }
        out
    }

    /// Whether `id` is `scope` or below it.
    pub fn is_within(&self, id: DomainId, scope: DomainId) -> bool {
        self.ancestry(id).iter().any(|d| d.id == scope)
    }

    /// `scope` and every domain below it.
    pub fn subtree(&self, scope: DomainId) -> Vec<DomainId> {
        let mut ids: Vec<DomainId> = self
            .by_id
            .keys()
            .copied()
            .filter(|id| self.is_within(*id, scope))
            .collect();
        ids.sort();
        ids
    }

    /// The root domain (the one without a parent), if the tree has one.
    pub fn root(&self) -> Option<DomainId> {
        self.by_id
            .values()
            .find(|d| d.parent.is_none())
            .map(|d| d.id)
    }

    /// All domains, sorted by name.
    pub fn all(&self) -> Vec<&Domain> {
        let mut v: Vec<&Domain> = self.by_id.values().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Refuses unless `actor` holds `p`.
    pub fn require(actor: &Actor, p: Permission) -> Result<(), CoreError> {
        if grants(actor.role, p) {
            Ok(())
        } else {
            Err(CoreError::Forbidden(format!(
                "your role does not allow {p:?}"
            )))
        }
    }

    /// Refuses unless `actor` holds `p` for an object in domain `id`.
    pub fn require_in_scope(
        &self,
        actor: &Actor,
        p: Permission,
        id: DomainId,
    ) -> Result<(), CoreError> {
        Self::require(actor, p)?;
        if self.is_within(id, actor.scope) {
            Ok(())
        } else {
            Err(CoreError::Forbidden(
                "the object is outside your domain scope".to_owned(),
            ))
        }
    }

    /// The domains `actor` may see, or `None` for all (a root-scoped administrator).
    pub fn visible(&self, actor: &Actor) -> Option<Vec<DomainId>> {
        match self.get(actor.scope) {
            Some(d) if d.parent.is_none() => None,
            _ => Some(self.subtree(actor.scope)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(id: i64, name: &str, parent: Option<i64>) -> Domain {
        Domain {
            id: DomainId(id),
            name: name.into(),
            parent: parent.map(DomainId),
            policies: vec![],
            created_at: 0,
        }
    }

    #[test]
    fn scope_is_the_subtree() {
        let t = DomainTree::new(vec![
            d(1, "root", None),
            d(2, "a", Some(1)),
            d(3, "a1", Some(2)),
            d(4, "b", Some(1)),
        ]);
        assert!(t.is_within(DomainId(3), DomainId(2)));
        assert!(t.is_within(DomainId(2), DomainId(2)));
        assert!(!t.is_within(DomainId(4), DomainId(2)));
        assert!(!t.is_within(DomainId(1), DomainId(2)));
        assert_eq!(t.subtree(DomainId(2)), vec![DomainId(2), DomainId(3)]);
        assert_eq!(t.root(), Some(DomainId(1)));
        assert_eq!(DomainTree::new(vec![]).root(), None);
    }

    #[test]
    fn roles_deny_by_default() {
        assert!(!grants(Role::HelpDesk, Permission::ManageUsers));
        assert!(!grants(Role::HelpDesk, Permission::Emergency));
        assert!(grants(Role::PrivilegedHelpDesk, Permission::Emergency));
        assert!(!grants(Role::Auditor, Permission::UnlockUser));
        assert!(!grants(Role::DomainAdmin, Permission::ManageKeys));
        assert!(!may_manage_role(Role::DomainAdmin, Role::DomainAdmin));
        assert!(may_manage_role(Role::DomainAdmin, Role::HelpDesk));
    }
}

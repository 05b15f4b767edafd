//! Domains and their policies.

use latchkey_proto::admin::{CreateDomain, DomainPolicies, DomainView, PolicySource};
use latchkey_proto::policy::{PolicyKind, PolicyValue};

use super::AdminService;
use crate::CoreError;
use crate::authz::{Actor, DomainTree, Permission};
use crate::model::{Domain, NewDomain};
use crate::policy;

fn view(tree: &DomainTree, d: &Domain) -> DomainView {
    DomainView {
        name: d.name.clone(),
        parent: d.parent.map(|p| tree.name_of(p)),
        own_policies: d.policies.iter().map(PolicyValue::kind).collect(),
    }
}

/// Finds a domain by name or answers not-found.
pub(super) fn domain_named<'t>(tree: &'t DomainTree, name: &str) -> Result<&'t Domain, CoreError> {
    tree.by_name(name.trim())
        .ok_or_else(|| CoreError::NotFound(format!("domain {:?}", name.trim())))
}

impl AdminService {
    /// Domains visible to the caller.
    pub async fn list_domains(&self, actor: &Actor) -> Result<Vec<DomainView>, CoreError> {
        DomainTree::require(actor, Permission::ViewDirectory)?;
        let tree = self.tree().await?;
        Ok(tree
            .all()
            .into_iter()
            .filter(|d| tree.is_within(d.id, actor.scope))
            .map(|d| view(&tree, d))
            .collect())
    }

    /// One domain.
    pub async fn show_domain(&self, actor: &Actor, name: &str) -> Result<DomainView, CoreError> {
        let tree = self.tree().await?;
        let d = domain_named(&tree, name)?;
        tree.require_in_scope(actor, Permission::ViewDirectory, d.id)?;
        Ok(view(&tree, d))
    }

    /// Creates a sub-domain under `parent` (default: the caller's scope domain).
    pub async fn create_domain(
        &self,
        actor: &Actor,
        req: CreateDomain,
    ) -> Result<DomainView, CoreError> {
        let tree = self.tree().await?;
        let parent = match &req.parent {
            Some(p) => domain_named(&tree, p)?.id,
            None => actor.scope,
        };
        tree.require_in_scope(actor, Permission::ManageDomains, parent)?;
        let name = crate::validate::name("name", &req.name)?;
        let new = NewDomain {
            name: name.clone(),
            parent: Some(parent),
            policies: vec![],
            created_at: self.clock.now(),
        };
        let audit = self
            .draft(actor, "domain.create", &format!("domain:{name}"))
            .with_detail(&serde_json::json!({"parent": tree.name_of(parent)}));
        let d = self.store.insert_domain(&new, &audit).await?;
        self.bump_config_epoch();
        Ok(DomainView {
            name: d.name,
            parent: Some(tree.name_of(parent)),
            own_policies: vec![],
        })
    }

    /// The policies in force for a domain and where each comes from.
    pub async fn domain_policies(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<DomainPolicies, CoreError> {
        let tree = self.tree().await?;
        let d = domain_named(&tree, name)?;
        tree.require_in_scope(actor, Permission::ViewDirectory, d.id)?;
        let sources = PolicyKind::ALL
            .into_iter()
            .map(|kind| PolicySource {
                kind,
                domain: policy::resolve(&tree, d.id, kind)
                    .1
                    .map_or_else(String::new, |s| tree.name_of(s)),
            })
            .collect();
        Ok(DomainPolicies {
            domain: d.name.clone(),
            effective: policy::effective(&tree, d.id),
            sources,
        })
    }

    /// Sets one policy of a domain.
    pub async fn set_policy(
        &self,
        actor: &Actor,
        name: &str,
        value: PolicyValue,
    ) -> Result<DomainPolicies, CoreError> {
        policy::validate(&value)?;
        self.change_policy(actor, name, value.kind(), Some(value))
            .await
    }

    /// Clears one policy of a domain so that it is inherited again (not on the root).
    pub async fn clear_policy(
        &self,
        actor: &Actor,
        name: &str,
        kind: PolicyKind,
    ) -> Result<DomainPolicies, CoreError> {
        self.change_policy(actor, name, kind, None).await
    }

    async fn change_policy(
        &self,
        actor: &Actor,
        name: &str,
        kind: PolicyKind,
        value: Option<PolicyValue>,
    ) -> Result<DomainPolicies, CoreError> {
        let tree = self.tree().await?;
        let d = domain_named(&tree, name)?;
        tree.require_in_scope(actor, Permission::ManagePolicies, d.id)?;
        if value.is_none() && d.parent.is_none() {
            return Err(CoreError::invalid(
                "kind",
                "the root domain must set every policy",
            ));
        }
        let detail = match &value {
            Some(v) => serde_json::json!({"kind": kind.as_str(), "value": v}),
            None => serde_json::json!({"kind": kind.as_str(), "inherit": true}),
        };
        let action = if value.is_some() {
            "policy.set"
        } else {
            "policy.clear"
        };
        let audit = self
            .draft(actor, action, &format!("domain:{}", d.name))
            .with_detail(&detail);
        let r = self
            .store
            .update_domain_policy(d.id, kind, value.as_ref(), &audit)
            .await;
        self.bump_config_epoch();
        r?;
        self.domain_policies(actor, name).await
    }
}

//! Agents: REST agents, RADIUS clients, offline hosts, cloud applications.

use std::net::IpAddr;

use ipnet::IpNet;
use latchkey_crypto::codegen::{CharClasses, generate_code};
use latchkey_crypto::verifier::{bearer_token_hash, generate_bearer_token};
use latchkey_proto::admin::{AgentKind, AgentView, CreateAgent, CreatedAgent};

use super::domains::domain_named;
use super::{AdminService, agent_secret_aad};
use crate::CoreError;
use crate::authz::{Actor, DomainTree, Permission};
use crate::model::{Agent, NewAgent};
use crate::validate;

/// Shortest RADIUS shared secret accepted. RFC 2865 asks for at least 16 octets; some
/// deployed clients cannot hold that many, so we accept 8 and generate 24.
const MIN_RADIUS_SECRET: usize = 8;
/// Longest RADIUS shared secret (many clients stop at 128).
const MAX_RADIUS_SECRET: usize = 128;

fn view(tree: &DomainTree, a: &Agent) -> AgentView {
    AgentView {
        name: a.name.clone(),
        kind: a.kind,
        channel: a.channel(),
        domain: tree.name_of(a.domain_id),
        address: a.address.map(|n| n.to_string()),
        require_message_authenticator: a.require_message_authenticator,
        created_at: a.created_at,
    }
}

fn parse_address(s: &str) -> Result<IpNet, CoreError> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            CoreError::invalid(
                "address",
                "must be an IP address or CIDR network, e.g. 192.0.2.10 or 10.0.0.0/8",
            )
        })
}

impl AdminService {
    async fn agent_named(&self, name: &str) -> Result<Agent, CoreError> {
        let name = validate::name("name", name)?;
        self.store
            .find_agent_by_name(&name)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("agent {name:?}")))
    }

    /// Registers an agent; its API key or generated RADIUS secret is shown once.
    pub async fn create_agent(
        &self,
        actor: &Actor,
        req: CreateAgent,
    ) -> Result<CreatedAgent, CoreError> {
        let tree = self.tree().await?;
        let domain = match &req.domain {
            Some(d) => domain_named(&tree, d)?.id,
            None => actor.scope,
        };
        tree.require_in_scope(actor, Permission::ManageAgents, domain)?;
        let name = validate::name("name", &req.name)?;
        if name == crate::console::CONSOLE_AGENT {
            return Err(CoreError::Conflict(format!(
                "the agent name {name:?} is reserved for the Security Console"
            )));
        }
        let mut rng = self.rng();
        let (mut api_key, mut shown_secret, mut address, mut secret_sealed) =
            (None, None, None, None);
        if req.kind == AgentKind::Radius {
            let addr = req.address.as_deref().ok_or_else(|| {
                CoreError::invalid("address", "a RADIUS client needs its address")
            })?;
            address = Some(parse_address(addr)?);
            let secret = match &req.secret {
                Some(s) => {
                    if s.len() < MIN_RADIUS_SECRET || s.len() > MAX_RADIUS_SECRET {
                        return Err(CoreError::invalid(
                            "secret",
                            format!(
                                "must be {MIN_RADIUS_SECRET} to {MAX_RADIUS_SECRET} bytes long"
                            ),
                        ));
                    }
                    if s.chars().any(char::is_control) {
                        return Err(CoreError::invalid(
                            "secret",
                            "must not contain control characters",
                        ));
                    }
                    s.clone()
                }
                None => {
                    let g = generate_code(
                        &mut rng,
                        24,
                        CharClasses {
                            digits: true,
                            upper: true,
                            lower: true,
                            special: false,
                        },
                    )?;
                    let s = g.expose().to_owned();
                    shown_secret = Some(s.clone());
                    s
                }
            };
            secret_sealed = Some(self.seal(secret.as_bytes(), &agent_secret_aad(&name))?);
        } else {
            if req.address.is_some()
                || req.secret.is_some()
                || req.require_message_authenticator.is_some()
            {
                return Err(CoreError::invalid(
                    "kind",
                    "address, secret and require_message_authenticator are for RADIUS clients",
                ));
            }
            api_key = Some(generate_bearer_token(&mut rng, "lkag"));
        }
        let new = NewAgent {
            name: name.clone(),
            kind: req.kind,
            domain_id: domain,
            api_key_hash: api_key.as_ref().map(|k| bearer_token_hash(k.expose())),
            address,
            secret_sealed,
            require_message_authenticator: req.require_message_authenticator.unwrap_or(true),
            created_at: self.clock.now(),
        };
        let audit = self.draft(actor, "agent.create", &format!("agent:{name}")).with_detail(&serde_json::json!({
            "kind": req.kind, "domain": tree.name_of(domain), "address": address.map(|a| a.to_string()),
        }));
        let a = self.store.insert_agent(&new, &audit).await?;
        self.bump_config_epoch();
        Ok(CreatedAgent {
            agent: view(&tree, &a),
            api_key: api_key.map(|k| k.expose().to_owned()),
            secret: shown_secret,
        })
    }

    /// Agents visible to the caller.
    pub async fn list_agents(&self, actor: &Actor) -> Result<Vec<AgentView>, CoreError> {
        DomainTree::require(actor, Permission::ViewDirectory)?;
        let tree = self.tree().await?;
        Ok(self
            .store
            .list_agents(tree.visible(actor).as_deref())
            .await?
            .iter()
            .map(|a| view(&tree, a))
            .collect())
    }

    /// One agent.
    pub async fn show_agent(&self, actor: &Actor, name: &str) -> Result<AgentView, CoreError> {
        let a = self.agent_named(name).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ViewDirectory, a.domain_id)?;
        Ok(view(&tree, &a))
    }

    /// Deletes an agent; its key stops working at once on this node, and within
    /// `authn::hot::HOT_TTL` (one second) on the others.
    pub async fn delete_agent(&self, actor: &Actor, name: &str) -> Result<(), CoreError> {
        let a = self.agent_named(name).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ManageAgents, a.domain_id)?;
        let audit = self.draft(actor, "agent.delete", &format!("agent:{}", a.name));
        let r = self.store.delete_agent(a.id, &audit).await;
        self.bump_config_epoch();
        Ok(r?)
    }
}

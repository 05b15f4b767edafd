//! Tokens: import, generation (seed shown once), assignment, PINs.

use latchkey_crypto::base32::decode_base32_secret;
use latchkey_crypto::codegen::generate_digits;
use latchkey_crypto::otp::OtpAlgorithm as Alg;
use latchkey_crypto::otpauth::{OtpAuth, OtpKind};
use latchkey_crypto::qr::qr_svg;
use latchkey_crypto::secret::SecretBytes;
use latchkey_crypto::verifier::keyed_verifier;
use latchkey_proto::admin::{
    GenerateToken, GeneratedToken, ImportToken, OtpAlgorithm, TokenType, TokenView, UpdateToken,
};
use latchkey_proto::policy::{PolicyKind, PolicyValue};
use rand::RngCore;

use super::domains::domain_named;
use super::{AdminService, PIN_CONTEXT, seed_aad};
use crate::CoreError;
use crate::authz::{Actor, DomainTree, Permission};
use crate::ids::DomainId;
use crate::model::{NewToken, Token};
use crate::{policy, validate};

/// Issuer shown in authenticator apps.
const ISSUER: &str = "Latchkey";

/// Converts the wire algorithm to the crypto one.
pub fn alg_to_crypto(a: OtpAlgorithm) -> Alg {
    match a {
        OtpAlgorithm::Sha1 => Alg::Sha1,
        OtpAlgorithm::Sha256 => Alg::Sha256,
        OtpAlgorithm::Sha512 => Alg::Sha512,
    }
}

fn alg_from_crypto(a: Alg) -> OtpAlgorithm {
    match a {
        Alg::Sha1 => OtpAlgorithm::Sha1,
        Alg::Sha256 => OtpAlgorithm::Sha256,
        Alg::Sha512 => OtpAlgorithm::Sha512,
    }
}

fn check_digits(d: u32) -> Result<u32, CoreError> {
    if d == 6 || d == 8 {
        Ok(d)
    } else {
        Err(CoreError::invalid("digits", "must be 6 or 8"))
    }
}

fn check_period(p: u32) -> Result<u32, CoreError> {
    if p == 30 || p == 60 {
        Ok(p)
    } else {
        Err(CoreError::invalid("period", "must be 30 or 60 seconds"))
    }
}

/// The stored period of a new token: 30 or 60 s for TOTP (default 30); none may be given for
/// HOTP, which stores the unused default.
fn period_for(token_type: TokenType, requested: Option<u32>) -> Result<u32, CoreError> {
    match token_type {
        TokenType::Totp => check_period(requested.unwrap_or(30)),
        TokenType::Hotp if requested.is_some() => {
            Err(CoreError::invalid("period", "an HOTP token has no period"))
        }
        TokenType::Hotp => Ok(30),
    }
}

/// The parameters of a token about to be created.
struct Params {
    token_type: TokenType,
    algorithm: Alg,
    digits: u32,
    period: u32,
    counter: u64,
    seed: SecretBytes,
}

fn params_from_import(req: &ImportToken) -> Result<Params, CoreError> {
    match (&req.secret, &req.uri) {
        (Some(_), Some(_)) => Err(CoreError::invalid(
            "uri",
            "give either secret or uri, not both",
        )),
        (None, None) => Err(CoreError::invalid(
            "secret",
            "give the seed as secret (base32) or uri (otpauth://)",
        )),
        (None, Some(uri)) => {
            if req.token_type.is_some()
                || req.digits.is_some()
                || req.period.is_some()
                || req.algorithm.is_some()
                || req.counter.is_some()
            {
                return Err(CoreError::invalid(
                    "uri",
                    "type, digits, period, algorithm and counter come from the URI",
                ));
            }
            let o = OtpAuth::parse(uri).map_err(|e| CoreError::invalid("uri", e.to_string()))?;
            let token_type = match o.kind {
                OtpKind::Totp => TokenType::Totp,
                OtpKind::Hotp => TokenType::Hotp,
            };
            let period = if token_type == TokenType::Totp {
                check_period(o.period)?
            } else {
                30
            };
            Ok(Params {
                token_type,
                algorithm: o.algorithm,
                digits: check_digits(o.digits)?,
                period,
                counter: o.counter,
                seed: o.secret,
            })
        }
        (Some(secret), None) => {
            let token_type = req
                .token_type
                .ok_or_else(|| CoreError::invalid("type", "required with secret: totp or hotp"))?;
            let seed = decode_base32_secret(secret)
                .map_err(|e| CoreError::invalid("secret", e.to_string()))?;
            let period = period_for(token_type, req.period)?;
            if req.counter.is_some_and(|c| i64::try_from(c).is_err()) {
                return Err(CoreError::invalid("counter", "is too large"));
            }
            if token_type == TokenType::Totp && req.counter.is_some() {
                return Err(CoreError::invalid("counter", "a TOTP token has no counter"));
            }
            Ok(Params {
                token_type,
                algorithm: alg_to_crypto(req.algorithm.unwrap_or_default()),
                digits: check_digits(req.digits.unwrap_or(6))?,
                period,
                counter: req.counter.unwrap_or(0),
                seed,
            })
        }
    }
}

impl AdminService {
    pub(super) async fn token_named(&self, serial: &str) -> Result<Token, CoreError> {
        let serial = validate::serial(serial)?;
        self.store
            .find_token_by_serial(&serial)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("token {serial:?}")))
    }

    async fn token_view(&self, tree: &DomainTree, t: &Token) -> Result<TokenView, CoreError> {
        let user = match t.user_id {
            Some(uid) => self.store.find_user_by_id(uid).await?.map(|u| u.login),
            None => None,
        };
        Ok(TokenView {
            serial: t.serial.clone(),
            token_type: t.token_type,
            digits: t.digits,
            period: t.period,
            algorithm: alg_from_crypto(t.algorithm),
            domain: tree.name_of(t.domain_id),
            user,
            enabled: t.enabled,
            has_pin: t.pin_verifier.is_some(),
            new_pin_required: t.new_pin_required,
            created_at: t.created_at,
        })
    }

    /// Resolves serial, owner and domain of a token about to be created, checking scope.
    async fn placement(
        &self,
        actor: &Actor,
        tree: &DomainTree,
        serial: Option<&str>,
        user: Option<&str>,
        domain: Option<&str>,
    ) -> Result<(String, Option<crate::model::User>, DomainId), CoreError> {
        let user = match user {
            Some(login) => Some(self.user_named(login).await?),
            None => None,
        };
        let domain = match (domain, &user) {
            (Some(d), _) => domain_named(tree, d)?.id,
            (None, Some(u)) => u.domain_id,
            (None, None) => actor.scope,
        };
        tree.require_in_scope(actor, Permission::ManageTokens, domain)?;
        if let Some(u) = &user {
            tree.require_in_scope(actor, Permission::ManageTokens, u.domain_id)?;
            self.require_may_change_credentials(actor, &u.login, u.domain_id)
                .await?;
        }
        let serial = match serial {
            Some(s) => validate::serial(s)?,
            None => format!("LK{}", generate_digits(&mut self.rng(), 10).expose()),
        };
        Ok((serial, user, domain))
    }

    async fn create_token(
        &self,
        actor: &Actor,
        tree: &DomainTree,
        action: &str,
        new: NewToken,
    ) -> Result<TokenView, CoreError> {
        let audit = self
            .draft(actor, action, &format!("token:{}", new.serial))
            .with_detail(&serde_json::json!({
                "type": new.token_type, "digits": new.digits, "period": new.period,
                "algorithm": new.algorithm.as_str(), "domain": tree.name_of(new.domain_id),
                "user_assigned": new.user_id.is_some(),
            }));
        let t = self.store.insert_token(&new, &audit).await?;
        self.token_view(tree, &t).await
    }

    /// Imports a token with a known seed.
    pub async fn import_token(
        &self,
        actor: &Actor,
        req: ImportToken,
    ) -> Result<TokenView, CoreError> {
        let tree = self.tree().await?;
        DomainTree::require(actor, Permission::ManageTokens)?;
        let p = params_from_import(&req)?;
        let (serial, user, domain) = self
            .placement(
                actor,
                &tree,
                req.serial.as_deref(),
                req.user.as_deref(),
                req.domain.as_deref(),
            )
            .await?;
        let new = NewToken {
            seed_sealed: self.seal(p.seed.expose(), &seed_aad(&serial))?,
            serial,
            token_type: p.token_type,
            algorithm: p.algorithm,
            digits: p.digits,
            period: p.period,
            counter: p.counter,
            domain_id: domain,
            user_id: user.map(|u| u.id),
            created_at: self.clock.now(),
        };
        self.create_token(actor, &tree, "token.import", new).await
    }

    /// Generates a seed and returns it once as an `otpauth://` URI and QR code.
    pub async fn generate_token(
        &self,
        actor: &Actor,
        req: GenerateToken,
    ) -> Result<GeneratedToken, CoreError> {
        let tree = self.tree().await?;
        DomainTree::require(actor, Permission::ManageTokens)?;
        let token_type = req.token_type.unwrap_or(TokenType::Totp);
        let digits = check_digits(req.digits.unwrap_or(6))?;
        let period = period_for(token_type, req.period)?;
        let algorithm = alg_to_crypto(req.algorithm.unwrap_or_default());
        let (serial, user, domain) = self
            .placement(
                actor,
                &tree,
                req.serial.as_deref(),
                req.user.as_deref(),
                req.domain.as_deref(),
            )
            .await?;
        // Seed as long as the HMAC output, as RFC 4226 recommends.
        let mut seed = vec![
            0u8;
            match algorithm {
                Alg::Sha1 => 20,
                Alg::Sha256 => 32,
                Alg::Sha512 => 64,
            }
        ];
        self.rng().fill_bytes(&mut seed);
        let seed = SecretBytes::new(seed);
        let uri = OtpAuth {
            kind: if token_type == TokenType::Totp {
                OtpKind::Totp
            } else {
                OtpKind::Hotp
            },
            issuer: Some(ISSUER.to_owned()),
            account: user
                .as_ref()
                .map_or_else(|| serial.clone(), |u| u.login.clone()),
            secret: seed.clone(),
            algorithm,
            digits,
            period,
            counter: 0,
        }
        .to_uri();
        let qr = qr_svg(&uri)?;
        let new = NewToken {
            seed_sealed: self.seal(seed.expose(), &seed_aad(&serial))?,
            serial,
            token_type,
            algorithm,
            digits,
            period,
            counter: 0,
            domain_id: domain,
            user_id: user.map(|u| u.id),
            created_at: self.clock.now(),
        };
        let token = self
            .create_token(actor, &tree, "token.generate", new)
            .await?;
        Ok(GeneratedToken {
            token,
            otpauth_uri: uri,
            qr_svg: qr,
        })
    }

    /// Tokens visible to the caller, optionally only one user's.
    pub async fn list_tokens(
        &self,
        actor: &Actor,
        user: Option<&str>,
    ) -> Result<Vec<TokenView>, CoreError> {
        DomainTree::require(actor, Permission::ViewDirectory)?;
        let tree = self.tree().await?;
        let tokens = match user {
            Some(login) => {
                let u = self.user_named(login).await?;
                tree.require_in_scope(actor, Permission::ViewDirectory, u.domain_id)?;
                self.store.list_tokens_for_user(u.id).await?
            }
            None => {
                self.store
                    .list_tokens(tree.visible(actor).as_deref())
                    .await?
            }
        };
        let mut out = Vec::with_capacity(tokens.len());
        for t in tokens
            .iter()
            .filter(|t| tree.is_within(t.domain_id, actor.scope))
        {
            out.push(self.token_view(&tree, t).await?);
        }
        Ok(out)
    }

    /// One token.
    pub async fn show_token(&self, actor: &Actor, serial: &str) -> Result<TokenView, CoreError> {
        let t = self.token_named(serial).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ViewDirectory, t.domain_id)?;
        self.token_view(&tree, &t).await
    }

    /// Enables, disables, assigns or unassigns a token.
    pub async fn update_token(
        &self,
        actor: &Actor,
        serial: &str,
        req: UpdateToken,
    ) -> Result<TokenView, CoreError> {
        let mut t = self.token_named(serial).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ManageTokens, t.domain_id)?;
        self.require_may_change_token(actor, &t).await?;
        let mut detail = serde_json::Map::new();
        if let Some(enabled) = req.enabled {
            t.enabled = enabled;
            detail.insert("enabled".into(), enabled.into());
        }
        if let Some(login) = &req.user {
            if login.trim().is_empty() {
                t.user_id = None;
                detail.insert("user".into(), serde_json::Value::Null);
            } else {
                let u = self.user_named(login).await?;
                tree.require_in_scope(actor, Permission::ManageTokens, u.domain_id)?;
                self.require_may_change_credentials(actor, &u.login, u.domain_id)
                    .await?;
                t.user_id = Some(u.id);
                detail.insert("user".into(), u.login.into());
            }
        }
        if detail.is_empty() {
            return Err(CoreError::invalid("body", "nothing to change"));
        }
        let audit = self
            .draft(actor, "token.update", &format!("token:{}", t.serial))
            .with_detail(&detail.into());
        self.store.update_token_admin(&t, &audit).await?;
        self.token_view(&tree, &t).await
    }

    /// Sets a token's PIN after checking it against the token policy.
    pub async fn set_pin(
        &self,
        actor: &Actor,
        serial: &str,
        pin: &str,
    ) -> Result<TokenView, CoreError> {
        let mut t = self.token_named(serial).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ResetPin, t.domain_id)?;
        self.require_may_change_token(actor, &t).await?;
        let PolicyValue::Token(tp) = policy::resolve(&tree, t.domain_id, PolicyKind::Token).0
        else {
            return Err(CoreError::Internal(
                "token policy has the wrong kind".to_owned(),
            ));
        };
        policy::check_pin(&tp, pin).map_err(|reason| CoreError::invalid("pin", reason))?;
        t.pin_verifier = Some(keyed_verifier(
            &self.pin_key,
            &mut self.rng(),
            PIN_CONTEXT,
            pin.as_bytes(),
        ));
        t.new_pin_required = false;
        let audit = self.draft(actor, "token.pin.set", &format!("token:{}", t.serial));
        self.store.update_token_admin(&t, &audit).await?;
        self.token_view(&tree, &t).await
    }

    /// Makes the next authentication with this token set a new PIN; `clear` also removes the
    /// current PIN.
    pub async fn require_new_pin(
        &self,
        actor: &Actor,
        serial: &str,
        clear: bool,
    ) -> Result<TokenView, CoreError> {
        let mut t = self.token_named(serial).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ResetPin, t.domain_id)?;
        self.require_may_change_token(actor, &t).await?;
        t.new_pin_required = true;
        if clear {
            t.pin_verifier = None;
        }
        let action = if clear {
            "token.pin.clear"
        } else {
            "token.pin.require_new"
        };
        let audit = self.draft(actor, action, &format!("token:{}", t.serial));
        self.store.update_token_admin(&t, &audit).await?;
        self.token_view(&tree, &t).await
    }

    /// Deletes a token.
    pub async fn delete_token(&self, actor: &Actor, serial: &str) -> Result<(), CoreError> {
        let t = self.token_named(serial).await?;
        let tree = self.tree().await?;
        tree.require_in_scope(actor, Permission::ManageTokens, t.domain_id)?;
        self.require_may_change_token(actor, &t).await?;
        let audit = self.draft(actor, "token.delete", &format!("token:{}", t.serial));
        Ok(self.store.delete_token(t.id, &audit).await?)
    }
}

//! The OpenAPI 3.1 document of the HTTP API, served at `GET /api/v1/openapi.json`.
//!
//! Invariants:
//! - Every route in [`crate::route_table`] has an operation here (tested).
//! - Admin operations require the `bearer` security scheme (an admin API token); the agent
//!   authentication operations require `agent_key` (a REST agent API key, also sent as
//!   `Authorization: Bearer`); the probes and this document require nothing.
//! - Every admin and authentication operation documents the `ErrorBody` answers it can give,
//!   added by [`ErrorResponses`] so that no handler can forget one.

use axum::Json;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, Content, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::admin::{admins, agents, audit, domains, emergency, providers, tokens, users};
use crate::routes::Routes;
use crate::{authn, cloud, health, offline};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey",
        description = "Multi-factor authentication server: administration API, agent \
                       authentication API and health probes. Admin routes take \
                       `Authorization: Bearer <admin API token>`; authentication routes take \
                       `Authorization: Bearer <REST agent API key>`."
    ),
    paths(
        health::healthz,
        health::readyz,
        openapi_json,
        authn::initialize,
        authn::verify,
        cloud::methods,
        cloud::start,
        cloud::verify,
        offline::enroll,
        offline::events,
        offline::user_hosts,
        domains::list_domains,
        domains::create_domain,
        domains::show_domain,
        domains::domain_policies,
        domains::set_policy,
        domains::clear_policy,
        users::list_users,
        users::create_user,
        users::show_user,
        users::update_user,
        users::delete_user,
        users::enable_on_demand,
        users::disable_on_demand,
        tokens::list_tokens,
        tokens::import_token,
        tokens::generate_token,
        tokens::show_token,
        tokens::update_token,
        tokens::delete_token,
        tokens::set_pin,
        tokens::clear_pin,
        tokens::require_new_pin,
        emergency::grant_online,
        emergency::show_online,
        emergency::end_online,
        emergency::show_passcode,
        emergency::reveal_passcode,
        emergency::reset_passcode,
        emergency::show_tokencode,
        emergency::update_tokencode,
        emergency::reveal_tokencode,
        emergency::reset_tokencode,
        emergency::list_outbox,
        emergency::list_deliveries,
        emergency::generate_eac,
        emergency::show_eac,
        emergency::revoke_eac,
        agents::list_agents,
        agents::create_agent,
        agents::show_agent,
        agents::delete_agent,
        admins::list_admins,
        admins::create_admin,
        admins::delete_admin,
        audit::list_audit,
        audit::verify_audit,
        audit::rotate_keys,
        providers::list_providers,
        providers::set_providers,
        providers::clear_providers,
    ),
    components(schemas(latchkey_proto::ErrorBody, latchkey_proto::ErrorCode)),
    modifiers(&BearerScheme, &ErrorResponses),
    security(("bearer" = [])),
    tags(
        (name = "authn", description = "Passcode authentication by REST agents: initialize, then verify while challenged"),
        (name = "domains", description = "Security domains and their policies"),
        (name = "users", description = "Users"),
        (name = "tokens", description = "OATH tokens and PINs"),
        (name = "cloud", description = "Cloud-channel authentication by cloud applications: methods, start, verify"),
        (name = "emergency", description = "Emergency access: online emergency tokencodes, offline emergency passcode and tokencode, the notification outbox"),
        (name = "agents", description = "REST agents, RADIUS clients, offline hosts, cloud applications"),
        (name = "admins", description = "Administrators"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "keys", description = "Master key"),
        (name = "messaging", description = "SMS and voice providers of the deployment"),
        (name = "offline", description = "Offline hosts: enrolment, offline authentication events, hosts holding a user's offline data"),
        (name = "health", description = "Probes"),
    )
)]
pub struct ApiDoc;

pub(crate) fn routes(r: Routes) -> Routes {
    r.get("/api/v1/openapi.json", openapi_json)
}

/// This document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Adds the `bearer` (admin API token) and `agent_key` (REST agent API key) HTTP security
/// schemes.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi
            .components
            .get_or_insert_with(|| ComponentsBuilder::new().build());
        let mut admin = Http::new(HttpAuthScheme::Bearer);
        admin.description = Some("Admin API token".to_owned());
        components.add_security_scheme("bearer", SecurityScheme::Http(admin));
        let mut agent = Http::new(HttpAuthScheme::Bearer);
        agent.description = Some("REST agent API key".to_owned());
        components.add_security_scheme("agent_key", SecurityScheme::Http(agent));
    }
}

/// Adds the error answers every admin and authentication operation can give.
struct ErrorResponses;

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build(),
    )
}

fn add(op: &mut Operation, code: &str, description: &str) {
    op.responses
        .responses
        .entry(code.to_owned())
        .or_insert_with(|| error_response(description));
}

/// The answers of an authentication operation besides its 200: only agent and request
/// problems (a user's failure is a 200 FAIL).
fn add_authn_errors(op: &mut Operation) {
    add(
        op,
        "400",
        "Invalid request (`invalid_request`); `field` names the field at fault",
    );
    add(
        op,
        "401",
        "Missing or invalid agent API key (`unauthenticated`)",
    );
    add(op, "413", "The request body is larger than 64 KiB");
    add(
        op,
        "500",
        "Server failure (`internal`); details are in the server log",
    );
    add(
        op,
        "503",
        "Storage unavailable (`unavailable`); retry later",
    );
}

fn add_errors(op: &mut Operation, changes: bool) {
    add(
        op,
        "400",
        "Invalid request (`invalid_request`); `field` names the field at fault",
    );
    add(
        op,
        "401",
        "Missing or invalid bearer token (`unauthenticated`)",
    );
    add(
        op,
        "403",
        "The caller's role or scope does not allow this (`forbidden`)",
    );
    add(op, "404", "No such object (`not_found`)");
    if changes {
        add(op, "409", "Conflicts with existing state (`conflict`)");
    }
    add(
        op,
        "500",
        "Server failure (`internal`); details are in the server log",
    );
    add(
        op,
        "503",
        "Storage unavailable (`unavailable`); retry later",
    );
    if op.request_body.is_some() {
        add(op, "413", "The request body is larger than 64 KiB");
    }
}

fn operations(item: &mut PathItem) -> [(Option<&mut Operation>, bool); 5] {
    [
        (item.get.as_mut(), false),
        (item.post.as_mut(), true),
        (item.put.as_mut(), true),
        (item.patch.as_mut(), true),
        (item.delete.as_mut(), true),
    ]
}

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let admin = path.starts_with(crate::admin::PREFIX);
            let authn = path.starts_with(crate::authn::PREFIX)
                || path.starts_with(crate::cloud::PREFIX)
                || path.starts_with(crate::offline::PREFIX);
            for (op, changes) in operations(item) {
                match op {
                    Some(op) if admin => add_errors(op, changes),
                    Some(op) if authn => add_authn_errors(op),
                    _ => {}
                }
            }
        }
    }
}

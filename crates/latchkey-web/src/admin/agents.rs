//! Agents: REST agents, RADIUS clients, offline hosts, cloud applications.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use latchkey_proto::admin::{AgentView, CreateAgent, CreatedAgent};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{AdminAuth, JsonBody, PathParams};
use crate::routes::Routes;

pub(crate) fn routes(r: Routes) -> Routes {
    r.get("/api/v1/admin/agents", list_agents)
        .post("/api/v1/admin/agents", create_agent)
        .get("/api/v1/admin/agents/{name}", show_agent)
        .delete("/api/v1/admin/agents/{name}", delete_agent)
}

/// Agents in the caller's scope.
#[utoipa::path(
    get, path = "/api/v1/admin/agents", tag = "agents",
    responses((status = 200, description = "Agents, by name; never keys or secrets", body = [AgentView]))
)]
pub async fn list_agents(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    Ok(Json(s.admin.list_agents(&actor).await?))
}

/// Registers an agent; its API key or generated RADIUS secret is shown this once.
#[utoipa::path(
    post, path = "/api/v1/admin/agents", tag = "agents", request_body = CreateAgent,
    responses((status = 201, description = "Created; the key or secret is shown once", body = CreatedAgent))
)]
pub async fn create_agent(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    JsonBody(req): JsonBody<CreateAgent>,
) -> Result<(StatusCode, Json<CreatedAgent>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.admin.create_agent(&actor, req).await?),
    ))
}

/// One agent.
#[utoipa::path(
    get, path = "/api/v1/admin/agents/{name}", tag = "agents",
    params(("name" = String, Path, description = "Agent name")),
    responses((status = 200, description = "The agent", body = AgentView))
)]
pub async fn show_agent(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(name): PathParams<String>,
) -> Result<Json<AgentView>, ApiError> {
    Ok(Json(s.admin.show_agent(&actor, &name).await?))
}

/// Deletes an agent; its key stops working at once.
#[utoipa::path(
    delete, path = "/api/v1/admin/agents/{name}", tag = "agents",
    params(("name" = String, Path, description = "Agent name")),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_agent(
    State(s): State<AppState>,
    AdminAuth(actor): AdminAuth,
    PathParams(name): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.delete_agent(&actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

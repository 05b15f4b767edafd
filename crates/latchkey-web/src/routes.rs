//! A router builder that remembers what it registers, so the route table (and the test that
//! holds the OpenAPI document to it) cannot drift from the router itself.

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};

use crate::AppState;

/// One route the router serves: method and path template (`{param}` syntax, as in OpenAPI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteInfo {
    /// Upper-case method name.
    pub method: &'static str,
    /// Path template.
    pub path: &'static str,
}

/// Router under construction plus the table of what it serves.
pub(crate) struct Routes {
    router: Router<AppState>,
    table: Vec<RouteInfo>,
}

impl Routes {
    pub(crate) fn new() -> Self {
        Self {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    fn on<H, T>(
        mut self,
        filter: MethodFilter,
        method: &'static str,
        path: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        // `Router::route` merges method routers registered for the same path.
        self.router = self.router.route(path, on(filter, handler));
        self.table.push(RouteInfo { method, path });
        self
    }

    pub(crate) fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.on(MethodFilter::GET, "GET", path, h)
    }

    pub(crate) fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Self {
        self.on(MethodFilter::POST, "POST", path, h)
    }

    pub(crate) fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.on(MethodFilter::PUT, "PUT", path, h)
    }

    pub(crate) fn patch<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Self {
        self.on(MethodFilter::PATCH, "PATCH", path, h)
    }

    pub(crate) fn delete<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Self {
        self.on(MethodFilter::DELETE, "DELETE", path, h)
    }

    /// Adds a router whose routes are not part of the JSON API (the Security Console's pages):
    /// served, but not in the route table the OpenAPI document is held to.
    pub(crate) fn merge_unlisted(mut self, other: Router<AppState>) -> Self {
        self.router = self.router.merge(other);
        self
    }

    pub(crate) fn into_parts(self) -> (Router<AppState>, Vec<RouteInfo>) {
        (self.router, self.table)
    }
}

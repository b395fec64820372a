//! The route table: an axum router that also remembers the path of every
//! route it is given, so that what the server serves can be listed — by the
//! route sweep test, which sends hostile input to every endpoint, and by
//! anything else that must stay in step with the router.

use axum::{
    Router,
    handler::Handler,
    routing::{MethodFilter, MethodRouter, on},
};
use ruma::api::{IncomingRequest, path_builder::PathBuilder};

use crate::services::Services;

/// Routes, and their path templates (axum syntax, `{param}`).
#[derive(Default)]
pub struct Routes {
    router: Router<Services>,
    paths: Vec<String>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `path` to `method_router`, as axum's `Router::route`.
    pub fn route(mut self, path: &str, method_router: MethodRouter<Services>) -> Self {
        self.router = self.router.route(path, method_router);
        self.paths.push(path.to_owned());
        self
    }

    /// Routes every path of ruma endpoint `T` (stable, legacy r0 and
    /// unstable) to `handler`, for `T`'s method.
    pub fn ruma<T, H, X>(mut self, handler: H) -> Self
    where
        T: IncomingRequest,
        H: Handler<X, Services>,
        X: 'static,
    {
        let filter =
            MethodFilter::try_from(T::METHOD).expect("ruma endpoints use standard methods");
        for path in T::PATH_BUILDER.all_paths() {
            self = self.route(path, on(filter, handler.clone()));
            // An empty state key may be left out: `/state/{type}` and `/state/{type}/`.
            if let Some(base) = path.strip_suffix("/{state_key}") {
                self = self.route(base, on(filter, handler.clone()));
                self = self.route(&format!("{base}/"), on(filter, handler.clone()));
            }
        }
        self
    }

    /// Takes in the routes of `other`.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }

    /// The path templates, in the order they were routed.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The axum router.
    pub fn into_router(self) -> Router<Services> {
        self.router
    }
}

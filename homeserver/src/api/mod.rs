//! HTTP: the router, and the layers every request passes through.

mod admin;
mod authed;
mod client;
mod federation;
mod media;
pub mod ruma;
mod sso;

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use axum::{Router, extract::Request, response::Response};
use http::{Method, header};
use tower_http::{
    cors::{Any, CorsLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use tracing::{Span, field::Empty};

use crate::{error::Error, services::Services};

/// Fills a public room directory answer from a page: the client and the
/// federation APIs share the shape, not the type.
macro_rules! public_rooms_page {
    ($response:expr, $page:expr) => {{
        let mut response = $response;
        let page = $page;
        response.chunk = page.chunk;
        response.next_batch = page.next_batch;
        response.prev_batch = page.prev_batch;
        response.total_room_count_estimate = ruma::UInt::try_from(page.total as u64).ok();
        response
    }};
}
pub(crate) use public_rooms_page;

/// The whole HTTP surface of the server.
pub fn router(services: Services) -> Router {
    let timeout = services.config.limits.request_timeout;
    Router::new()
        .merge(client::router())
        .merge(media::router())
        .merge(admin::router())
        .merge(federation::router())
        .merge(sso::router())
        .route("/health", axum::routing::get(|| async { "OK" }))
        .route("/ready", axum::routing::get(ready))
        .fallback(|| async { Error::Unrecognized })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(services.clone(), record_metrics))
        .with_state(services)
        .layer(TimeoutLayer::with_status_code(http::StatusCode::SERVICE_UNAVAILABLE, timeout))
        .layer(cors())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                .on_failure(()),
        )
}

/// Counts requests by route template (never by concrete path, which would
/// carry ids) and status, with their latency; server errors also feed the
/// incident alert.
async fn record_metrics(
    axum::extract::State(services): axum::extract::State<Services>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    if response.status().is_server_error() {
        services.auth.security().server_error().await;
    }
    let status = response.status().as_u16().to_string();
    metrics::counter!("lattice_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("lattice_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Readiness: the database answers.
async fn ready(axum::extract::State(services): axum::extract::State<Services>) -> Response {
    use axum::response::IntoResponse;
    match services.store.ping().await {
        Ok(()) => "OK".into_response(),
        Err(_) => (http::StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}

/// Browsers (Element Web) call us from other origins; the spec asks for
/// permissive CORS on every endpoint.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::ORIGIN,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::AUTHORIZATION,
            header::HeaderName::from_static("x-requested-with"),
        ])
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// The span of one request. The path is logged without its query string,
/// which may carry an access token.
fn request_span(request: &Request) -> Span {
    let id = REQUEST_IDS.fetch_add(1, Ordering::Relaxed);
    tracing::info_span!(
        "request",
        id,
        method = %request.method(),
        path = request.uri().path(),
        user = Empty,
    )
}

/// One line per request is at debug level (`lattice_homeserver::api=debug`
/// turns it on): at info it cost a tenth of the server's CPU under load, and
/// the reverse proxy in front keeps an access log anyway. Server errors are
/// always logged.
fn log_response(response: &Response, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if response.status().is_server_error() {
        tracing::warn!(status, latency_ms, "answered");
    } else {
        tracing::debug!(status, latency_ms, "answered");
    }
}

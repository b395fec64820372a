//! HTTP: the router, and the layers every request passes through.

mod admin;
mod authed;
mod client;
mod federation;
pub mod json_text;
mod media;
pub mod routes;
pub mod ruma;
mod sso;

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use axum::{Router, extract::Request, response::Response};
use http::{Method, header};
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{Any, CorsLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use tracing::{Span, field::Empty};

use self::routes::Routes;
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
    routes()
        .into_router()
        .fallback(|| async { Error::Unrecognized })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        // Inside the metrics layer, so that a panic's 500 is counted and
        // raises the server-error alert like any other.
        .layer(CatchPanicLayer::custom(answer_panic))
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

/// Every route the server serves, with its path template.
pub fn routes() -> Routes {
    Routes::new()
        .merge(client::router())
        .merge(media::router())
        .merge(admin::router())
        .merge(federation::router())
        .merge(sso::router())
        .route("/health", axum::routing::get(|| async { "OK" }))
        .route("/ready", axum::routing::get(ready))
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

/// A handler that panicked: the client gets a 500 M_UNKNOWN instead of a
/// dropped connection, the log one line with the panic's message, and
/// `lattice_handler_panics_total` one more. A panic is always a bug.
fn answer_panic(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    use axum::response::IntoResponse;
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    metrics::counter!("lattice_handler_panics_total").increment(1);
    Error::internal(format!("a handler panicked: {message}")).into_response()
}

/// Readiness: the database answers, and the instance is not stopping.
async fn ready(axum::extract::State(services): axum::extract::State<Services>) -> Response {
    use axum::response::IntoResponse;
    if services.cluster.draining() {
        return (http::StatusCode::SERVICE_UNAVAILABLE, "stopping").into_response();
    }
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

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, routing::get};
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;

    async fn boom() -> &'static str {
        panic!("boom")
    }

    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_m_unknown() {
        let router: Router = Router::new()
            .route("/boom", get(boom))
            .layer(CatchPanicLayer::custom(super::answer_panic));
        let request = http::Request::get("/boom").body(Body::empty()).expect("request");
        let response = router.oneshot(request).await.expect("an answer");
        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["errcode"], "M_UNKNOWN");
        assert!(!body.to_string().contains("boom"), "the panic's text stays in the log");
    }
}

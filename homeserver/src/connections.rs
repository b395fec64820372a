//! The accept loop. axum's own `serve` neither bounds how long a client
//! may take to send its headers nor how many connections are open; both are
//! what slow-loris attacks and connection floods exploit, so the server
//! accepts connections itself: at most `limits.max_connections` at once
//! (more wait in the kernel's backlog), each closed when its first byte or
//! its headers do not arrive within `limits.header_read_timeout`.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

use crate::config::LimitsConfig;

/// Serves `app` on `listener` until `shutdown` resolves, then lets the
/// connections finish (for at most the request timeout).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &LimitsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: drop this one, keep serving.
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // What into_make_service_with_connect_info would have added.
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(request.map(axum::body::Body::new))
        });
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        let first_byte = limits.header_read_timeout;
        tokio::spawn(async move {
            // hyper's header timer starts with the first byte: a client that
            // connects and says nothing is cut off here instead.
            let mut probe = [0u8; 1];
            if !matches!(tokio::time::timeout(first_byte, stream.peek(&mut probe)).await, Ok(Ok(1)))
            {
                return drop(permit);
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.request_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the request timeout; closing anyway");
    }
}

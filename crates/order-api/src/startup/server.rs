//! The HTTP/1.1 server: accepts connections up to a cap, serves each with
//! hyper (keep-alive on) under a header read timeout and an idle limit
//! ([`deadlines`]), and on shutdown stops accepting and lets in-flight
//! requests finish. `axum::serve` offers neither the cap nor the timeouts,
//! hence this accept loop.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use self::deadlines::{DeadlineStream, Deadlines, Phase};

pub mod deadlines;

/// How connections are bounded.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once; further ones stay in the kernel's
    /// backlog (not accepted, not served) until one closes.
    pub max_connections: usize,
    /// Longest a client may take to send a request's headers, counted from
    /// the accept or from the first byte of a later request; then the
    /// connection is closed (slowloris).
    pub header_read_timeout: Duration,
    /// Longest a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and waits for the open connections: idle ones are closed at
/// once, in-flight requests finish and are answered.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    // hyper's own header timer would also cut idle connections short: the
    // connection's deadlines are kept by `DeadlineStream` instead.
    http.header_read_timeout(None).keep_alive(true);
    let deadlines = Deadlines {
        header_read: limits.header_read_timeout,
        idle: limits.idle_timeout,
    };
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        // A slot first: while none is free, connections are left to wait in
        // the backlog instead of being accepted and starved.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.map_err(io::Error::other)?,
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        // Small answers should not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let phase = Phase::accepted();
        let stream = DeadlineStream::new(stream, phase.clone(), deadlines);
        let router = router.clone();
        let service = tower::service_fn(move |request: Request<hyper::body::Incoming>| {
            phase.serve(router.clone().oneshot(request))
        });
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Slow or vanished clients end here; nothing for the operator.
                tracing::debug!(%peer, error = %e, timeout = e.is_timeout(), "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "stopped accepting; finishing in-flight requests"
    );
    graceful.shutdown().await;
    Ok(())
}

/// An accept that failed: a connection reset before it was accepted is
/// skipped; anything else (out of file descriptors) is logged and retried
/// after a pause, as `axum::serve` does.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

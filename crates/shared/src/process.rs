//! Process-level helpers shared by the binaries: shutdown signals and the
//! `healthcheck` subcommand used by container health checks (distroless
//! images have no curl).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Completes on the first SIGTERM (ECS, Kubernetes, Elastic Beanstalk) or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "shutdown requested"),
        () = terminate => tracing::info!(signal = "SIGTERM", "shutdown requested"),
    }
}

/// Sends `GET path` to the local HTTP server on `port` and reports whether it
/// answered 200 within `timeout`. Blocking and dependency-free on purpose.
pub fn http_probe(port: u16, path: &str, timeout: Duration) -> Result<(), String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut head = [0_u8; 64];
    let n = stream.read(&mut head).map_err(|e| format!("read: {e}"))?;
    let status_line = String::from_utf8_lossy(&head[..n]);
    if status_line.starts_with("HTTP/1.1 200") || status_line.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!(
            "unexpected answer: {}",
            status_line.lines().next().unwrap_or_default()
        ))
    }
}

/// The `healthcheck` subcommand of both binaries: probes `/health/live` on
/// the first port variable of `port_vars` that is set (else 8080), for
/// container health checks. Exit 0 when live, 1 with the reason otherwise.
pub fn healthcheck(binary: &str, port_vars: &[&str]) -> std::process::ExitCode {
    let port = port_vars
        .iter()
        .find_map(|name| std::env::var(name).ok()?.trim().parse::<u16>().ok())
        .unwrap_or(8080);
    match http_probe(port, "/health/live", Duration::from_secs(3)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{binary} healthcheck failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_fails_clearly_when_nothing_listens() {
        // Bind and drop to get a port that is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let err = http_probe(port, "/health/live", Duration::from_millis(500)).expect_err("closed");
        assert!(err.starts_with("connect"), "{err}");
    }

    #[test]
    fn probe_accepts_200_and_rejects_others() {
        for (answer, ok) in [
            ("HTTP/1.1 200 OK\r\n\r\n", true),
            ("HTTP/1.1 503 Service Unavailable\r\n\r\n", false),
        ] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let server = std::thread::spawn(move || {
                let (mut conn, _) = listener.accept().expect("accept");
                // Read the whole request first: closing with unread input would reset the connection.
                let mut request = Vec::new();
                let mut buf = [0_u8; 256];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                conn.write_all(answer.as_bytes()).expect("write");
            });
            assert_eq!(
                http_probe(port, "/health/live", Duration::from_secs(2)).is_ok(),
                ok,
                "{answer}"
            );
            server.join().expect("server thread");
        }
    }
}

//! The real server over raw TCP: slow and idle clients are disconnected,
//! connections are capped, oversized bodies are refused before they are
//! read, and shutdown lets in-flight requests finish.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestServer, valid_order};

/// Reads until the peer closes the connection (or resets it); the time it took.
async fn closed_after(stream: &mut TcpStream, limit: Duration) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (started.elapsed(), received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "the server kept the connection open for {limit:?}; got {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

/// Reads one response (head and a `Content-Length` body) as text.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("read");
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

async fn get_live(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    read_response(stream).await
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let server = TestServer::start(&[("HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    slow.write_all(b"POST /api/pedidos HTT")
        .await
        .expect("write");
    let (after, received) = closed_after(&mut slow, Duration::from_secs(10)).await;
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(5),
        "closed after {after:?}"
    );
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );

    // One that sends nothing at all is closed too.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let (after, _) = closed_after(&mut silent, Duration::from_secs(10)).await;
    assert!(after < Duration::from_secs(5), "closed after {after:?}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_outlives_the_header_timeout_until_the_idle_limit() {
    let server = TestServer::start(&[
        ("HEADER_READ_TIMEOUT_SECS", "1"),
        ("KEEP_ALIVE_TIMEOUT_SECS", "3"),
    ])
    .await;
    let mut client = TcpStream::connect(server.addr).await.expect("connect");
    // Keep-alive works: two requests on one connection.
    for _ in 0..2 {
        let answer = get_live(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // Idle: closed at the idle limit, not at the (shorter) header timeout,
    // which would race a load balancer reusing the connection.
    let (after, received) = closed_after(&mut client, Duration::from_secs(10)).await;
    assert!(
        after >= Duration::from_millis(2500) && after < Duration::from_secs(8),
        "closed after {after:?}"
    );
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test]
async fn a_request_begun_on_a_kept_alive_connection_has_the_header_timeout() {
    let server = TestServer::start(&[
        ("HEADER_READ_TIMEOUT_SECS", "1"),
        ("KEEP_ALIVE_TIMEOUT_SECS", "60"),
    ])
    .await;
    let mut client = TcpStream::connect(server.addr).await.expect("connect");
    let answer = get_live(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    client.write_all(b"GET /health/li").await.expect("write");
    let (after, received) = closed_after(&mut client, Duration::from_secs(10)).await;
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(5),
        "closed after {after:?}"
    );
    assert!(
        received.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let server =
        TestServer::start(&[("MAX_CONNECTIONS", "2"), ("HEADER_READ_TIMEOUT_SECS", "60")]).await;
    // Two idle, kept-alive connections (each served once, so both are
    // certainly accepted) take both slots.
    let mut first = TcpStream::connect(server.addr).await.expect("connect");
    let mut second = TcpStream::connect(server.addr).await.expect("connect");
    for stream in [&mut first, &mut second] {
        let answer = get_live(stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    // A third connects (the kernel's backlog takes it) but is not served.
    // Proving that nothing happens needs a wait: a second is ample on loopback.
    let mut third = TcpStream::connect(server.addr).await.expect("connect");
    third
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let mut byte = [0_u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_secs(1), third.read(&mut byte))
            .await
            .is_err(),
        "a third connection was served beyond MAX_CONNECTIONS=2"
    );

    // A slot frees: the waiting request is answered.
    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(10), read_response(&mut third))
        .await
        .expect("served once a slot freed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The connection still holding a slot is unaffected.
    let answer = get_live(&mut second).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    let server = TestServer::start(&[]).await;
    let mut client = TcpStream::connect(server.addr).await.expect("connect");
    client
        .write_all(
            b"POST /api/pedidos HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 1048576\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .expect("write head");
    let answer = tokio::time::timeout(Duration::from_secs(10), read_response(&mut client))
        .await
        .expect("answered without the body");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        !answer.contains("100 Continue"),
        "the client was asked for the body: {answer}"
    );
    let lower = answer.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(answer.contains("/problems/payload-too-large"), "{answer}");
    assert!(lower.contains("x-request-id: "), "{answer}");
    // The unread body makes the connection unusable: it is closed, and said so.
    assert!(lower.contains("connection: close"), "{answer}");
    let (_, rest) = closed_after(&mut client, Duration::from_secs(10)).await;
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[tokio::test]
async fn a_chunked_body_growing_past_the_limit_is_413() {
    let server = TestServer::start(&[]).await;
    let mut client = TcpStream::connect(server.addr).await.expect("connect");
    client
        .write_all(
            b"POST /api/pedidos HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .expect("write head");
    let chunk = format!("2000\r\n{}\r\n", "x".repeat(0x2000));
    for _ in 0..9 {
        // The server may answer and stop reading before every chunk is sent.
        if client.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let answer = tokio::time::timeout(Duration::from_secs(10), read_response(&mut client))
        .await
        .expect("answered");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("/problems/payload-too-large"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

#[tokio::test]
async fn shutdown_stops_accepting_and_finishes_in_flight_requests() {
    let mut server = TestServer::start(&[]).await;
    let gate = server.publisher.hold();
    let http = reqwest::Client::new();
    let in_flight = tokio::spawn(
        http.post(format!("{}/api/pedidos", server.base()))
            .json(&valid_order())
            .send(),
    );
    server.publisher.wait_started(1).await;

    server.stop();
    let addr = server.addr;
    testkit::eventually(
        Duration::from_secs(10),
        "the listener closed",
        || async move { TcpStream::connect(addr).await.is_err().then_some(()) },
    )
    .await;
    assert!(
        !server.handle.is_finished(),
        "the server stopped with a request in flight"
    );

    gate.add_permits(1);
    let response = in_flight
        .await
        .expect("join")
        .expect("the in-flight request was answered");
    assert_eq!(response.status(), 202);
    let stopped = tokio::time::timeout(Duration::from_secs(10), &mut server.handle)
        .await
        .expect("the server stops once the request is answered")
        .expect("join");
    assert!(stopped.is_ok(), "{stopped:?}");
    assert_eq!(server.publisher.count(), 1);
}

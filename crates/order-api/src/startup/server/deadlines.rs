//! Per-connection deadlines, as Go's `net/http` and Envoy keep them apart:
//!
//! - **header read**: a request's headers must arrive within
//!   `header_read_timeout`, counted from the connection's accept or from the
//!   first byte of a later request (slowloris);
//! - **idle**: a kept-alive connection may wait for its next request for
//!   `idle_timeout` after the previous answer.
//!
//! hyper has one timer for both (started as soon as it waits for a request),
//! which would close idle connections after the short header timeout; a load
//! balancer reusing such a connection at that moment gets a reset and answers
//! 502. So the socket ([`DeadlineStream`]) and the connection's service
//! ([`Phase::serve`]) share the connection's [`Phase`] and the socket enforces
//! whichever deadline applies while it waits for bytes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for (the rest of) a request's headers, since then.
    Head(Instant),
    /// A request is being handled: the request and body timeouts apply.
    Busy,
    /// Answered; waiting for the next request, since then.
    Idle(Instant),
}

/// The request cycle of one connection, shared by its socket and its service.
#[derive(Debug, Clone)]
pub struct Phase(Arc<Mutex<State>>);

impl Phase {
    /// A connection accepted now: its first request's headers are due.
    pub fn accepted() -> Self {
        Self(Arc::new(Mutex::new(State::Head(Instant::now()))))
    }

    fn get(&self) -> State {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, state: State) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// Bytes arrived: if the connection was idle, a request has begun.
    fn bytes_arrived(&self) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let State::Idle(_) = *state {
            *state = State::Head(Instant::now());
        }
    }

    /// Runs one request's handling (`answer`): busy while it runs, idle once
    /// it has answered.
    pub fn serve<F: Future>(&self, answer: F) -> impl Future<Output = F::Output> + use<F> {
        self.set(State::Busy);
        let phase = self.clone();
        async move {
            let out = answer.await;
            phase.set(State::Idle(Instant::now()));
            out
        }
    }
}

/// The two deadlines of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// Longest wait for a request's headers.
    pub header_read: Duration,
    /// Longest wait for the next request on a kept-alive connection.
    pub idle: Duration,
}

/// A socket that fails its reads with `TimedOut` once the deadline of the
/// connection's current [`Phase`] has passed while it waits for bytes; hyper
/// then closes the connection.
pub struct DeadlineStream<S> {
    inner: S,
    phase: Phase,
    deadlines: Deadlines,
    timer: Pin<Box<Sleep>>,
}

impl<S> DeadlineStream<S> {
    /// Wraps `inner`, sharing `phase` with the connection's service.
    pub fn new(inner: S, phase: Phase, deadlines: Deadlines) -> Self {
        Self {
            inner,
            phase,
            deadlines,
            timer: Box::pin(tokio::time::sleep(deadlines.header_read)),
        }
    }

    /// Pending while the current deadline (if any) is ahead; an error once it passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (deadline, what) = match self.phase.get() {
            State::Busy => return Poll::Pending,
            State::Head(since) => (since + self.deadlines.header_read, "request headers"),
            State::Idle(since) => (since + self.deadlines.idle, "the next request"),
        };
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out waiting for {what}"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for DeadlineStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.phase.bytes_arrived();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_deadline(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for DeadlineStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    const DEADLINES: Deadlines = Deadlines {
        header_read: Duration::from_secs(5),
        idle: Duration::from_secs(60),
    };

    async fn read_error(stream: &mut DeadlineStream<tokio::io::DuplexStream>) -> Instant {
        let mut buf = [0_u8; 16];
        loop {
            match stream.read(&mut buf).await {
                Ok(n) => assert!(n > 0, "unexpected end of stream"),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
                    return Instant::now();
                }
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn headers_are_due_from_accept_and_from_a_requests_first_byte() {
        let (_client, server) = duplex(64);
        let phase = Phase::accepted();
        let start = Instant::now();
        let mut stream = DeadlineStream::new(server, phase.clone(), DEADLINES);
        assert_eq!(read_error(&mut stream).await - start, DEADLINES.header_read);

        // Idle after an answer: the idle limit applies until bytes arrive...
        let (mut client, server) = duplex(64);
        let phase = Phase::accepted();
        let mut stream = DeadlineStream::new(server, phase.clone(), DEADLINES);
        phase.serve(async {}).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        // ...then the next request's headers are due within the header timeout.
        client.write_all(b"GET").await.expect("write");
        let first_byte = Instant::now();
        assert_eq!(
            read_error(&mut stream).await - first_byte,
            DEADLINES.header_read
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_after_the_idle_limit() {
        let (_client, server) = duplex(64);
        let phase = Phase::accepted();
        let mut stream = DeadlineStream::new(server, phase.clone(), DEADLINES);
        phase.serve(async {}).await;
        let answered = Instant::now();
        assert_eq!(read_error(&mut stream).await - answered, DEADLINES.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_has_no_deadline() {
        let (mut client, server) = duplex(64);
        let phase = Phase::accepted();
        let mut stream = DeadlineStream::new(server, phase.clone(), DEADLINES);
        let handled = phase.serve(async {
            tokio::time::sleep(Duration::from_secs(600)).await;
        });
        let mut buf = [0_u8; 4];
        tokio::select! {
            _ = stream.read(&mut buf) => panic!("read ended while busy"),
            () = tokio::time::sleep(Duration::from_secs(300)) => {}
        }
        handled.await;
        client.write_all(b"next").await.expect("write");
        assert_eq!(stream.read(&mut buf).await.expect("read"), 4);
    }
}

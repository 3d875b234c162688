//! The contract's limits for every body a server sends us, in one place: connecting gets 10 s and
//! the response headers 30 s more; after that a body that delivers less than 64 KiB in any 30 s
//! window has stalled (an idle-read timeout alone lets one byte every 5 s run for hours), and no
//! body is read past the cap its caller names.

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

pub const CONNECT: Duration = Duration::from_secs(10);
pub const HEADERS: Duration = Duration::from_secs(30);
pub const WINDOW: Duration = Duration::from_secs(30);
pub const WINDOW_BYTES: usize = 64 << 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the server stalled: less than 64 KiB in 30 s")]
    Stalled,
    #[error("no response headers within {}s", (CONNECT + HEADERS).as_secs())]
    NoHeaders,
    #[error("the body is larger than {}", crate::core::size::human(*limit as u64))]
    TooLarge { limit: usize },
    #[error("{0}")]
    Transport(String),
}

impl BodyError {
    /// A stall or a broken connection may pass; an oversized body will not.
    pub fn is_transient(&self) -> bool {
        !matches!(self, BodyError::TooLarge { .. })
    }
}

/// Waits for a response's headers: `CONNECT + HEADERS` in all (connecting is bounded by the client).
pub async fn headers<T>(request: impl Future<Output = T>) -> Result<T, BodyError> {
    tokio::time::timeout(CONNECT + HEADERS, request)
        .await
        .map_err(|_| BodyError::NoHeaders)
}

/// A reqwest client with the connect bound and our user agent; callers add what else they need.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("image-resolver/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT)
}

/// The stall rule over a body stream: each window of `WINDOW` must bring `WINDOW_BYTES`, or the
/// end of the body. Errors of the inner stream become `Transport` with their whole cause chain.
pub fn guarded<S, E>(body: S) -> impl Stream<Item = Result<Bytes, BodyError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::error::Error,
{
    let state = (Box::pin(body), Instant::now() + WINDOW, 0usize, false);
    futures_util::stream::unfold(state, |(mut body, deadline, got, done)| async move {
        if done {
            return None;
        }
        match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => Some((Err(BodyError::Stalled), (body, deadline, got, true))),
            Ok(None) => None,
            Ok(Some(Err(e))) => Some((
                Err(BodyError::Transport(super::chain(&e))),
                (body, deadline, got, true),
            )),
            Ok(Some(Ok(chunk))) => {
                let got = got + chunk.len();
                let (deadline, got) = if got >= WINDOW_BYTES {
                    (Instant::now() + WINDOW, 0)
                } else {
                    (deadline, got)
                };
                Some((Ok(chunk), (body, deadline, got, false)))
            }
        }
    })
}

/// Reads a whole body under the stall rule, refusing it once it passes `cap` bytes.
pub async fn read_capped<S, E>(body: S, cap: usize) -> Result<Bytes, BodyError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::error::Error,
{
    let body = guarded(body);
    futures_util::pin_mut!(body);
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge { limit: cap });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// A response's body under the stall rule and a cap.
pub async fn read_response(res: reqwest::Response, cap: usize) -> Result<Bytes, BodyError> {
    if res.content_length().is_some_and(|n| n > cap as u64) {
        return Err(BodyError::TooLarge { limit: cap });
    }
    read_capped(res.bytes_stream(), cap).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// `n` chunks of `size` bytes, one every `every`.
    fn drip(
        n: usize,
        size: usize,
        every: Duration,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> {
        futures_util::stream::iter(0..n).then(move |_| async move {
            tokio::time::sleep(every).await;
            Ok(Bytes::from(vec![7u8; size]))
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_drip_stalls_and_a_steady_body_does_not() {
        // one byte every 5 s: alive to an idle timeout, stalled to us within the first window
        let e = read_capped(drip(1000, 1, Duration::from_secs(5)), 1 << 20).await;
        assert_eq!(e, Err(BodyError::Stalled));
        // 64 KiB every 29 s, for minutes: never stalls
        let ok = read_capped(drip(10, WINDOW_BYTES, Duration::from_secs(29)), 1 << 30).await;
        assert_eq!(ok.unwrap().len(), 10 * WINDOW_BYTES);
        // a small body that completes within the window is fine however slow its pieces
        let ok = read_capped(drip(3, 10, Duration::from_secs(9)), 1 << 20).await;
        assert_eq!(ok.unwrap().len(), 30);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_past_its_cap_is_refused_without_reading_on() {
        let endless =
            futures_util::stream::repeat_with(|| Ok::<_, Infallible>(Bytes::from(vec![0u8; 4096])));
        let e = read_capped(endless, 1 << 20).await;
        assert_eq!(e, Err(BodyError::TooLarge { limit: 1 << 20 }));
        assert!(!e.unwrap_err().is_transient());
    }

    #[tokio::test(start_paused = true)]
    async fn headers_are_bounded() {
        let never = std::future::pending::<()>();
        assert_eq!(headers(never).await, Err(BodyError::NoHeaders));
        assert_eq!(headers(async { 5 }).await, Ok(5));
    }
}

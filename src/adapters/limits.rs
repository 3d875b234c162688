//! The contract's limits for every body a server sends us, in one place: connecting gets 10 s and
//! the response headers 30 s more; after that a body that delivers less than 64 KiB in any 30 s
//! window has stalled (an idle-read timeout alone lets one byte every 5 s run for hours), and no
//! body is read past the cap its caller names.

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
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

/// How far a streamed request body has got: bytes handed to the connection, and its end.
#[derive(Default)]
pub struct Sent {
    bytes: AtomicU64,
    done: AtomicBool,
    ended: Notify,
}

impl Sent {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    pub fn done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

/// The request body `body`, counted into `sent` as the connection takes it.
pub fn sending<S, E>(body: S, sent: Arc<Sent>) -> impl Stream<Item = Result<Bytes, E>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send,
{
    futures_util::stream::unfold((Box::pin(body), sent), |(mut body, sent)| async move {
        match body.next().await {
            Some(item) => {
                if let Ok(chunk) = &item {
                    sent.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
                Some((item, (body, sent)))
            }
            None => {
                sent.done.store(true, Ordering::Release);
                sent.ended.notify_one();
                None
            }
        }
    })
}

/// At most this much of a body may sit in socket buffers, sent as far as we can tell but not
/// yet read by the server (Linux grows a socket's send buffer to 4 MiB, the receiver's more).
const IN_FLIGHT: u64 = 16 << 20;

/// Waits for the answer to a request whose body streams (an upload). While the body is being
/// sent the stall rule applies to it (each `WINDOW` must take `WINDOW_BYTES`, or the end); the
/// headers limit starts once it has been sent, stretched by the time the bytes still in socket
/// buffers take at the rate the server was reading them.
pub async fn upload<T>(sent: &Sent, request: impl Future<Output = T>) -> Result<T, BodyError> {
    futures_util::pin_mut!(request);
    let start = Instant::now();
    // bytes and time at the start of the current window
    let (mut mark, mut since) = (0u64, start);
    // a sample a second over the last `PACE`: the rate the server reads at once socket buffers
    // have filled (they take the first megabytes at memory speed)
    let mut samples: std::collections::VecDeque<(Instant, u64)> = [(start, 0)].into();
    let mut tick = tokio::time::interval_at(start + SAMPLE, SAMPLE);
    while !sent.done() {
        tokio::select! {
            r = &mut request => return Ok(r),
            _ = sent.ended.notified() => {}
            now = tick.tick() => {
                samples.push_back((now, sent.bytes()));
                while samples.len() > 2 && now - samples[1].0 >= PACE {
                    samples.pop_front();
                }
            }
            _ = tokio::time::sleep_until(since + WINDOW) => {
                let now = sent.bytes();
                if !sent.done() && now - mark < WINDOW_BYTES as u64 {
                    return Err(BodyError::Stalled);
                }
                (mark, since) = (now, Instant::now());
            }
        }
    }
    let (total, now) = (sent.bytes(), Instant::now());
    let (t0, b0) = samples.front().copied().unwrap_or((start, 0));
    let rate = (total - b0) as f64 / (now - t0).as_secs_f64().max(0.001);
    let drain = Duration::from_secs_f64(total.min(IN_FLIGHT) as f64 / rate.max(1.0))
        .min(Duration::from_secs(3600));
    tokio::time::timeout(CONNECT + HEADERS + drain, request)
        .await
        .map_err(|_| BodyError::NoHeaders)
}

/// How often an upload's progress is sampled, and over how long its pace is taken.
const SAMPLE: Duration = Duration::from_secs(1);
const PACE: Duration = Duration::from_secs(10);

/// Server text made safe to print: the value after `Basic` or `Bearer` (as an `Authorization`
/// header carries it) and every `secret` — as given and base64-encoded, as a
/// registry echoing our header would show it — become `***`.
pub fn redact_credentials(text: &str, secrets: &[String]) -> String {
    use base64::Engine;
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let mut forms: Vec<String> = Vec::new();
    for s in secrets.iter().filter(|s| s.len() >= 3) {
        forms.push(s.clone());
        forms.extend(engines.iter().map(|e| e.encode(s)));
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let mut out = text.to_string();
    for f in &forms {
        out = out.replace(f.as_str(), "***");
    }
    // `Basic …`, `Bearer …` whatever the secret: the scheme stays, its value goes
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some((i, scheme)) = ["basic", "bearer"]
        .iter()
        .filter_map(|w| find_word(rest, w).map(|i| (i, *w)))
        .min()
    {
        let after = i + scheme.len();
        let value_start = after + rest[after..].len() - rest[after..].trim_start().len();
        let value_end = rest[value_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '}' | ')'))
            .map_or(rest.len(), |e| value_start + e);
        result.push_str(&rest[..after]);
        if value_start > after && value_end > value_start {
            result.push_str(&rest[after..value_start]);
            result.push_str("***");
        }
        rest = &rest[value_end.max(after)..];
    }
    result.push_str(rest);
    result
}

/// The byte offset of `word` (ASCII, matched case-insensitively) standing alone in `s`.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(word).map(|i| i + from) {
        let before = lower[..i].chars().next_back();
        let after = lower[i + word.len()..].chars().next();
        let alone = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
        if alone(before) && after.is_some_and(|c| c == ' ' || c == '\t') {
            return Some(i);
        }
        from = i + word.len();
    }
    None
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

    /// An upload the server reads at `rate` bytes a second, answering `after` its last byte.
    async fn slow_upload(total: usize, rate: usize, after: Duration) -> Result<(), BodyError> {
        let sent = Arc::new(Sent::default());
        let chunk = 16 << 10;
        let every = Duration::from_secs_f64(chunk as f64 / rate as f64);
        let body = sending(drip(total / chunk, chunk, every), sent.clone());
        let server = async move {
            futures_util::pin_mut!(body);
            while body.next().await.is_some() {}
            tokio::time::sleep(after).await;
        };
        upload(&sent, server).await
    }

    #[tokio::test(start_paused = true)]
    async fn an_upload_is_under_the_stall_rule_then_the_headers_limit() {
        // 300 MiB at 5 MiB/s: a minute of sending, then an answer 5 s later
        assert_eq!(
            slow_upload(300 << 20, 5 << 20, Duration::from_secs(5)).await,
            Ok(())
        );
        // a server that reads less than 64 KiB in 30 s has stalled the upload
        assert_eq!(
            slow_upload(1 << 20, 1 << 10, Duration::ZERO).await,
            Err(BodyError::Stalled)
        );
        // the whole body sent, no headers: the headers limit (and the drain time of what was in
        // flight at the server's pace) ends it
        let t = Instant::now();
        assert_eq!(
            slow_upload(4 << 20, 1 << 20, Duration::from_secs(3600)).await,
            Err(BodyError::NoHeaders)
        );
        assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    }

    #[test]
    fn credentials_in_server_text_are_redacted() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode("robot$ci:pa55-word");
        let secrets = vec!["robot$ci:pa55-word".to_string(), "pa55-word".to_string()];
        for (text, gone) in [
            (
                format!("bad header Authorization: Basic {b64}"),
                b64.clone(),
            ),
            (
                format!("echo: \"authorization\":\"basic {b64}\""),
                b64.clone(),
            ),
            (
                "got Bearer eyJhbGciOi.x.y, refused".into(),
                "eyJhbGciOi".into(),
            ),
            (
                "Authorization: Basic\tQUJDREVGRw==".into(),
                "QUJDREVGRw".into(),
            ),
            (format!("no scheme: {b64}"), b64.clone()),
            ("the password pa55-word".into(), "pa55-word".into()),
        ] {
            let r = redact_credentials(&text, &secrets);
            assert!(!r.contains(&gone) && r.contains("***"), "{text} -> {r}");
        }
        let plain = "manifest unknown: the token service said no";
        assert_eq!(redact_credentials(plain, &secrets), plain);
    }

    #[tokio::test(start_paused = true)]
    async fn headers_are_bounded() {
        let never = std::future::pending::<()>();
        assert_eq!(headers(never).await, Err(BodyError::NoHeaders));
        assert_eq!(headers(async { 5 }).await, Ok(5));
    }
}

//! `pull-with: client`: an image's blobs fetched by the action itself. Up to `WINDOW` requests run
//! at once, each on its own connection; a blob larger than `RANGE` is fetched in byte ranges
//! (when the registry, or the store it redirects to, honours `Range`; else in one stream). The
//! ranges are handed on in order, each blob hashed as it passes and checked against its digest
//! at its end, so memory stays about `WINDOW × RANGE` whatever the image's size, and nothing
//! touches the disk. A range is kept as the chunks it arrived in, never copied into one large
//! buffer: large allocations freed and made again would leave the allocator's heaps fragmented. A cut connection is retried: a range from its start, a blob
//! streamed whole from where it broke off (skipping what was sent when ranges are ignored).

use super::session::{checked_digest, redact, scope, Raw};
use super::{locate, ImageManifest, Registry};
use crate::adapters::limits::{self, BodyError};
use crate::core::reference::ImageRef;
use crate::model::{BlobRef, Blobs, FetchFailure, FetchStats, RegistryError};
use crate::retry::{retry, Policy};
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::header::{CONTENT_RANGE, RANGE as RANGE_HEADER};
use sha2::{Digest, Sha256};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// A blob larger than this is fetched in ranges of this size.
pub const RANGE: u64 = 2 << 20;
/// Requests in flight at once (each on its own connection); with `RANGE`, what bounds memory.
pub const WINDOW: usize = 10;

/// What one request brought.
enum Piece {
    /// The blob's bytes from the slot's `start`, as they arrived.
    Bytes(Vec<Bytes>),
    /// The registry ignores `Range`: the rest of the blob is streamed in order by the reader.
    Whole,
}

/// One request's result, in the order the reader needs them; the permit bounds memory until the
/// bytes are handed on.
struct Slot {
    blob: usize,
    start: u64,
    piece: Result<Piece, Raw>,
    _permit: OwnedSemaphorePermit,
}

/// What every request of one pull shares.
struct Fetch {
    registry: Arc<Registry>,
    path: String,
    scopes: Vec<String>,
    stats: Arc<FetchStats>,
    started: std::time::Instant,
}

impl Registry {
    /// The blobs of the image manifest `image` (`repository@digest`): its config read and
    /// checked now, its layers streamed by `Blobs::body` as they arrive.
    pub async fn blobs(
        self: &Arc<Self>,
        image: &ImageRef,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<Blobs, RegistryError> {
        let reference = image.to_string();
        let fail = |raw| self.error(&reference, raw);
        let at = locate(image);
        let pull = vec![scope(&at.path, "pull")];
        let manifest = self
            .manifest(&at.path, &at.reference, &pull, log)
            .await
            .map_err(fail)?;
        let doc: ImageManifest = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| fail(Raw::Protocol(format!("bad image manifest: {e}"))))?;
        let mut layers = Vec::with_capacity(doc.layers.len());
        for l in &doc.layers {
            checked_digest("layer digest", &l.digest).map_err(fail)?;
            if !l.urls.is_empty() || l.media_type.contains("foreign") {
                return Err(fail(Raw::Protocol(format!(
                    "layer {} is a foreign layer, served from elsewhere; set `pull-with: daemon` for this image",
                    l.digest
                ))));
            }
            layers.push(BlobRef {
                digest: l.digest.clone(),
                size: l.size,
            });
        }
        let data = self
            .config_blob(&at.path, &doc.config, &reference, &pull, log)
            .await
            .map_err(fail)?;
        let stats = Arc::new(FetchStats::default());
        let fetch = Arc::new(Fetch {
            registry: self.clone(),
            path: at.path,
            scopes: pull,
            stats: stats.clone(),
            started: std::time::Instant::now(),
        });
        let failure = FetchFailure::default();
        let distinct = Blobs::distinct(&layers);
        let window = Arc::new(Semaphore::new(WINDOW));
        let (slots_tx, slots_rx) = mpsc::channel(WINDOW);
        let (out_tx, out_rx) = mpsc::channel(1);
        tokio::spawn(schedule(
            fetch.clone(),
            distinct.clone(),
            window.clone(),
            slots_tx,
        ));
        tokio::spawn(read_in_order(
            fetch,
            distinct,
            slots_rx,
            out_tx,
            failure.clone(),
            reference.clone(),
        ));
        let body = futures_util::stream::unfold(out_rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(Blobs {
            reference,
            config_digest: doc.config.digest.clone(),
            config: data,
            layers,
            body: Box::pin(body),
            failure,
            stats,
        })
    }
}

/// Starts the requests in the order the reader needs them, at most `WINDOW` at once. A large
/// blob's first range says whether the registry honours ranges; only then are the rest asked.
async fn schedule(
    fetch: Arc<Fetch>,
    blobs: Vec<BlobRef>,
    window: Arc<Semaphore>,
    slots: mpsc::Sender<JoinHandle<Slot>>,
) {
    for (i, blob) in blobs.iter().enumerate() {
        let Ok(permit) = window.clone().acquire_owned().await else {
            return;
        };
        let first = blob.size.min(RANGE);
        let (head_tx, head_rx) = oneshot::channel();
        let head = (blob.size > RANGE).then_some(head_tx);
        let task = tokio::spawn(range(
            fetch.clone(),
            i,
            blob.clone(),
            0,
            first,
            head,
            permit,
        ));
        if slots.send(task).await.is_err() {
            return;
        }
        if blob.size <= RANGE {
            continue;
        }
        // no answer (the first range failed): the reader stops at that error anyway
        if !head_rx.await.unwrap_or(false) {
            continue;
        }
        fetch.stats.ranged_blobs.fetch_add(1, Ordering::Relaxed);
        let mut start = RANGE;
        while start < blob.size {
            let Ok(permit) = window.clone().acquire_owned().await else {
                return;
            };
            let len = (blob.size - start).min(RANGE);
            let task = tokio::spawn(range(
                fetch.clone(),
                i,
                blob.clone(),
                start,
                len,
                None,
                permit,
            ));
            if slots.send(task).await.is_err() {
                return;
            }
            start += len;
        }
    }
}

/// One range of a blob (or the whole of a small one), retried while the fault may pass.
async fn range(
    fetch: Arc<Fetch>,
    i: usize,
    blob: BlobRef,
    start: u64,
    len: u64,
    head: Option<oneshot::Sender<bool>>,
    permit: OwnedSemaphorePermit,
) -> Slot {
    let head = Mutex::new(head);
    let what = format!("blob {} bytes {start}+{len}", blob.digest);
    let piece = retry(
        &fetch.registry.policy(),
        &what,
        &|m: &str| fetch.stats.retried(m),
        Raw::fault,
        || fetch.range_once(&blob, start, len, &head),
    )
    .await;
    Slot {
        blob: i,
        start,
        piece,
        _permit: permit,
    }
}

impl Fetch {
    /// `GET` of the blob, from `start` (and for `len` bytes, when `len` is given).
    async fn get(
        &self,
        blob: &BlobRef,
        start: u64,
        len: Option<u64>,
    ) -> Result<reqwest::Response, Raw> {
        let session = &self.registry.session;
        let url = session.url(&format!("/v2/{}/blobs/{}", self.path, blob.digest));
        let range = match len {
            Some(n) if start == 0 && n == blob.size => None,
            Some(n) => Some(format!("bytes={start}-{}", start + n - 1)),
            None if start == 0 => None,
            None => Some(format!("bytes={start}-")),
        };
        let res = session
            .send_parallel(&self.scopes, |c| {
                let req = c.get(url.clone());
                match &range {
                    Some(r) => req.header(RANGE_HEADER, r),
                    None => req,
                }
            })
            .await?;
        if !res.status().is_success() {
            return Err(session.status_error(res).await);
        }
        Ok(res)
    }

    async fn range_once(
        &self,
        blob: &BlobRef,
        start: u64,
        len: u64,
        head: &Mutex<Option<oneshot::Sender<bool>>>,
    ) -> Result<Piece, Raw> {
        let tell = |ranged: bool| {
            if let Some(tx) = head.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(ranged);
            }
        };
        let res = self.get(blob, start, Some(len)).await?;
        let whole = start == 0 && len == blob.size;
        if res.status().as_u16() == 206 {
            check_content_range(&res, blob, start, len)?;
            tell(true);
        } else if !whole {
            // `Range` ignored (here or at the store a redirect led to): the reader streams it
            tell(false);
            return Ok(Piece::Whole);
        }
        let bytes = read_exact(res, len as usize, blob).await?;
        let counter = match whole {
            true => &self.stats.whole_blobs,
            false => &self.stats.ranges,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(Piece::Bytes(bytes))
    }
}

/// `Content-Range: bytes <start>-<end>/<total>` must be the range asked, of a blob of the size
/// the manifest lists.
fn check_content_range(
    res: &reqwest::Response,
    blob: &BlobRef,
    start: u64,
    len: u64,
) -> Result<(), Raw> {
    let v = res
        .headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed = v.strip_prefix("bytes ").and_then(|r| {
        let (span, total) = r.split_once('/')?;
        let (a, b) = span.split_once('-')?;
        Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?, total))
    });
    match parsed {
        Some((a, b, total)) if a == start && b + 1 == start + len => {
            if total != "*" && total != blob.size.to_string() {
                return Err(Raw::Integrity(format!(
                    "blob {} is {total} bytes at {}, but its manifest lists {}",
                    blob.digest,
                    redact(res.url()),
                    blob.size
                )));
            }
            Ok(())
        }
        _ => Err(Raw::Protocol(format!(
            "blob {}: asked for bytes {start}-{}, the answer has `Content-Range: {}`",
            blob.digest,
            start + len - 1,
            super::session::one_line(v)
        ))),
    }
}

/// Exactly `len` bytes of a body, under the stall rule, in the chunks they arrived in.
async fn read_exact(res: reqwest::Response, len: usize, blob: &BlobRef) -> Result<Vec<Bytes>, Raw> {
    if res.content_length().is_some_and(|n| n > len as u64) {
        return Err(longer(blob));
    }
    let body = limits::guarded(res.bytes_stream());
    futures_util::pin_mut!(body);
    let (mut out, mut got) = (Vec::new(), 0);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| transient(blob, e))?;
        got += chunk.len();
        if got > len {
            return Err(longer(blob));
        }
        out.push(chunk);
    }
    if got < len {
        return Err(Raw::Transient(format!(
            "blob {}: the answer broke off after {got} of {len} bytes",
            blob.digest
        )));
    }
    Ok(out)
}

fn longer(blob: &BlobRef) -> Raw {
    Raw::Integrity(format!(
        "blob {} is larger than the {} bytes its manifest lists",
        blob.digest, blob.size
    ))
}

fn transient(blob: &BlobRef, e: BodyError) -> Raw {
    Raw::Transient(format!("blob {}: {e}", blob.digest))
}

/// Hands the blobs' bytes on in order, each blob hashed and checked at its end. The first
/// failure ends the stream in an error (so the daemon loads nothing) and is kept in `failure`.
async fn read_in_order(
    fetch: Arc<Fetch>,
    blobs: Vec<BlobRef>,
    mut slots: mpsc::Receiver<JoinHandle<Slot>>,
    out: mpsc::Sender<Result<Bytes, std::io::Error>>,
    failure: FetchFailure,
    reference: String,
) {
    let result = async {
        for (i, blob) in blobs.iter().enumerate() {
            let mut hasher = Sha256::new();
            let mut at = 0u64;
            loop {
                if at == blob.size && at > 0 {
                    break;
                }
                let Some(task) = slots.recv().await else {
                    return Err(Raw::Protocol("the blob fetch stopped early".into()));
                };
                let slot = task
                    .await
                    .map_err(|e| Raw::Protocol(format!("a blob fetch failed: {e}")))?;
                // ranges the registry sent already, when it streamed the blob whole
                if slot.blob < i || (slot.blob == i && slot.start < at) {
                    continue;
                }
                if slot.blob != i || slot.start != at {
                    return Err(Raw::Protocol("blob ranges out of order".into()));
                }
                match slot.piece? {
                    Piece::Bytes(chunks) => {
                        for b in chunks {
                            hasher.update(&b);
                            at += b.len() as u64;
                            let n = b.len() as u64;
                            fetch.stats.bytes.fetch_add(n, Ordering::Relaxed);
                            send(&out, b).await?;
                        }
                    }
                    Piece::Whole => {
                        fetch.stats.whole_blobs.fetch_add(1, Ordering::Relaxed);
                        fetch.stream_rest(blob, &mut at, &mut hasher, &out).await?;
                    }
                }
                if blob.size == 0 {
                    break;
                }
            }
            let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
            if actual != blob.digest {
                return Err(Raw::Integrity(format!(
                    "blob {} hashes to {actual}",
                    blob.digest
                )));
            }
        }
        let took = fetch.started.elapsed().as_millis() as u64;
        fetch.stats.last_byte_ms.store(took, Ordering::Relaxed);
        Ok(())
    }
    .await;
    if let Err(raw) = result {
        let stopped = matches!(&raw, Raw::Protocol(m) if m == DAEMON_GONE);
        if !stopped {
            failure.set(fetch.registry.error(&reference, raw));
        }
        let _ = out
            .send(Err(std::io::Error::other("the blob fetch failed")))
            .await;
    }
}

const DAEMON_GONE: &str = "the Docker daemon stopped reading";

async fn send(out: &mpsc::Sender<Result<Bytes, std::io::Error>>, b: Bytes) -> Result<(), Raw> {
    out.send(Ok(b))
        .await
        .map_err(|_| Raw::Protocol(DAEMON_GONE.into()))
}

impl Fetch {
    /// The blob from `at` to its end in one stream: where the registry ignores `Range`. A cut
    /// stream is asked again from where it broke off (skipping what came already when the
    /// registry still ignores ranges), up to the `retries` attempts.
    async fn stream_rest(
        &self,
        blob: &BlobRef,
        at: &mut u64,
        hasher: &mut Sha256,
        out: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    ) -> Result<(), Raw> {
        let policy: Policy = self.registry.policy();
        let mut attempt = 1;
        loop {
            let fault = match self.stream_once(blob, at, hasher, out).await {
                Ok(()) => return Ok(()),
                Err(e @ Raw::Transient(_)) if attempt < policy.attempts => e,
                Err(e) => return Err(e),
            };
            self.stats.retried(&format!(
                "blob {}: attempt {attempt} of {} failed ({fault}); resuming at byte {at}",
                blob.digest, policy.attempts
            ));
            let wait = policy.base * 2u32.saturating_pow(attempt - 1);
            tokio::time::sleep(wait.min(policy.max_wait)).await;
            attempt += 1;
        }
    }

    async fn stream_once(
        &self,
        blob: &BlobRef,
        at: &mut u64,
        hasher: &mut Sha256,
        out: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    ) -> Result<(), Raw> {
        let res = self.get(blob, *at, None).await?;
        // an answer from the start: what was sent already is skipped
        let mut skip = if res.status().as_u16() == 206 {
            check_content_range(&res, blob, *at, blob.size - *at)?;
            0
        } else {
            *at
        };
        let body = limits::guarded(res.bytes_stream());
        futures_util::pin_mut!(body);
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(|e| transient(blob, e))?;
            if skip > 0 {
                let n = skip.min(chunk.len() as u64);
                let _ = chunk.split_to(n as usize);
                skip -= n;
            }
            if chunk.is_empty() {
                continue;
            }
            if *at + chunk.len() as u64 > blob.size {
                return Err(longer(blob));
            }
            hasher.update(&chunk);
            *at += chunk.len() as u64;
            self.stats
                .bytes
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            send(out, chunk).await?;
        }
        if *at < blob.size {
            return Err(Raw::Transient(format!(
                "blob {}: the stream broke off at byte {at} of {}",
                blob.digest, blob.size
            )));
        }
        Ok(())
    }
}

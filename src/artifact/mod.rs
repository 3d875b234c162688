//! The build's artifact, in one streaming pass: download → sha256 → unzip → gunzip → tar checked
//! and re-written → the Docker daemon. Each stage runs on its own thread with a bounded channel
//! to the next, so memory stays a few MiB whatever the artifact's size, and the daemon works
//! while the download still runs. Nothing is trusted before it is checked: the files that carry
//! names are held back, and the end of the tar (with our own `manifest.json`) is only sent once
//! the whole artifact matched its digest and the caller released it (after its revision check).
//! A failure before that ends the tar stream in an error, so the daemon loads nothing.

pub mod image;
mod unzip;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use std::error::Error as StdError;
use std::future::Future;
use std::io::{self, BufReader, Cursor, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

pub use image::TarRefusal;
pub use unzip::is_safe_name;

type BoxError = Box<dyn StdError + Send + Sync>;

const CHUNK: usize = 256 << 10;
/// Chunks in flight between two stages.
const DEPTH: usize = 4;
/// With no size listed, the inflation bound falls back to this.
const UNLISTED_BUDGET: u64 = 32 << 30;
/// The contract: all stages together inflate to at most 20 times the listed size.
const INFLATION: u64 = 20;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("the download broke off")]
    Download(#[source] BoxError),
    #[error("the artifact is larger than the {listed} bytes GitHub lists for it: refused")]
    LargerThanListed { listed: u64 },
    #[error("the artifact's digest is {actual}, but GitHub lists {expected}: the download is corrupt or was replaced")]
    Digest { expected: String, actual: String },
    #[error("the artifact is neither a zip, a gzip nor a tar (first bytes {0})")]
    UnknownFormat(String),
    #[error("the artifact has no .tar, .tar.gz or .tgz file (it has: {0}); set `artifact-file`")]
    NoTar(String),
    #[error("the artifact has several image tars ({0}); set `artifact-file` to one of them")]
    SeveralTars(String),
    #[error("the artifact has no file `{name}` (it has: {have})")]
    NoSuchEntry { name: String, have: String },
    #[error("the artifact's entry `{0}` is not a safe relative file name (absolute, `..`, drive letter or a link): refused")]
    UnsafeEntry(String),
    #[error("the artifact has the entry `{0}` more than once: refused")]
    DuplicateEntry(String),
    #[error("the artifact's entry `{name}` inflates past its declared {declared} bytes (a zip bomb?): refused")]
    EntryBomb { name: String, declared: u64 },
    #[error("the artifact inflates past {} (20 times its listed size): refused as a decompression bomb", crate::core::size::human(*limit))]
    Bomb { limit: u64 },
    #[error("the artifact is corrupt: {0}")]
    Corrupt(String),
    #[error("the artifact's zip cannot be read as it streams: {0}")]
    Layout(String),
    #[error("`{entry}` is not a `docker save` tar: not a tar or gzip (first bytes {head})")]
    NotArchive { entry: String, head: String },
    #[error("`{entry}` is not a `docker save` tar we load: {reason}")]
    Tar { entry: String, reason: TarRefusal },
    #[error("the Docker daemon stopped reading the image")]
    Aborted,
    #[error("the image was not released for loading")]
    NotReleased,
    #[error("reading the artifact: {0}")]
    Io(String),
}

impl From<io::Error> for ArtifactError {
    fn from(e: io::Error) -> Self {
        ArtifactError::Io(e.to_string())
    }
}

impl ArtifactError {
    /// A broken download may pass on another attempt; nothing else here will.
    pub fn is_transient(&self) -> bool {
        matches!(self, ArtifactError::Download(_))
    }
}

/// What the caller knows about the artifact before the first byte.
#[derive(Debug, Clone, Default)]
pub struct ArtifactOptions {
    /// `sha256:<hex>` as GitHub lists it, when it does.
    pub expected_digest: Option<String>,
    /// `size_in_bytes` as GitHub lists it (0: unknown).
    pub listed_size: u64,
    /// The `artifact-file` input: which entry of the zip is the image.
    pub artifact_file: Option<String>,
    /// Where a spool goes (`RUNNER_TEMP`); `None`: `/tmp`.
    pub temp_dir: Option<std::path::PathBuf>,
}

/// Everything checked about the artifact and its image, once the whole stream has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The zip entry that held the image, or "(the artifact itself)".
    pub entry_name: String,
    /// `org.opencontainers.image.revision` from the image config.
    pub revision: Option<String>,
    /// sha256 of the config bytes checked: the image ID the daemon must report.
    pub config_digest: String,
    /// sha256 of the `docker save` tar (after any gunzip): the attestation subject.
    pub tar_sha256: String,
    /// sha256 of the artifact as downloaded: what GitHub lists.
    pub artifact_digest: String,
    /// Bytes downloaded.
    pub bytes: u64,
    pub note: Option<String>,
}

/// Lets the end of the tar go to the daemon. Dropping it instead aborts the load.
pub struct Release(tokio::sync::oneshot::Sender<()>);

impl Release {
    pub fn release(self) {
        let _ = self.0.send(());
    }
}

/// The first error of any stage (later ones are consequences), and the entry being read.
#[derive(Clone, Default)]
struct Failure(Arc<Mutex<Option<ArtifactError>>>, Arc<Mutex<String>>);

impl Failure {
    fn set_entry(&self, name: &str) {
        *self.1.lock().unwrap_or_else(|p| p.into_inner()) = name.to_string();
    }
    fn tar(&self, reason: TarRefusal) -> ArtifactError {
        ArtifactError::Tar {
            entry: self.1.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            reason,
        }
    }
    fn set(&self, e: ArtifactError) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
    }
    fn take(&self) -> ArtifactError {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.take().unwrap_or(ArtifactError::Aborted)
    }
}

/// The inflation bound, shared by every stage that decompresses.
pub struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    fn new(listed: u64) -> Budget {
        let limit = if listed == 0 {
            UNLISTED_BUDGET
        } else {
            listed.saturating_mul(INFLATION)
        };
        Budget {
            limit,
            used: AtomicU64::new(0),
        }
    }
    fn spend(&self, n: u64) -> io::Result<()> {
        let used = self.used.fetch_add(n, Ordering::Relaxed) + n;
        if used > self.limit {
            return Err(io::Error::other(BOMB));
        }
        Ok(())
    }
}

const BOMB: &str = "inflation budget exceeded";

enum Msg {
    Data(Vec<u8>),
    End,
}

/// The receiving end of a stage: a clean end only when the stage before said so.
struct ChunkReader {
    rx: Receiver<Msg>,
    cur: Vec<u8>,
    at: usize,
    ended: bool,
    hasher: Option<Sha256>,
}

impl ChunkReader {
    fn new(rx: Receiver<Msg>, hash: bool) -> ChunkReader {
        ChunkReader {
            rx,
            cur: Vec::new(),
            at: 0,
            ended: false,
            hasher: hash.then(Sha256::new),
        }
    }
    fn drain(&mut self) -> io::Result<()> {
        io::copy(self, &mut io::sink()).map(|_| ())
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.cur.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Msg::Data(d)) => {
                    if let Some(h) = &mut self.hasher {
                        h.update(&d);
                    }
                    self.cur = d;
                    self.at = 0;
                }
                Ok(Msg::End) => self.ended = true,
                Err(_) => return Err(io::Error::other("an earlier stage failed")),
            }
        }
        let n = buf.len().min(self.cur.len() - self.at);
        buf[..n].copy_from_slice(&self.cur[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Where a stage's chunks go: the next stage's channel, or the async side's.
trait Sink {
    fn put(&mut self, chunk: Vec<u8>) -> io::Result<()>;
}

impl Sink for SyncSender<Msg> {
    fn put(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        self.send(Msg::Data(chunk))
            .map_err(|_| io::Error::other("a later stage stopped"))
    }
}

impl Sink for tokio::sync::mpsc::Sender<Bytes> {
    fn put(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        self.blocking_send(Bytes::from(chunk))
            .map_err(|_| io::Error::other(DAEMON_GONE))
    }
}

const DAEMON_GONE: &str = "the daemon stopped reading";

/// The sending end of a stage, in chunks of `CHUNK`.
struct Chunked<S> {
    tx: S,
    buf: Vec<u8>,
}

/// Between stages; the tar for the daemon.
type ChunkWriter = Chunked<SyncSender<Msg>>;
type OutWriter = Chunked<tokio::sync::mpsc::Sender<Bytes>>;

impl<S: Sink> Chunked<S> {
    fn new(tx: S) -> Chunked<S> {
        Chunked {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }
    fn send(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.tx.put(full)?;
        }
        Ok(())
    }
}

impl ChunkWriter {
    fn end(mut self) -> io::Result<()> {
        self.send()?;
        self.tx
            .send(Msg::End)
            .map_err(|_| io::Error::other("a later stage stopped"))
    }
}

impl<S: Sink> Write for Chunked<S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The download, hashed and counted as it is read, on the blocking side.
struct Incoming {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, BoxError>>,
    cur: Bytes,
    hasher: Sha256,
    bytes: u64,
    listed: u64,
    failure: Failure,
}

impl Read for Incoming {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => {
                    self.bytes += b.len() as u64;
                    if self.listed > 0 && self.bytes > self.listed {
                        self.failure.set(ArtifactError::LargerThanListed {
                            listed: self.listed,
                        });
                        return Err(io::Error::other("larger than listed"));
                    }
                    self.hasher.update(&b);
                    self.cur = b;
                }
                Some(Err(e)) => {
                    self.failure.set(ArtifactError::Download(e));
                    return Err(io::Error::other("the download broke off"));
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

/// Up to `n` bytes from the front of `r`, fewer only at its end.
fn peek<R: Read + ?Sized>(r: &mut R, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    r.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Zip,
    Gzip,
    Tar,
}

fn sniff(head: &[u8]) -> Option<Kind> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(Kind::Zip)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some(Kind::Gzip)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(Kind::Tar)
    } else {
        None
    }
}

/// Stage 1's end: the image's bytes (gunzipped when needed) on to stage 2, to their end.
fn feed_image(
    entry: &str,
    rd: &mut dyn Read,
    budget: &Budget,
    tx: &SyncSender<Msg>,
) -> Result<(), ArtifactError> {
    let head = peek(rd, 512)?;
    let kind = sniff(&head);
    let mut src = Cursor::new(head.clone()).chain(rd);
    let mut out = ChunkWriter::new(tx.clone());
    let copied = match kind {
        Some(Kind::Tar) => io::copy(&mut src, &mut out),
        Some(Kind::Gzip) => {
            let mut gz = flate2::bufread::MultiGzDecoder::new(BufReader::new(src));
            let mut buf = vec![0u8; 64 << 10];
            let mut total = 0u64;
            loop {
                let n = match gz.read(&mut buf) {
                    Ok(0) => break Ok(total),
                    Ok(n) => n,
                    Err(e) => break Err(e),
                };
                budget.spend(n as u64)?;
                out.write_all(&buf[..n])?;
                total += n as u64;
            }
        }
        _ => {
            return Err(ArtifactError::NotArchive {
                entry: entry.into(),
                head: hex::encode(&head[..head.len().min(8)]),
            })
        }
    };
    copied.map_err(|e| match e.to_string().as_str() {
        m if m == BOMB => ArtifactError::Io(BOMB.into()),
        _ if kind == Some(Kind::Gzip) => {
            ArtifactError::Corrupt(format!("`{entry}` does not decompress: {e}"))
        }
        _ => ArtifactError::from(e),
    })?;
    out.end()?;
    Ok(())
}

struct StageOne {
    entry_name: String,
    note: Option<String>,
    artifact_digest: String,
    bytes: u64,
}

/// Stage 1: download bytes → sha256 → zip (or not) → the image's tar bytes.
fn stage_one(
    incoming: Incoming,
    opts: &ArtifactOptions,
    budget: &Budget,
    tx: &SyncSender<Msg>,
    failure: &Failure,
) -> Result<StageOne, ArtifactError> {
    let mut r = BufReader::with_capacity(CHUNK, incoming);
    let head = peek(&mut r, 512)?;
    let kind = sniff(&head);
    let mut r = BufReader::with_capacity(CHUNK, Cursor::new(head.clone()).chain(r));
    let mut note = None;
    let entry_name = match kind {
        Some(Kind::Zip) => {
            let mut sig = [0u8; 4];
            r.read_exact(&mut sig)?;
            if u32::from_le_bytes(sig) != 0x0403_4b50 {
                // an empty zip: only its end record
                return Err(ArtifactError::NoTar("nothing".into()));
            }
            let walk = unzip::Walk {
                wanted: opts.artifact_file.as_deref(),
                budget,
                temp_dir: opts
                    .temp_dir
                    .as_deref()
                    .unwrap_or(std::path::Path::new("/tmp")),
                spool_limit: if opts.listed_size == 0 {
                    UNLISTED_BUDGET
                } else {
                    opts.listed_size
                },
            };
            let found = walk.run(&mut r, &mut |name, rd| {
                failure.set_entry(name);
                feed_image(name, rd, budget, tx)
            })?;
            note = found.note;
            found.entry_name
        }
        Some(_) => {
            let name = "(the artifact itself)".to_string();
            failure.set_entry(&name);
            feed_image(&name, &mut r, budget, tx)?;
            name
        }
        None => {
            return Err(ArtifactError::UnknownFormat(hex::encode(
                &head[..head.len().min(8)],
            )))
        }
    };
    io::copy(&mut r, &mut io::sink())?;
    let incoming = r.into_inner().into_inner().1.into_inner();
    finish_one(incoming, opts, entry_name, note)
}

fn finish_one(
    incoming: Incoming,
    opts: &ArtifactOptions,
    entry_name: String,
    note: Option<String>,
) -> Result<StageOne, ArtifactError> {
    let artifact_digest = format!("sha256:{}", hex::encode(incoming.hasher.finalize()));
    if let Some(want) = &opts.expected_digest {
        if !want.eq_ignore_ascii_case(&artifact_digest) {
            return Err(ArtifactError::Digest {
                expected: want.clone(),
                actual: artifact_digest,
            });
        }
    }
    Ok(StageOne {
        entry_name,
        note,
        artifact_digest,
        bytes: incoming.bytes,
    })
}

/// The pipeline from the download's byte stream to the daemon's. Returns the tar stream for
/// `DockerDaemon::load` and a future that resolves once everything but the end of the tar has
/// passed and been checked: then the caller checks the revision and calls `Release::release`
/// (or drops it, and the load fails). Poll both together (`tokio::join!`).
pub fn pipeline<S, E>(
    download: S,
    opts: ArtifactOptions,
) -> (
    impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static,
    impl Future<Output = Result<(Checked, Release), ArtifactError>> + Send + 'static,
)
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: StdError + Send + Sync + 'static,
{
    let failure = Failure::default();
    let (in_tx, in_rx) = tokio::sync::mpsc::channel::<Result<Bytes, BoxError>>(16);
    tokio::spawn(async move {
        futures_util::pin_mut!(download);
        while let Some(item) = download.next().await {
            let item = item.map_err(|e| Box::new(e) as BoxError);
            if in_tx.send(item).await.is_err() {
                break;
            }
        }
    });
    let (tar_tx, tar_rx) = sync_channel::<Msg>(DEPTH);
    let (framed_tx, framed_rx) = sync_channel::<Msg>(DEPTH);
    let (one_tx, one_rx) = sync_channel::<StageOne>(1);
    let (sum_tx, sum_rx) = sync_channel::<String>(1);
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Bytes>(DEPTH);
    let (verdict_tx, verdict_rx) = tokio::sync::oneshot::channel();
    let clean_end = Arc::new(AtomicBool::new(false));

    let budget = Arc::new(Budget::new(opts.listed_size));
    {
        let (failure, opts, budget) = (failure.clone(), opts.clone(), budget.clone());
        let incoming = Incoming {
            rx: in_rx,
            cur: Bytes::new(),
            hasher: Sha256::new(),
            bytes: 0,
            listed: opts.listed_size,
            failure: failure.clone(),
        };
        spawn("artifact-unzip", move || {
            // each stage records its error before its channels close, so the first error wins
            match stage_one(incoming, &opts, &budget, &tar_tx, &failure) {
                Ok(one) => {
                    let _ = one_tx.send(one);
                }
                Err(ArtifactError::Io(m)) if m == BOMB => failure.set(ArtifactError::Bomb {
                    limit: budget.limit,
                }),
                Err(e) => failure.set(e),
            }
            drop((tar_tx, one_tx));
        });
    }
    {
        let failure = failure.clone();
        spawn("artifact-frame", move || {
            let mut input = ChunkReader::new(tar_rx, true);
            let mut out = ChunkWriter::new(framed_tx);
            let result = image::frame(&mut input, &mut out)
                .map_err(|r| failure.tar(r))
                .and_then(|()| {
                    input.drain()?;
                    out.send()?;
                    out.tx.send(Msg::End).map_err(|_| ArtifactError::Aborted)?;
                    Ok(())
                });
            match result {
                Ok(()) => {
                    let sum = input.hasher.take().expect("hashing").finalize();
                    let _ = sum_tx.send(format!("sha256:{}", hex::encode(sum)));
                }
                Err(e) => failure.set(e),
            }
            drop((out, sum_tx));
        });
    }
    {
        let (failure, clean_end) = (failure.clone(), clean_end.clone());
        spawn("artifact-tar", move || {
            let out = OutWriter::new(out_tx);
            let mut verdict = Some(verdict_tx);
            match stage_two(framed_rx, out, one_rx, sum_rx, &mut verdict, &failure) {
                // marked clean before the channel closes, so the stream ends without an error
                Ok(out) => {
                    clean_end.store(true, Ordering::SeqCst);
                    drop(out);
                }
                Err(e) => failure.set(e),
            }
            drop(verdict);
        });
    }
    let stream = futures_util::stream::unfold(
        (out_rx, clean_end, false),
        |(mut rx, clean, done)| async move {
            if done {
                return None;
            }
            match rx.recv().await {
                Some(b) => Some((Ok(b), (rx, clean, false))),
                None if clean.load(Ordering::SeqCst) => None,
                // the stage ended without the end of the tar: the daemon must not load a thing
                None => Some((
                    Err(io::Error::other("the artifact was refused")),
                    (rx, clean, true),
                )),
            }
        },
    );
    let verdict = async move {
        match verdict_rx.await {
            Ok(v) => Ok(v),
            Err(_) => Err(failure.take()),
        }
    };
    (stream, verdict)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .expect("spawning a thread");
}

type Verdict = Option<tokio::sync::oneshot::Sender<(Checked, Release)>>;

/// Stage 2: the framed tar parsed and re-written; the verdict once stage 1 has finished; the
/// end of the tar once released.
fn stage_two(
    framed: Receiver<Msg>,
    out: OutWriter,
    one: Receiver<StageOne>,
    sum: Receiver<String>,
    verdict: &mut Verdict,
    failure: &Failure,
) -> Result<OutWriter, ArtifactError> {
    let tar = |reason| failure.tar(reason);
    let mut input = ChunkReader::new(framed, false);
    let mut builder = tar::Builder::new(out);
    let seen = image::read_entries(&mut input, &mut builder).map_err(tar)?;
    input.drain()?;
    let (Ok(one), Ok(tar_sha256)) = (one.recv(), sum.recv()) else {
        return Err(ArtifactError::Aborted);
    };
    let layout = image::find_layout(&seen).map_err(tar)?;
    let image = image::check_image(&seen, &layout).map_err(tar)?;
    let (release_tx, release_rx) = tokio::sync::oneshot::channel();
    let checked = Checked {
        entry_name: one.entry_name,
        revision: image.revision,
        config_digest: image.config_digest,
        tar_sha256,
        artifact_digest: one.artifact_digest,
        bytes: one.bytes,
        note: one.note,
    };
    let sent = verdict
        .take()
        .is_some_and(|v| v.send((checked, Release(release_tx))).is_ok());
    if !sent {
        return Err(ArtifactError::NotReleased);
    }
    release_rx
        .blocking_recv()
        .map_err(|_| ArtifactError::NotReleased)?;
    let mut out = image::finish(builder, &layout).map_err(|e| daemon_or_io(&e))?;
    out.flush().map_err(|e| daemon_or_io(&e))?;
    Ok(out)
}

fn daemon_or_io(e: &io::Error) -> ArtifactError {
    if e.to_string() == DAEMON_GONE {
        ArtifactError::Aborted
    } else {
        ArtifactError::Io(e.to_string())
    }
}

//! What crosses the ports, as plain data: the answers of a registry, the Docker daemon and
//! GitHub, and their errors. Below both the port traits (src/flow/ports.rs) and the adapters
//! that implement them, so neither imports the other's types.

use crate::core::reference::is_docker_hub;
use std::collections::BTreeMap;

// --- registry

#[derive(Debug, Clone)]
pub struct RemoteImage {
    /// The digest the reference resolves to: the index's for a multi-platform image.
    pub digest: String,
    /// The platform's own manifest digest.
    pub manifest_digest: String,
    pub config_digest: String,
    pub labels: BTreeMap<String, String>,
    pub layers: usize,
    pub size: u64,
    pub platform: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("`{reference}` does not exist in the registry (tag or repository unknown): check that the build pushed this tag (its `mode: compute` gives the same one), or set `wait-timeout` to wait for it")]
    NotFound { reference: String },
    #[error("`{reference}`: the registry `{registry}` has no repository `{repository}` (NAME_UNKNOWN): check `image` (or its line in `images`) for a typo, and that the build pushes to this repository")]
    NoRepository {
        registry: String,
        repository: String,
        reference: String,
    },
    #[error("`{registry}` refused the credentials for `{reference}` (401){}", hint(*.with_credentials))]
    Unauthorized {
        registry: String,
        reference: String,
        with_credentials: bool,
    },
    #[error("`{registry}` denied access to `{reference}` (403): the credentials work but may not pull this repository")]
    Denied { registry: String, reference: String },
    #[error("{}", unreachable(registry, reference, *attempts, detail, rate_limit.as_deref(), *with_credentials))]
    Unreachable {
        registry: String,
        reference: String,
        attempts: u32,
        detail: String,
        /// The registry's rate limit is used up (`429`, `ratelimit-remaining: 0`): what it said
        /// its limit is. Not retried: the window is hours long.
        rate_limit: Option<String>,
        with_credentials: bool,
    },
    #[error("`{reference}`: the registry's answer is not usable: {detail}")]
    Protocol { reference: String, detail: String },
    #[error("`{reference}`: integrity check failed, possible tampering: {detail}. Nothing from this answer was used; check the registry (or a proxy in front of it) before trusting it again")]
    Integrity { reference: String, detail: String },
    #[error("`{reference}` is a multi-platform image without `{wanted}` (it has: {available}); set `platform`")]
    NoPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    /// The login port could not say who we are (a credential helper that failed).
    #[error("logging in to `{registry}` failed: {detail}")]
    Login { registry: String, detail: String },
    #[error("promoting to `{target}` failed: {reason}; {}", written_note(written))]
    Promote {
        target: String,
        reason: String,
        /// `repository:tag@digest` of the targets that hold the digest already.
        written: Vec<String>,
    },
}

fn written_note(written: &[String]) -> String {
    if written.is_empty() {
        "no target was written".into()
    } else {
        format!("already holding the digest: {}", written.join(", "))
    }
}

fn unreachable(
    registry: &str,
    reference: &str,
    attempts: u32,
    detail: &str,
    rate_limit: Option<&str>,
    with_credentials: bool,
) -> String {
    let Some(limit) = rate_limit else {
        return format!(
            "`{registry}` could not be reached for `{reference}` after {attempts} attempt(s): {detail}"
        );
    };
    let (whose, fix) = match (is_docker_hub(registry), with_credentials) {
        (true, false) => ("Docker Hub's pull rate limit for anonymous pulls", "log in with `registry-username` and `registry-password` (a Docker Hub access token): logged-in pulls count against your account, not the runner's shared address"),
        (true, true) => ("Docker Hub's pull rate limit for this account", "wait until the window frees pulls, or use an account with a higher limit (`registry-username` / `registry-password`)"),
        (false, false) => ("the registry's rate limit", "log in (`registry-username` / `registry-password`) or wait until the window frees requests"),
        (false, true) => ("the registry's rate limit for this account", "wait until the window frees requests"),
    };
    format!("`{registry}` refused `{reference}`: {whose} is used up (429 TOOMANYREQUESTS, {limit}); not retried, the limit counts over hours: {fix}")
}

fn hint(with_credentials: bool) -> &'static str {
    if with_credentials {
        ": check `registry-username` / `registry-password` (for ghcr.io: a token with read:packages)"
    } else {
        ": the image is private; set `registry-username` and `registry-password`"
    }
}

impl RegistryError {
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            RegistryError::NotFound { .. } | RegistryError::NoRepository { .. }
        )
    }
    /// Missing, or still unreachable after retries: "no usable image" in the contract's words.
    /// Never an integrity failure: a tampered answer is not a reason to look elsewhere.
    pub fn means_no_usable_image(&self) -> bool {
        matches!(
            self,
            RegistryError::NotFound { .. }
                | RegistryError::NoRepository { .. }
                | RegistryError::Unreachable { .. }
        )
    }
    pub fn is_integrity(&self) -> bool {
        matches!(self, RegistryError::Integrity { .. })
    }
    /// Run by the runner, a loopback registry that cannot be reached is the usual mistake of a
    /// container action, which has a network of its own: the error says so.
    pub fn in_own_network(self) -> RegistryError {
        match self {
            RegistryError::Unreachable {
                registry,
                reference,
                attempts,
                detail,
                rate_limit: None,
                with_credentials,
            } if crate::core::reference::is_loopback_registry(&registry) => {
                let detail = format!("{detail}; the action runs in a network of its own, where loopback is the action itself, not the runner: name a `services:` registry by its service name and port (`registry:5000`, listed in `insecure-registries`)");
                RegistryError::Unreachable {
                    registry,
                    reference,
                    attempts,
                    detail,
                    rate_limit: None,
                    with_credentials,
                }
            }
            e => e,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promoted {
    /// `repository:tag@digest`
    pub reference: String,
    /// False when the target already held the digest and was left untouched (on a dry run:
    /// true when it would be written).
    pub written: bool,
    /// How its blobs got there (would get there).
    pub blobs: crate::core::promote::Blobs,
    /// The source digest's referrers at this target.
    pub referrers: crate::core::promote::Carried,
}

// --- Docker daemon

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach the Docker daemon at {host}: {detail}; mount the socket or set DOCKER_HOST (verify and compute modes need no daemon)")]
    Unreachable { host: String, detail: String },
    #[error("the Docker daemon at {host} speaks API {version}, older than 1.40 (Docker 19.03): upgrade Docker")]
    TooOld { host: String, version: String },
    #[error("docker pull {reference} failed: {detail}")]
    Pull { reference: String, detail: String },
    #[error("docker load of {what} failed: {detail}")]
    Load { what: String, detail: String },
    #[error("Docker daemon: {action} failed: {detail}")]
    Api { action: String, detail: String },
}

#[derive(Debug, Clone)]
pub struct LocalImage {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
}

/// An artifact loaded untagged: nothing trusts it yet.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: String,
    pub entry_name: String,
    /// The revision label of the config that was loaded.
    pub revision: Option<String>,
    /// `sha256:` of the image tar itself: what `attest-build-provenance` signs for a file.
    pub tar_digest: Option<String>,
}

// --- GitHub

#[derive(Debug, Clone)]
pub struct ArtifactInfo {
    pub id: u64,
    pub name: String,
    pub size: u64,
    /// `sha256:…`, as GitHub lists it for artifacts uploaded by upload-artifact v4+.
    pub digest: Option<String>,
}

/// A manifest as clean mode reads it: its digest, what it holds on to, and its config (an
/// image's; none for an index), whose `created` dates a branch's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFacts {
    pub digest: String,
    pub node: crate::core::clean::Node,
    pub config: Option<String>,
}

// --- GitHub: git trees

/// One entry of a git tree as `git/trees/{sha}` lists it: a name (never a path: a tree lists
/// its own entries only) and its object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    pub name: String,
    /// A directory, walked into; anything else (a blob, a submodule's commit) is a leaf.
    pub is_tree: bool,
    /// 40 hex, lower-case.
    pub sha: String,
}

// --- client pull (`pull-with: client`)

/// One blob as a manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// `sha256:<64 hex>`, checked.
    pub digest: String,
    pub size: u64,
}

/// The layers' bytes, one distinct layer after another in manifest order.
pub type BlobBody = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send>,
>;

/// An image's blobs as the action fetches them: the config (checked), and the layers' bytes in
/// manifest order, each distinct layer once and checked against its digest as it ends. When a
/// fetch fails, `body` ends in an error and `failure` says why.
pub struct Blobs {
    /// `repository@digest` of the image manifest the blobs belong to.
    pub reference: String,
    pub config_digest: String,
    pub config: bytes::Bytes,
    /// Every layer in manifest order, repeats kept (the config's diff IDs count them).
    pub layers: Vec<BlobRef>,
    pub body: BlobBody,
    pub failure: FetchFailure,
    pub stats: std::sync::Arc<FetchStats>,
}

impl Blobs {
    /// Each layer once, in the order it first appears: the order of `body`.
    pub fn distinct(layers: &[BlobRef]) -> Vec<BlobRef> {
        let mut out: Vec<BlobRef> = Vec::new();
        for l in layers {
            if !out.iter().any(|o| o.digest == l.digest) {
                out.push(l.clone());
            }
        }
        out
    }
}

/// The first error of a client fetch (later ones are its consequences).
#[derive(Clone, Default)]
pub struct FetchFailure(std::sync::Arc<std::sync::Mutex<Option<RegistryError>>>);

impl FetchFailure {
    pub fn set(&self, e: RegistryError) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
    }
    pub fn take(&self) -> Option<RegistryError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// What a client fetch did, for its log line.
#[derive(Debug, Default)]
pub struct FetchStats {
    /// Blobs fetched in ranges, and the ranges.
    pub ranged_blobs: std::sync::atomic::AtomicU64,
    pub ranges: std::sync::atomic::AtomicU64,
    /// Blobs fetched in one request (small, or the registry ignored `Range`).
    pub whole_blobs: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
    /// Milliseconds from the first request to the last byte handed to the daemon.
    pub last_byte_ms: std::sync::atomic::AtomicU64,
    /// Retries, as lines for the log (the fetch runs outside the image's log).
    pub retries: std::sync::Mutex<Vec<String>>,
}

impl FetchStats {
    /// At most this many retry lines are kept.
    const KEEP: usize = 20;
    pub fn retried(&self, line: &str) {
        let mut v = self.retries.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() < Self::KEEP {
            v.push(line.to_string());
        }
    }
}

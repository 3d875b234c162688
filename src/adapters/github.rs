//! The GitHub REST API through `octocrab`, its base URL from `GITHUB_API_URL` (GHES works alike).
//! Requests are raw so that status codes and rate-limit headers stay visible to the retry policy.

use super::{chain, limits};
pub use crate::model::ArtifactInfo;
use crate::retry::{retry, Fault, Logger, Policy};
use http::StatusCode;
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// GitHub's answers we read are lists of PRs and artifacts; anything larger is not one.
const MAX_RESPONSE: usize = 16 << 20;

pub struct GitHubConfig {
    pub api_url: String,
    pub token: String,
    /// `owner/name`
    pub repository: String,
    pub retries: u32,
    pub log: Logger,
    /// Each request and its status, for `RUNNER_DEBUG=1`.
    pub debug: Logger,
}

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub API {what}: 401 bad credentials: `github-token` is invalid or expired")]
    Unauthorized { what: String },
    #[error("GitHub API {what}: 403 forbidden: the token needs `actions: read` (artifacts) and `pull-requests: read` (PR look-ups) in the job's `permissions`")]
    Forbidden { what: String },
    #[error("GitHub API {what}: 404 not found: check the repository and `run-id`, and that the token has `actions: read`")]
    NotFound { what: String },
    #[error("GitHub API {what}: 410 gone: the artifact has expired (see its retention days); re-run the build to upload it again")]
    Expired { what: String },
    #[error("GitHub API {what}: rate limit still exhausted after {attempts} attempt(s)")]
    RateLimited { what: String, attempts: u32 },
    #[error("GitHub API {what}: HTTP {status} after {attempts} attempt(s)")]
    Server {
        what: String,
        status: u16,
        attempts: u32,
    },
    #[error("GitHub API {what}: unexpected HTTP {status}: {body}")]
    Unexpected {
        what: String,
        status: u16,
        body: String,
    },
    #[error("GitHub API {what}: {detail}")]
    Transport { what: String, detail: String },
    #[error("run {run_id} has no artifact named `{name}`; its artifacts: {available}. Set `artifact-name` to one of them, or `run-id` to the build run")]
    NoArtifact {
        run_id: u64,
        name: String,
        available: String,
    },
    #[error("artifact `{name}` of run {run_id} has expired; re-run the build to upload it again")]
    ArtifactExpired { run_id: u64, name: String },
    #[error("GitHub API {what}: commit `{sha}` is not in `{repository}`: check that it was pushed to this repository (a fork's commit is not), or pass the right `sha`")]
    UnknownCommit {
        what: String,
        sha: String,
        repository: String,
    },
    #[error("GitHub API {what}: tree `{sha}` is listed as truncated (more entries than the API lists at once): name a deeper directory in `paths`, so that no tree walked is that large")]
    Truncated { what: String, sha: String },
}

/// What one attempt saw, for the retry policy.
#[derive(Debug)]
enum Attempt {
    Retry {
        status: Option<u16>,
        wait: Option<Duration>,
        rate_limited: bool,
        detail: String,
    },
    Fatal(GitHubError),
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Attempt::Retry { detail, .. } => f.write_str(detail),
            Attempt::Fatal(e) => write!(f, "{e}"),
        }
    }
}

pub struct GitHub {
    octo: Octocrab,
    repository: String,
    retries: u32,
    calls: AtomicU32,
    log: Logger,
    debug: Logger,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    /// The body as read (at most 16 MiB): parsed by each caller into the fields it uses.
    pub body: bytes::Bytes,
}

/// Visits the elements of a JSON array — the answer itself, or the array under `key` of the
/// answer's object — one at a time as `T`, keeping none: a page of a million tiny objects costs
/// one element at a time, never a tree of the page. An answer of another shape visits nothing
/// (an element that is not a `T` ends the visit).
fn each<T: DeserializeOwned>(body: &[u8], key: Option<&str>, mut f: impl FnMut(T)) {
    let seq = Each {
        f: &mut f,
        t: PhantomData,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = match key {
        None => seq.deserialize(&mut de),
        Some(key) => Keyed { key, seq }.deserialize(&mut de),
    };
}

struct Each<'f, T, F> {
    f: &'f mut F,
    t: PhantomData<T>,
}

impl<'de, T: serde::Deserialize<'de>, F: FnMut(T)> DeserializeSeed<'de> for Each<'_, T, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: serde::Deserialize<'de>, F: FnMut(T)> Visitor<'de> for Each<'_, T, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(x) = seq.next_element::<T>()? {
            (self.f)(x);
        }
        Ok(())
    }
}

struct Keyed<'k, 'f, T, F> {
    key: &'k str,
    seq: Each<'f, T, F>,
}

impl<'de, T: serde::Deserialize<'de>, F: FnMut(T)> DeserializeSeed<'de> for Keyed<'_, '_, T, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: serde::Deserialize<'de>, F: FnMut(T)> Visitor<'de> for Keyed<'_, '_, T, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seq = Some(self.seq);
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match seq.take_if(|_| k == self.key) {
                Some(s) => map.next_value_seed(s)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// One object of the answer, as `T`, or `None` when it is not one.
fn object<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

/// A pull request as the list endpoints give it: only the fields we read.
#[derive(serde::Deserialize)]
struct PullHead {
    sha: Option<String>,
}

#[derive(serde::Deserialize)]
struct PullBase {
    repo: Option<PullRepo>,
}

#[derive(serde::Deserialize)]
struct PullRepo {
    full_name: Option<String>,
}

#[derive(serde::Deserialize)]
struct Pull {
    number: Option<u64>,
    head: Option<PullHead>,
    base: Option<PullBase>,
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

mod clean;

impl GitHub {
    pub fn new(cfg: GitHubConfig) -> anyhow::Result<GitHub> {
        // reqwest under octocrab: it follows HTTPS_PROXY / HTTP_PROXY / NO_PROXY as the other
        // clients do (octocrab's own hyper client ignores them), and takes no redirect, so the
        // artifact's 302 comes back to us and the token never goes to the blob host
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = limits::client_builder()
            .read_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| anyhow::anyhow!("building the GitHub client: {}", chain(&e)))?;
        let octo = Octocrab::builder()
            .base_uri(cfg.api_url.trim_end_matches('/'))
            .map_err(|e| anyhow::anyhow!("GITHUB_API_URL `{}` is not a URL: {e}", cfg.api_url))?
            .personal_token(cfg.token)
            .build_with_reqwest(http)
            .map_err(|e| anyhow::anyhow!("building the GitHub client: {e}"))?;
        Ok(GitHub {
            octo,
            repository: cfg.repository,
            retries: cfg.retries,
            calls: AtomicU32::new(0),
            log: cfg.log,
            debug: cfg.debug,
        })
    }

    /// How many HTTP requests went to the API (the debug log reports it).
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }

    /// One GET, retried on 5xx, 429, rate-limit 403 and transport faults; 3xx is returned as is.
    async fn get(&self, what: &str, path: &str) -> Result<Response, GitHubError> {
        self.retried(what, || self.attempt(what, path)).await
    }

    /// One request's attempts under the `retries` policy; what the last one left, as the error
    /// a reader gets (rate limit, server status, transport).
    async fn retried<T, F, Fut>(&self, what: &str, attempt: F) -> Result<T, GitHubError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Attempt>>,
    {
        let policy = Policy::new(self.retries);
        let fault = |a: &Attempt| match a {
            Attempt::Retry { wait, .. } => Fault::Transient { retry_after: *wait },
            Attempt::Fatal(_) => Fault::Permanent,
        };
        let log = |m: &str| (self.log)(m);
        let r = retry(&policy, &format!("GitHub API {what}"), &log, fault, attempt).await;
        r.map_err(|a| match a {
            Attempt::Fatal(e) => e,
            Attempt::Retry {
                rate_limited: true, ..
            } => GitHubError::RateLimited {
                what: what.into(),
                attempts: self.retries,
            },
            Attempt::Retry {
                status: Some(status),
                ..
            } => GitHubError::Server {
                what: what.into(),
                status,
                attempts: self.retries,
            },
            Attempt::Retry { detail, .. } => GitHubError::Transport {
                what: what.into(),
                detail,
            },
        })
    }

    async fn attempt(&self, what: &str, path: &str) -> Result<Response, Attempt> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let transient = |detail: String| Attempt::Retry {
            status: None,
            wait: None,
            rate_limited: false,
            detail,
        };
        let res = limits::headers(self.octo._get(path))
            .await
            .map_err(|e| transient(e.to_string()))?
            .map_err(|e| transient(chain(&e)))?;
        let status = res.status();
        let route = path.split('?').next().unwrap_or(path);
        (self.debug)(&format!("GitHub API GET {route}: HTTP {}", status.as_u16()));
        let headers = res.headers().clone();
        // octocrab would collect the body whole: read it ourselves, capped and under the stall rule
        let bytes = limits::read_capped(res.into_body().into_data_stream(), MAX_RESPONSE)
            .await
            .map_err(|e| match e {
                limits::BodyError::TooLarge { .. } => Attempt::Fatal(GitHubError::Unexpected {
                    what: what.into(),
                    status: status.as_u16(),
                    body: e.to_string(),
                }),
                e => transient(format!("reading the body: {e}")),
            })?;
        match status.as_u16() {
            200..=399 => Ok(Response {
                status,
                headers,
                body: bytes,
            }),
            s => Err(refused(what, s, &headers, &bytes)),
        }
    }

    /// A PR of this repository whose head is exactly `sha`: first by `head=owner:branch` among open
    /// PRs, then through the commit's associated PRs. Fork PRs reach us only this way, because
    /// `workflow_run.pull_requests` is empty for them.
    pub async fn find_pull_request(
        &self,
        owner: &str,
        branch: &str,
        sha: &str,
    ) -> Result<Option<u64>, GitHubError> {
        let r = self.repository.as_str();
        let head = format!("{owner}:{branch}");
        let open = self
            .get(
                "pull request look-up",
                &format!(
                    "/repos/{r}/pulls?state=open&per_page=100&head={}",
                    enc(&head)
                ),
            )
            .await?;
        if let Some(n) = matching_pr(&open.body, sha, r) {
            return Ok(Some(n));
        }
        let by_commit = self
            .get(
                "commit pull requests",
                &format!("/repos/{r}/commits/{sha}/pulls?per_page=100"),
            )
            .await?;
        Ok(matching_pr(&by_commit.body, sha, r))
    }

    /// The parents of a commit (one call): a test merge commit has the PR head among them.
    pub async fn commit_parents(&self, sha: &str) -> Result<Vec<String>, GitHubError> {
        let r = &self.repository;
        let c = self
            .get("commit look-up", &format!("/repos/{r}/commits/{sha}"))
            .await?;
        #[derive(serde::Deserialize)]
        struct Parent {
            sha: Option<String>,
        }
        // a merge commit has two parents, an octopus a few more; no list of a million is kept
        const MAX_PARENTS: usize = 64;
        let mut parents = Vec::new();
        each::<Parent>(&c.body, Some("parents"), |p| {
            if parents.len() < MAX_PARENTS {
                parents.extend(p.sha);
            }
        });
        Ok(parents)
    }

    /// The run's artifact of that name; an error naming what the run does have.
    pub async fn find_artifact(
        &self,
        run_id: u64,
        name: &str,
    ) -> Result<ArtifactInfo, GitHubError> {
        let r = &self.repository;
        let list = self
            .get(
                "artifact list",
                &format!(
                    "/repos/{r}/actions/runs/{run_id}/artifacts?per_page=100&name={}",
                    enc(name)
                ),
            )
            .await?;
        #[derive(serde::Deserialize)]
        struct Listed {
            id: Option<u64>,
            name: Option<String>,
            size_in_bytes: Option<u64>,
            digest: Option<String>,
            expired: Option<bool>,
        }
        let (mut found, mut named) = (None, false);
        each::<Listed>(&list.body, Some("artifacts"), |a| {
            if found.is_some() || a.name.as_deref() != Some(name) {
                return;
            }
            named = true;
            if a.expired != Some(true) {
                found = Some(ArtifactInfo {
                    id: a.id.unwrap_or(0),
                    name: name.into(),
                    size: a.size_in_bytes.unwrap_or(0),
                    digest: a.digest,
                });
            }
        });
        if let Some(a) = found {
            return Ok(a);
        }
        if named {
            return Err(GitHubError::ArtifactExpired {
                run_id,
                name: name.into(),
            });
        }
        // name them all in the error: one more call, only on the way to failing
        let all = self
            .get(
                "artifact list",
                &format!("/repos/{r}/actions/runs/{run_id}/artifacts?per_page=100"),
            )
            .await?;
        // a few names say enough; a page of a million is not printed
        const SHOWN: usize = 20;
        let (mut names, mut more) = (Vec::new(), 0usize);
        each::<Listed>(&all.body, Some("artifacts"), |a| {
            if let Some(n) = a.name {
                if names.len() < SHOWN {
                    names.push(format!("`{}`", n.chars().take(100).collect::<String>()));
                } else {
                    more += 1;
                }
            }
        });
        if more > 0 {
            names.push(format!("and {more} more"));
        }
        Err(GitHubError::NoArtifact {
            run_id,
            name: name.into(),
            available: if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            },
        })
    }

    /// The signed URL GitHub redirects to. We take the 302 ourselves rather than follow it, so the
    /// token can never travel to the blob host.
    pub async fn download_url(&self, artifact_id: u64) -> Result<url::Url, GitHubError> {
        let r = &self.repository;
        let what = "artifact download";
        let res = self
            .get(
                what,
                &format!("/repos/{r}/actions/artifacts/{artifact_id}/zip"),
            )
            .await?;
        let location = res
            .headers
            .get(http::header::LOCATION)
            .and_then(|v| v.to_str().ok());
        match (res.status.is_redirection(), location) {
            (true, Some(loc)) => url::Url::parse(loc).map_err(|e| GitHubError::Transport {
                what: what.into(),
                detail: format!("bad Location: {e}"),
            }),
            _ => Err(GitHubError::Unexpected {
                what: what.into(),
                status: res.status.as_u16(),
                body: "expected a 302 to the artifact's signed URL".into(),
            }),
        }
    }
}

/// The PR whose head SHA is `sha` and whose base is this repository, read one entry at a time.
fn matching_pr(list: &[u8], sha: &str, repository: &str) -> Option<u64> {
    let mut found = None;
    each::<Pull>(list, None, |pr| {
        if found.is_some() {
            return;
        }
        let head_ok = pr
            .head
            .and_then(|h| h.sha)
            .is_some_and(|s| s.eq_ignore_ascii_case(sha));
        let base = pr.base.and_then(|b| b.repo).and_then(|r| r.full_name);
        let base_ok = base.is_none_or(|b| b.eq_ignore_ascii_case(repository));
        if head_ok && base_ok {
            found = pr.number.filter(|n| *n > 0);
        }
    });
    found
}

/// Promotion's look-ups (`promote-source: merged-pr` and the revision check by tree).
impl GitHub {
    /// The pull request that `sha` merged (one call): only one with `merged_at` set and
    /// `merge_commit_sha == sha` qualifies; `None` when the commit merged none.
    pub async fn merged_pull_request(
        &self,
        sha: &str,
    ) -> Result<Option<crate::core::promote::MergedPr>, GitHubError> {
        let r = &self.repository;
        let list = self
            .get(
                "commit pull requests",
                &format!("/repos/{r}/commits/{sha}/pulls?per_page=100"),
            )
            .await?;
        let mut found = None;
        each::<crate::core::promote::PullSummary>(&list.body, None, |p| {
            if found.is_none() {
                found = crate::core::promote::pick_merged_pr(std::iter::once(p), sha, r);
            }
        });
        Ok(found)
    }

    /// The tree of a commit (one call, `git/commits/{sha}` → `tree.sha`): equal trees, same source.
    pub async fn commit_tree(&self, sha: &str) -> Result<String, GitHubError> {
        let r = &self.repository;
        let what = "commit tree look-up";
        let c = self
            .get(what, &format!("/repos/{r}/git/commits/{sha}"))
            .await
            .map_err(|e| match e {
                GitHubError::NotFound { what } => GitHubError::UnknownCommit {
                    what,
                    sha: sha.into(),
                    repository: r.clone(),
                },
                GitHubError::Unexpected { status: 422, .. } => GitHubError::UnknownCommit {
                    what: what.into(),
                    sha: sha.into(),
                    repository: r.clone(),
                },
                e => e,
            })?;
        #[derive(serde::Deserialize)]
        struct Tree {
            sha: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct GitCommit {
            tree: Option<Tree>,
        }
        object::<GitCommit>(&c.body)
            .and_then(|c| c.tree)
            .and_then(|t| t.sha)
            .filter(|t| crate::core::Sha::parse(t).is_some())
            .as_deref()
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| GitHubError::Unexpected {
                what: what.into(),
                status: c.status.as_u16(),
                body: "the answer has no 40-hex `tree.sha`".into(),
            })
    }
}

/// Entries kept of one tree: GitHub lists at most 100,000 (then `truncated`); a page of more
/// is not GitHub's.
const MAX_TREE_ENTRIES: usize = 100_000;

/// A tree's `tree` array, visited one element at a time and cut to the fields we use; entries
/// that are not plain names with a 40-hex object are dropped (a server never names a path we
/// walk), and more than `MAX_TREE_ENTRIES` is an error.
struct Entries(Vec<crate::model::TreeEntry>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Entries, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of tree entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Entries, A::Error> {
                #[derive(serde::Deserialize)]
                struct Raw {
                    path: Option<String>,
                    #[serde(rename = "type")]
                    kind: Option<String>,
                    sha: Option<String>,
                }
                let mut kept = Vec::new();
                while let Some(e) = seq.next_element::<Raw>()? {
                    if kept.len() == MAX_TREE_ENTRIES {
                        return Err(serde::de::Error::custom("more entries than GitHub lists"));
                    }
                    let (Some(name), Some(kind), Some(sha)) = (e.path, e.kind, e.sha) else {
                        continue;
                    };
                    let plain = !name.is_empty()
                        && name != "."
                        && name != ".."
                        && !name.contains(['/', '\0']);
                    if plain && crate::core::Sha::parse(&sha).is_some() {
                        kept.push(crate::model::TreeEntry {
                            name,
                            is_tree: kind == "tree",
                            sha: sha.to_ascii_lowercase(),
                        });
                    }
                }
                Ok(Entries(kept))
            }
        }
        d.deserialize_seq(V)
    }
}

impl GitHub {
    /// A tree's own entries (one call, `git/trees/{sha}`, not recursive): a truncated listing
    /// is an error naming the tree, never a guess.
    pub async fn git_tree(&self, sha: &str) -> Result<Vec<crate::model::TreeEntry>, GitHubError> {
        let r = &self.repository;
        let what = "tree look-up";
        let t = self
            .get(what, &format!("/repos/{r}/git/trees/{sha}"))
            .await?;
        #[derive(serde::Deserialize)]
        struct Listing {
            tree: Option<Entries>,
            truncated: Option<bool>,
        }
        let listing: Listing =
            serde_json::from_slice(&t.body).map_err(|e| GitHubError::Unexpected {
                what: what.into(),
                status: t.status.as_u16(),
                body: format!("tree `{sha}` is not a tree listing: {e}"),
            })?;
        if listing.truncated == Some(true) {
            return Err(GitHubError::Truncated {
                what: what.into(),
                sha: sha.into(),
            });
        }
        let Some(Entries(entries)) = listing.tree else {
            return Err(GitHubError::Unexpected {
                what: what.into(),
                status: t.status.as_u16(),
                body: format!("tree `{sha}` has no `tree` array"),
            });
        };
        Ok(entries)
    }
}

/// Bounds for the attestations fetch: one bundle (compressed or not), and pages followed.
const MAX_BUNDLE_BYTES: usize = 16 << 20;
const MAX_ATTESTATION_PAGES: usize = 10;
/// Bundles verified per digest: a real image has a handful; the rest are not fetched.
pub const MAX_BUNDLES: usize = 32;

impl GitHub {
    /// The Sigstore bundles (JSON) stored for `digest` (`sha256:<hex>`) in this repository, given
    /// to `offer` one at a time until it returns true (a bundle verified): at most the first
    /// `MAX_BUNDLES`, the rest not fetched. `GET /repos/{owner}/{repo}/attestations/{digest}`,
    /// following `Link: rel="next"`; none (404 or an empty list) offers nothing. A bundle comes
    /// inline or, with `bundle: null`, from its `bundle_url`: a signed URL on another host,
    /// fetched with no credentials, whose body is raw-snappy JSON (`.json.sn`). Returns how many
    /// bundles were offered.
    pub async fn attestations(
        &self,
        digest: &str,
        offer: &mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> Result<usize, GitHubError> {
        let what = "attestation list";
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(GitHubError::Transport {
                what: what.into(),
                detail: format!("`{digest}` is not a `sha256:<64 hex digits>` digest"),
            });
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            bundle: Option<Box<serde_json::value::RawValue>>,
            bundle_url: Option<String>,
        }
        let r = &self.repository;
        let suffix = format!("/attestations/{digest}");
        let mut next = Some(format!("/repos/{r}{suffix}?per_page=100"));
        let mut client = None;
        let mut offered = 0usize;
        for _ in 0..MAX_ATTESTATION_PAGES {
            let Some(path) = next.take() else { break };
            if offered >= MAX_BUNDLES {
                break;
            }
            let page = match self.get(what, &path).await {
                Ok(page) => page,
                Err(GitHubError::NotFound { .. }) => break,
                Err(GitHubError::Forbidden { what }) => {
                    return Err(GitHubError::Unexpected {
                        what,
                        status: 403,
                        body: "the token needs `attestations: read` in the job's `permissions`"
                            .into(),
                    })
                }
                Err(e) => return Err(e),
            };
            // this page's entries, as many as may still be offered (inline bundles are at most
            // the page's 16 MiB together)
            let mut entries = Vec::new();
            each::<Entry>(&page.body, Some("attestations"), |e| {
                if offered + entries.len() < MAX_BUNDLES {
                    entries.push(e);
                }
            });
            // Only a next page of this same listing; octocrab adds the token for the API host only.
            next = next_link(&page.headers).filter(|u| {
                url::Url::parse(u).is_ok_and(|u| u.path().replace("%3A", ":").ends_with(&suffix))
            });
            drop(page);
            for entry in entries {
                let bundle = match (entry.bundle, entry.bundle_url) {
                    (Some(b), _) if b.get().starts_with('{') => {
                        if b.get().len() > MAX_BUNDLE_BYTES {
                            return Err(too_large("attestation bundle", b.get().len()));
                        }
                        b.get().as_bytes().to_vec()
                    }
                    (_, Some(url)) => {
                        let client = match &mut client {
                            Some(c) => c,
                            None => client.insert(blob_client()?),
                        };
                        self.bundle_from_url(client, &url).await?
                    }
                    _ => continue, // neither: nothing to verify in this entry
                };
                offered += 1;
                if offer(&bundle) {
                    return Ok(offered);
                }
            }
        }
        Ok(offered)
    }

    /// Every bundle `attestations` offers (at most `MAX_BUNDLES`), kept: for tools and tests
    /// that look at the bundles themselves; the step verifies them one at a time instead.
    pub async fn attestation_bundles(&self, digest: &str) -> Result<Vec<Vec<u8>>, GitHubError> {
        let mut all = Vec::new();
        self.attestations(digest, &mut |b| {
            all.push(b.to_vec());
            false
        })
        .await?;
        Ok(all)
    }

    /// One `bundle_url`: no Authorization header, size-bounded, retried as the API calls are.
    async fn bundle_from_url(
        &self,
        client: &reqwest::Client,
        url: &str,
    ) -> Result<Vec<u8>, GitHubError> {
        let what = "attestation bundle download";
        let url = url::Url::parse(url).map_err(|e| GitHubError::Transport {
            what: what.into(),
            detail: format!("`bundle_url` is not a URL: {e}"),
        })?;
        let host = url.host_str().unwrap_or("?").to_string();
        let policy = Policy::new(self.retries);
        let fault = |e: &Attempt| match e {
            Attempt::Retry { .. } => Fault::Transient { retry_after: None },
            Attempt::Fatal(_) => Fault::Permanent,
        };
        let log = |m: &str| (self.log)(m);
        let compressed = retry(&policy, &format!("{what} from {host}"), &log, fault, || {
            fetch_bounded(client, &url, what)
        })
        .await
        .map_err(|a| match a {
            Attempt::Fatal(e) => e,
            Attempt::Retry { detail, .. } => GitHubError::Transport {
                what: format!("{what} from {host}"),
                detail,
            },
        })?;
        let snappy = |e: snap::Error| GitHubError::Transport {
            what: format!("{what} from {host}"),
            detail: format!("not snappy-compressed JSON: {e}"),
        };
        // the length is declared up front: refuse before allocating
        let len = snap::raw::decompress_len(&compressed).map_err(snappy)?;
        if len > MAX_BUNDLE_BYTES {
            return Err(too_large(what, len));
        }
        snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .map_err(snappy)
    }
}

fn too_large(what: &str, len: usize) -> GitHubError {
    GitHubError::Transport {
        what: what.into(),
        detail: format!("{len} bytes, more than the {MAX_BUNDLE_BYTES} allowed for a bundle"),
    }
}

/// A client for the signed blob host: it carries no credentials and follows no redirect
/// elsewhere silently (a signed URL answers directly).
fn blob_client() -> Result<reqwest::Client, GitHubError> {
    limits::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| GitHubError::Transport {
            what: "attestation bundle download".into(),
            detail: chain(&e),
        })
}

/// GET `url`, reading at most `MAX_BUNDLE_BYTES` of body.
async fn fetch_bounded(
    client: &reqwest::Client,
    url: &url::Url,
    what: &str,
) -> Result<Vec<u8>, Attempt> {
    let transient = |detail: String, status: Option<u16>| Attempt::Retry {
        status,
        wait: None,
        rate_limited: status == Some(429),
        detail,
    };
    let res = limits::headers(client.get(url.clone()).send())
        .await
        .map_err(|e| transient(e.to_string(), None))?
        .map_err(|e| transient(chain(&e), None))?;
    let status = res.status().as_u16();
    match status {
        200 => {}
        429 | 500..=599 => return Err(transient(format!("HTTP {status}"), Some(status))),
        _ => {
            return Err(Attempt::Fatal(GitHubError::Unexpected {
                what: what.into(),
                status,
                body: "the signed `bundle_url` did not serve the bundle (it may have expired; re-run the step)"
                    .into(),
            }))
        }
    }
    match limits::read_response(res, MAX_BUNDLE_BYTES).await {
        Ok(body) => Ok(body.to_vec()),
        Err(limits::BodyError::TooLarge { limit }) => {
            Err(Attempt::Fatal(too_large(what, limit + 1)))
        }
        Err(e) => Err(transient(format!("reading the body: {e}"), None)),
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(headers: &http::HeaderMap) -> Option<String> {
    let link = headers.get(http::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == r#"rel="next""#)
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

/// What a GitHub API answer other than 2xx/3xx means for the request: a rate limit or a 5xx is
/// retried (a rate limit after `Retry-After` or the reset time), anything else is final.
/// https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
fn refused(what: &str, status: u16, headers: &http::HeaderMap, body: &[u8]) -> Attempt {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = header("retry-after")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let reset_wait = || {
        let reset: u64 = header("x-ratelimit-reset")?.trim().parse().ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        Some(Duration::from_secs(reset.saturating_sub(now) + 1))
    };
    let what = what.to_string();
    match status {
        401 => Attempt::Fatal(GitHubError::Unauthorized { what }),
        403 | 429
            if header("x-ratelimit-remaining").as_deref() == Some("0")
                || retry_after.is_some()
                || status == 429 =>
        {
            Attempt::Retry {
                status: Some(status),
                wait: retry_after
                    .or_else(reset_wait)
                    .or(Some(Duration::from_secs(60))),
                rate_limited: true,
                detail: format!("HTTP {status} rate limited"),
            }
        }
        403 => Attempt::Fatal(GitHubError::Forbidden { what }),
        404 => Attempt::Fatal(GitHubError::NotFound { what }),
        410 => Attempt::Fatal(GitHubError::Expired { what }),
        500..=599 => Attempt::Retry {
            status: Some(status),
            wait: None,
            rate_limited: false,
            // as the status line reads: `HTTP 502 Bad Gateway`
            detail: match http::StatusCode::from_u16(status) {
                Ok(code) => format!("HTTP {code}"),
                Err(_) => format!("HTTP {status}"),
            },
        },
        s => Attempt::Fatal(GitHubError::Unexpected {
            what,
            status: s,
            body: limits::redact_credentials(
                &String::from_utf8_lossy(&body[..body.len().min(4096)]),
                &[],
            )
            .chars()
            .take(200)
            .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn only_a_pr_with_the_exact_head_counts() {
        let sha = "1111111111111111111111111111111111111111";
        let list = json!([
            {"number": 3, "head": {"sha": "2222222222222222222222222222222222222222"}, "base": {"repo": {"full_name": "acme/charon"}}},
            {"number": 4, "head": {"sha": sha}, "base": {"repo": {"full_name": "other/charon"}}},
            {"number": 5, "head": {"sha": sha.to_uppercase()}, "base": {"repo": {"full_name": "Acme/Charon"}}},
        ]);
        let m =
            |v: serde_json::Value| super::matching_pr(v.to_string().as_bytes(), sha, "acme/charon");
        assert_eq!(m(list), Some(5));
        assert_eq!(m(json!([])), None);
        assert_eq!(m(json!({"message": "x"})), None);
    }

    #[test]
    fn a_page_is_read_one_element_at_a_time() {
        let mut body = b"{\"total_count\": 3, \"padding\": [".to_vec();
        body.extend(std::iter::repeat_n(&b"{},"[..], 1000).flatten());
        body.extend(b"{}], \"artifacts\": [{\"name\": \"a\"}, 7, {\"name\": \"c\"}]}");
        let mut names = Vec::new();
        #[derive(serde::Deserialize)]
        struct N {
            name: String,
        }
        super::each::<N>(&body, Some("artifacts"), |n| names.push(n.name));
        // an element of another shape ends the visit: what came before it stands
        assert_eq!(names, ["a"]);
        let mut count = 0;
        super::each::<serde::de::IgnoredAny>(b"[{}, {}, [1, 2]]", None, |_| count += 1);
        assert_eq!(count, 3);
        super::each::<serde::de::IgnoredAny>(b"{\"x\": 1}", None, |_| count += 1);
        assert_eq!(count, 3);
    }

    #[test]
    fn a_tree_listing_keeps_plain_names_with_object_ids_only() {
        let (a, b) = ("a".repeat(40), "B".repeat(40));
        let body = serde_json::json!({"sha": "x", "truncated": false, "tree": [
            {"path": "api", "mode": "040000", "type": "tree", "sha": a},
            {"path": "Dockerfile", "mode": "100644", "type": "blob", "sha": b},
            {"path": "../etc", "type": "tree", "sha": a},
            {"path": "a/b", "type": "blob", "sha": a},
            {"path": "short", "type": "blob", "sha": "abc"},
            {"type": "blob", "sha": a},
            {}
        ]});
        use super::Entries;
        let Entries(kept) = serde_json::from_value(body["tree"].clone()).unwrap();
        let got: Vec<(&str, bool, &str)> = kept
            .iter()
            .map(|e| (e.name.as_str(), e.is_tree, e.sha.as_str()))
            .collect();
        let lower = b.to_ascii_lowercase();
        assert_eq!(
            got,
            [
                ("api", true, a.as_str()),
                ("Dockerfile", false, lower.as_str())
            ]
        );
        // more entries than GitHub ever lists in one tree: refused, not kept
        let many = format!("[{}]", vec!["{}"; super::MAX_TREE_ENTRIES + 1].join(","));
        let entry = format!("{{\"path\":\"x\",\"type\":\"blob\",\"sha\":\"{a}\"}}");
        let over = format!(
            "[{}]",
            vec![entry.as_str(); super::MAX_TREE_ENTRIES + 1].join(",")
        );
        assert!(
            serde_json::from_str::<Entries>(&many).is_ok(),
            "empty objects are dropped"
        );
        assert!(serde_json::from_str::<Entries>(&over).is_err());
    }
}

//! The flow's view of the outside world: small traits, so that its decisions (fallback, wait,
//! merge-commit check, PR look-up) are tested in-process with fakes, and one implementation of
//! each over the real adapters, built once and shared by every image.

use super::log::Log;
use crate::adapters::docker::{DockerConfig, DockerDaemon, DockerError, LocalImage};
use crate::adapters::download::{Download, DownloadConfig};
use crate::adapters::github::{ArtifactInfo, GitHub, GitHubConfig};
use crate::adapters::registry::{self, Promoted, RegistryConfig, RegistryError, RemoteImage};
use crate::artifact;
use crate::core::credentials::{CredentialPolicy, Credentials};
use crate::core::platform::Platform;
use crate::core::promote::{MergedPr, PromoteTarget};
use crate::core::reference::{is_loopback_registry, ImageRef};
use crate::core::size::human;
use crate::retry::{retry, Fault, Logger, Policy};
use anyhow::{anyhow, Result};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

pub trait Registry: Sync {
    /// The login for a registry host, as the credentials policy decides.
    fn credentials(&self, registry: &str) -> Option<Credentials>;
    /// The manifest, digest and labels behind a reference; no layer moves.
    fn inspect(
        &self,
        reference: &ImageRef,
        platform: &Platform,
        log: &Log,
    ) -> impl Future<Output = Result<RemoteImage, RegistryError>> + Send;
    /// Writes the manifest `source` (`repository@digest`) under each target, digest unchanged.
    fn promote(
        &self,
        source: &ImageRef,
        targets: &[PromoteTarget],
        log: &Log,
    ) -> impl Future<Output = Result<Vec<Promoted>, RegistryError>> + Send {
        let _ = (targets, log);
        let reference = source.to_string();
        async move {
            Err(RegistryError::Protocol {
                reference,
                detail: "promotion is not available here".into(),
            })
        }
    }
}

pub trait GitHubApi: Sync {
    fn find_pull_request(
        &self,
        owner: &str,
        branch: &str,
        sha: &str,
    ) -> impl Future<Output = Result<Option<u64>>> + Send;
    fn commit_parents(&self, sha: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    fn find_artifact(
        &self,
        run_id: u64,
        name: &str,
    ) -> impl Future<Output = Result<ArtifactInfo>> + Send;
    fn download_url(&self, artifact_id: u64) -> impl Future<Output = Result<url::Url>> + Send;
    /// The pull request that `sha` merged, if any (`promote-source: merged-pr`).
    fn merged_pull_request(
        &self,
        sha: &str,
    ) -> impl Future<Output = Result<Option<MergedPr>>> + Send {
        let _ = sha;
        async {
            Err(anyhow!(
                "merged pull request look-ups are not available here"
            ))
        }
    }
    /// The tree of a commit.
    fn commit_tree(&self, sha: &str) -> impl Future<Output = Result<String>> + Send {
        let _ = sha;
        async { Err(anyhow!("commit trees are not available here")) }
    }
    /// The Sigstore bundles GitHub stores for a digest (`sha256:…`), given to `offer` one at a
    /// time until it returns true; how many were offered.
    fn attestations(
        &self,
        digest: &str,
        offer: &mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> impl Future<Output = Result<usize>> + Send;
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

pub trait Daemon: Sync {
    /// `os/arch` of the daemon.
    fn platform(&self) -> &str;
    fn image(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<LocalImage>, DockerError>> + Send;
    fn pull(
        &self,
        repository: &str,
        digest: &str,
        platform: Option<&Platform>,
        credentials: Option<&Credentials>,
        log: &Log,
    ) -> impl Future<Output = Result<(), DockerError>> + Send;
    fn tag(
        &self,
        id: &str,
        repository: &str,
        tag: &str,
    ) -> impl Future<Output = Result<(), DockerError>> + Send;
    /// Removes an untrusted image we loaded, unless something else uses it; whether it went.
    fn remove_unused(&self, id: &str) -> impl Future<Output = bool> + Send;
    /// Downloads the artifact at `url` and loads it untagged.
    fn load_artifact(
        &self,
        url: &url::Url,
        artifact: &ArtifactInfo,
        artifact_file: Option<&str>,
        log: &Log,
    ) -> impl Future<Output = Result<Loaded>> + Send;
}

/// The ports one step runs over, as types: the real ones (`Live`), or a test's fakes.
pub trait World {
    type Registry: Registry;
    type GitHub: GitHubApi;
    type Daemon: Daemon;
}

/// The real registries, GitHub and Docker daemon.
pub struct Live;

impl World for Live {
    type Registry = Registries;
    type GitHub = LazyGitHub;
    type Daemon = Docker;
}

/// One registry client per registry host, built on first use and shared by every image.
pub struct Registries {
    credentials: CredentialPolicy,
    retries: u32,
    clients: Mutex<HashMap<String, Arc<registry::Registry>>>,
    /// Run by the runner (`GITHUB_ACTIONS=true`): loopback is the action's own container.
    own_network: bool,
}

impl Registries {
    pub fn new(credentials: CredentialPolicy, retries: u32) -> Registries {
        Registries {
            credentials,
            retries,
            clients: Mutex::default(),
            own_network: false,
        }
    }

    pub fn in_own_network(self, own_network: bool) -> Registries {
        Registries {
            own_network,
            ..self
        }
    }

    fn client(&self, host: &str, log: &Log) -> Arc<registry::Registry> {
        let mut clients = self.clients.lock().expect("registry clients");
        clients
            .entry(host.to_string())
            .or_insert_with(|| {
                let plain_http = is_loopback_registry(host);
                let credentials = self.credentials(host);
                log.debug(&format!(
                    "registry `{host}`: {}, {}",
                    if plain_http {
                        "plain HTTP (loopback)"
                    } else {
                        "HTTPS"
                    },
                    match &credentials {
                        Some(c) => format!("logged in as `{}`", c.username),
                        None => "anonymous".into(),
                    }
                ));
                Arc::new(registry::Registry::new(RegistryConfig {
                    registry: host.to_string(),
                    plain_http,
                    credentials: credentials.map(|c| (c.username, c.password.expose().to_string())),
                    retries: self.retries,
                }))
            })
            .clone()
    }
}

impl Registry for Registries {
    fn credentials(&self, registry: &str) -> Option<Credentials> {
        self.credentials.for_registry(registry)
    }

    async fn inspect(
        &self,
        reference: &ImageRef,
        platform: &Platform,
        log: &Log,
    ) -> Result<RemoteImage, RegistryError> {
        let client = self.client(reference.registry(), log);
        let r = client
            .inspect(reference, platform, &|m: &str| log.info(m))
            .await;
        match r {
            Err(e) if self.own_network => Err(e.in_own_network()),
            r => r,
        }
    }

    async fn promote(
        &self,
        source: &ImageRef,
        targets: &[PromoteTarget],
        log: &Log,
    ) -> Result<Vec<Promoted>, RegistryError> {
        // each target through its registry's client: the source's credentials on the source's
        // registry, `promote-username` / `promote-password` elsewhere (the credentials policy)
        let clients: Vec<Arc<registry::Registry>> = targets
            .iter()
            .map(|t| self.client(crate::core::reference::registry_of(&t.repository), log))
            .collect();
        let list: Vec<registry::Target> = targets
            .iter()
            .zip(&clients)
            .map(|(t, c)| registry::Target {
                registry: c,
                reference: ImageRef {
                    repository: t.repository.clone(),
                    tag: Some(t.tag.clone()),
                    digest: None,
                },
            })
            .collect();
        self.client(source.registry(), log)
            .promote(source, &list, &|m: &str| log.info(m))
            .await
    }
}

/// The GitHub API, connected on first use: most resolutions never need it.
pub struct LazyGitHub {
    config: Mutex<Option<GitHubConfig>>,
    missing_token: bool,
    client: tokio::sync::OnceCell<GitHub>,
}

impl LazyGitHub {
    pub fn new(
        api_url: String,
        token: Option<&str>,
        repository: String,
        retries: u32,
        (log, debug): (Logger, Logger),
    ) -> LazyGitHub {
        LazyGitHub {
            missing_token: token.is_none(),
            config: Mutex::new(Some(GitHubConfig {
                api_url,
                token: token.unwrap_or_default().to_string(),
                repository,
                retries,
                log,
                debug,
            })),
            client: tokio::sync::OnceCell::new(),
        }
    }

    async fn get(&self) -> Result<&GitHub> {
        if self.missing_token {
            return Err(anyhow!("`github-token` is empty, and the GitHub API is needed here: pass `github-token: ${{{{ github.token }}}}` with `actions: read` and `pull-requests: read`"));
        }
        self.client
            .get_or_try_init(|| async {
                let cfg = self.config.lock().expect("github config").take();
                GitHub::new(cfg.ok_or_else(|| anyhow!("the GitHub client could not be built"))?)
            })
            .await
    }

    /// API requests made so far (the debug log reports them).
    pub fn calls(&self) -> u32 {
        self.client.get().map(GitHub::calls).unwrap_or(0)
    }
}

impl GitHubApi for LazyGitHub {
    async fn find_pull_request(&self, owner: &str, branch: &str, sha: &str) -> Result<Option<u64>> {
        Ok(self
            .get()
            .await?
            .find_pull_request(owner, branch, sha)
            .await?)
    }
    async fn commit_parents(&self, sha: &str) -> Result<Vec<String>> {
        Ok(self.get().await?.commit_parents(sha).await?)
    }
    async fn find_artifact(&self, run_id: u64, name: &str) -> Result<ArtifactInfo> {
        Ok(self.get().await?.find_artifact(run_id, name).await?)
    }
    async fn download_url(&self, artifact_id: u64) -> Result<url::Url> {
        Ok(self.get().await?.download_url(artifact_id).await?)
    }
    async fn merged_pull_request(&self, sha: &str) -> Result<Option<MergedPr>> {
        Ok(self.get().await?.merged_pull_request(sha).await?)
    }
    async fn commit_tree(&self, sha: &str) -> Result<String> {
        Ok(self.get().await?.commit_tree(sha).await?)
    }
    async fn attestations(
        &self,
        digest: &str,
        offer: &mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> Result<usize> {
        Ok(self.get().await?.attestations(digest, offer).await?)
    }
}

/// One failed pass of the artifact pipeline: worth another from scratch when `transient`.
struct Attempt {
    transient: bool,
    error: anyhow::Error,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl Docker {
    /// One pass: download → artifact checks → daemon. The end of the tar is released once the
    /// whole artifact matched its digest and held exactly one image; the daemon must then report
    /// the checked config's digest as the image ID, or the image is removed again.
    async fn load_once(
        &self,
        url: &url::Url,
        opts: artifact::ArtifactOptions,
        what: &str,
    ) -> std::result::Result<(String, artifact::Checked), Attempt> {
        let body = self.download.open(url).await.map_err(|e| Attempt {
            transient: e.is_transient(),
            error: anyhow::Error::new(e).context(format!("downloading {what}")),
        })?;
        let (tar, verdict) = artifact::pipeline(body, opts);
        let load = self.daemon.load(what, tar);
        let check = async {
            let (checked, release) = verdict.await?;
            release.release();
            Ok::<_, artifact::ArtifactError>(checked)
        };
        let (loaded, checked) = tokio::join!(load, check);
        match (loaded, checked) {
            (Ok(id), Ok(checked)) if id == checked.config_digest => Ok((id, checked)),
            (Ok(id), checked) => {
                let gone = if self.daemon.remove_unused(&id).await {
                    "it was removed again"
                } else {
                    "it is left in place: something else uses it"
                };
                let want = checked.map(|c| c.config_digest).unwrap_or_default();
                Err(Attempt {
                    transient: false,
                    error: anyhow!(
                        "{what}: the daemon loaded `{id}`, not the checked image `{want}`; {gone}"
                    ),
                })
            }
            (Err(_), Err(e)) => Err(Attempt {
                transient: e.is_transient(),
                error: anyhow::Error::new(e).context(format!("{what} refused; nothing was loaded")),
            }),
            (Err(e), Ok(_)) => Err(Attempt {
                transient: false,
                error: e.into(),
            }),
        }
    }
}

/// The Docker daemon, with the registries' credentials for pulls and the artifact download.
pub struct Docker {
    pub daemon: DockerDaemon,
    download: Download,
    /// Where an artifact that must be spooled goes (`RUNNER_TEMP`, else `/tmp`).
    temp_dir: std::path::PathBuf,
}

impl Docker {
    pub async fn connect(
        host: String,
        retries: u32,
        temp_dir: std::path::PathBuf,
    ) -> Result<Docker> {
        Ok(Docker {
            daemon: DockerDaemon::connect(DockerConfig { host }).await?,
            download: Download::new(DownloadConfig { retries })?,
            temp_dir,
        })
    }
}

impl Daemon for Docker {
    fn platform(&self) -> &str {
        &self.daemon.platform
    }
    async fn image(&self, name: &str) -> Result<Option<LocalImage>, DockerError> {
        self.daemon.image(name).await
    }
    async fn pull(
        &self,
        repository: &str,
        digest: &str,
        platform: Option<&Platform>,
        credentials: Option<&Credentials>,
        log: &Log,
    ) -> Result<(), DockerError> {
        let registry = crate::core::reference::registry_of(repository);
        let platform = platform.map(Platform::to_string);
        self.daemon
            .pull(
                repository,
                digest,
                platform.as_deref(),
                credentials.map(|c| (registry, c.username.as_str(), c.password.expose())),
                &|m: &str| log.info(m),
            )
            .await
    }
    async fn tag(&self, id: &str, repository: &str, tag: &str) -> Result<(), DockerError> {
        self.daemon.tag(id, repository, tag).await
    }
    async fn remove_unused(&self, id: &str) -> bool {
        self.daemon.remove_unused(id).await
    }
    async fn load_artifact(
        &self,
        url: &url::Url,
        found: &ArtifactInfo,
        artifact_file: Option<&str>,
        log: &Log,
    ) -> Result<Loaded> {
        let what = format!("artifact `{}`", found.name);
        let opts = artifact::ArtifactOptions {
            expected_digest: found.digest.clone(),
            listed_size: found.size,
            artifact_file: artifact_file.map(str::to_string),
            temp_dir: Some(self.temp_dir.clone()),
        };
        // a stream cut mid-way starts again from scratch; the failed pass loaded nothing
        let (id, checked) = retry(
            &Policy::new(self.download.retries),
            &what,
            &|m: &str| log.info(m),
            |e: &Attempt| match e.transient {
                true => Fault::Transient { retry_after: None },
                false => Fault::Permanent,
            },
            || self.load_once(url, opts.clone(), &what),
        )
        .await
        .map_err(|a| a.error)?;
        log.info(&format!(
            "Loaded {} of {what} untagged as {id} ({} downloaded, tar {})",
            checked.entry_name,
            human(checked.bytes),
            checked.tar_sha256
        ));
        if let Some(note) = &checked.note {
            log.info(note);
        }
        Ok(Loaded {
            id,
            entry_name: checked.entry_name,
            revision: checked.revision,
            tar_digest: Some(checked.tar_sha256),
        })
    }
}

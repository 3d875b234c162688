//! The Docker daemon, with the artifact download and its checks.

use crate::adapters::docker::{DockerConfig, DockerDaemon, DockerError, LocalImage};
use crate::adapters::download::{Download, DownloadConfig};
use crate::adapters::github::ArtifactInfo;
use crate::artifact;
use crate::core::credentials::Auth;
use crate::core::platform::Platform;
use crate::core::size::human;
use crate::flow::log::Log;
use crate::flow::ports::{Daemon, Loaded};
use crate::retry::{retry, Fault, Policy};
use anyhow::{anyhow, Result};

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
        credentials: Option<&Auth>,
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

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
use crate::model::{BlobBody, BlobRef, Blobs};
use crate::retry::{retry, Fault, Policy};
use anyhow::{anyhow, Result};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

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
    async fn load_blobs(&self, blobs: Blobs, _log: &Log) -> Result<String, DockerError> {
        let what = format!("`{}`", blobs.reference);
        let tar = save_tar(blobs).map_err(|e| DockerError::Load {
            what: what.clone(),
            detail: e.to_string(),
        })?;
        self.daemon.load(&what, tar).await
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

enum Phase {
    Start(Vec<u8>),
    Header,
    Body,
    Pad,
    End(Vec<u8>),
    Done,
}

struct SaveTar {
    body: BlobBody,
    layers: Vec<BlobRef>,
    /// The layer being written, and its bytes still to come.
    at: usize,
    left: u64,
    phase: Phase,
    /// `manifest.json` and the end of the tar.
    tail: Option<Vec<u8>>,
}

/// Fetched blobs as a `docker save` tar, streamed: the config, each distinct layer as its bytes
/// arrive (compressed layers as they are: the daemon inflates them), `manifest.json` last. A
/// failed fetch ends the tar in an error, before anything names an image.
fn save_tar(
    blobs: Blobs,
) -> std::io::Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static> {
    use artifact::image::save;
    let order: Vec<&str> = blobs.layers.iter().map(|l| l.digest.as_str()).collect();
    let state = SaveTar {
        tail: Some(save::end(&blobs.config_digest, &order)?),
        phase: Phase::Start(save::start(&blobs.config_digest, &blobs.config)?),
        layers: Blobs::distinct(&blobs.layers),
        body: blobs.body,
        at: 0,
        left: 0,
    };
    Ok(futures_util::stream::unfold(state, |mut st| async move {
        let item = st.step().await?;
        Some((item, st))
    }))
}

impl SaveTar {
    async fn step(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        use artifact::image::save;
        loop {
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Start(head) => {
                    self.phase = Phase::Header;
                    return Some(Ok(Bytes::from(head)));
                }
                Phase::Header => {
                    let Some(layer) = self.layers.get(self.at) else {
                        self.phase = Phase::End(self.tail.take().unwrap_or_default());
                        continue;
                    };
                    self.left = layer.size;
                    self.phase = Phase::Body;
                    return Some(save::layer_header(&layer.digest, layer.size).map(Bytes::from));
                }
                Phase::Body if self.left == 0 => self.phase = Phase::Pad,
                Phase::Body => match self.body.next().await {
                    Some(Ok(b)) if b.len() as u64 <= self.left => {
                        self.left -= b.len() as u64;
                        self.phase = Phase::Body;
                        return Some(Ok(b));
                    }
                    Some(Ok(_)) => {
                        return Some(Err(std::io::Error::other("a blob ran past its size")))
                    }
                    Some(Err(e)) => return Some(Err(e)),
                    None => return Some(Err(std::io::Error::other("the blobs ended early"))),
                },
                Phase::Pad => {
                    let size = self.layers[self.at].size;
                    self.at += 1;
                    self.phase = Phase::Header;
                    let pad = save::padding(size);
                    if !pad.is_empty() {
                        return Some(Ok(Bytes::from_static(pad)));
                    }
                }
                Phase::End(tail) => {
                    // the fetch's own end: it may still report a failure
                    return match self.body.next().await {
                        None => Some(Ok(Bytes::from(tail))),
                        Some(Err(e)) => Some(Err(e)),
                        Some(Ok(_)) => Some(Err(std::io::Error::other(
                            "more blob bytes than the layers hold",
                        ))),
                    };
                }
                Phase::Done => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FetchFailure;
    use sha2::{Digest, Sha256};
    use std::io::Read;

    fn digest(b: &[u8]) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(b)))
    }

    fn blobs(layers: &[&[u8]], body: Vec<Result<Bytes, std::io::Error>>) -> Blobs {
        let config = Bytes::from_static(b"{\"rootfs\":{}}");
        Blobs {
            reference: "r@sha256:x".into(),
            config_digest: digest(&config),
            config,
            layers: layers
                .iter()
                .map(|l| BlobRef {
                    digest: digest(l),
                    size: l.len() as u64,
                })
                .collect(),
            body: Box::pin(futures_util::stream::iter(body)),
            failure: FetchFailure::default(),
            stats: Default::default(),
        }
    }

    async fn collect(b: Blobs) -> (Vec<u8>, Option<std::io::Error>) {
        let s = save_tar(b).unwrap();
        futures_util::pin_mut!(s);
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn fetched_blobs_become_a_docker_save_tar_with_the_manifest_last() {
        let (a, b) = (vec![1u8; 1000], vec![2u8; 512]);
        // a layer listed twice is written once; its bytes may come in several pieces
        let body = vec![
            Ok(Bytes::from(a[..600].to_vec())),
            Ok(Bytes::from(a[600..].to_vec())),
            Ok(Bytes::from(b.clone())),
        ];
        let fetched = blobs(&[&a, &b, &a], body);
        let config_digest = fetched.config_digest.clone();
        let (tar, err) = collect(fetched).await;
        assert!(err.is_none());
        let mut ar = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            seen.push((path, data));
        }
        let hex = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
        let names: Vec<&str> = seen.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "blobs/",
                "blobs/sha256/",
                hex(&config_digest).as_str(),
                hex(&digest(&a)).as_str(),
                hex(&digest(&b)).as_str(),
                "manifest.json"
            ]
        );
        assert_eq!((&seen[3].1, &seen[4].1), (&a, &b));
        let manifest: serde_json::Value = serde_json::from_slice(&seen[5].1).unwrap();
        assert_eq!(manifest[0]["RepoTags"], serde_json::Value::Null);
        assert_eq!(
            manifest[0]["Layers"],
            serde_json::json!([hex(&digest(&a)), hex(&digest(&b)), hex(&digest(&a))])
        );
    }

    #[tokio::test]
    async fn a_failed_fetch_ends_the_tar_before_anything_names_an_image() {
        let a = vec![1u8; 1000];
        for body in [
            vec![
                Ok(Bytes::from(a[..600].to_vec())),
                Err(std::io::Error::other("lying blob")),
            ],
            // short, or longer than listed
            vec![Ok(Bytes::from(a[..600].to_vec()))],
            vec![Ok(Bytes::from(a.clone())), Ok(Bytes::from_static(b"x"))],
        ] {
            let (tar, err) = collect(blobs(&[&a], body)).await;
            assert!(err.is_some());
            assert!(
                !tar.windows(13).any(|w| w == b"manifest.json"),
                "manifest.json was sent"
            );
        }
    }
}

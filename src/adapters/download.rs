//! Artifact download with `reqwest`: streamed to a file, hashed on the way, never held in memory.
//! It sends no credentials: the URL is GitHub's signed one, on another host.

use super::chain;
use crate::retry::{retry, Fault, Policy};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub struct DownloadConfig {
    pub retries: u32,
}

pub struct Download {
    client: reqwest::Client,
    retries: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("downloading {host}: HTTP {status}{}", if *.status == 403 { " (the signed URL may have expired; re-run the step)" } else { "" })]
    Status { host: String, status: u16 },
    #[error("downloading {host}: {detail}")]
    Transport { host: String, detail: String },
    #[error("downloading {host}: got {got} of {want} bytes (connection closed early)")]
    Truncated { host: String, got: u64, want: u64 },
    #[error("the artifact's digest is {actual}, but GitHub lists {expected}: the download is corrupt or was replaced; nothing was loaded")]
    Digest { expected: String, actual: String },
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Download {
    pub fn new(cfg: DownloadConfig) -> anyhow::Result<Download> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("image-resolver/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            // a signed URL may redirect once more; a loop ends here
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()?;
        Ok(Download {
            client,
            retries: cfg.retries,
        })
    }

    /// Streams `url` into `dest`; a truncated or failed transfer starts again from scratch.
    /// `expected` is `sha256:<hex>`; a mismatch is final.
    pub async fn fetch(
        &self,
        url: &url::Url,
        dest: &Path,
        expected: Option<&str>,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<u64, DownloadError> {
        let host = url.host_str().unwrap_or("?").to_string();
        let policy = Policy::new(self.retries);
        let fault = |e: &DownloadError| match e {
            DownloadError::Transport { .. } | DownloadError::Truncated { .. } => {
                Fault::Transient { retry_after: None }
            }
            DownloadError::Status { status, .. } if *status >= 500 || *status == 429 => {
                Fault::Transient { retry_after: None }
            }
            _ => Fault::Permanent,
        };
        let (len, digest) = retry(
            &policy,
            &format!("download from {host}"),
            log,
            fault,
            || self.once(url, &host, dest),
        )
        .await?;
        if let Some(want) = expected {
            if !want.eq_ignore_ascii_case(&digest) {
                let _ = std::fs::remove_file(dest);
                return Err(DownloadError::Digest {
                    expected: want.into(),
                    actual: digest,
                });
            }
        }
        Ok(len)
    }

    async fn once(
        &self,
        url: &url::Url,
        host: &str,
        dest: &Path,
    ) -> Result<(u64, String), DownloadError> {
        let transport = |e: reqwest::Error| DownloadError::Transport {
            host: host.into(),
            detail: chain(&e),
        };
        let io = |source| DownloadError::Io {
            path: dest.display().to_string(),
            source,
        };
        let res = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(transport)?;
        if !res.status().is_success() {
            return Err(DownloadError::Status {
                host: host.into(),
                status: res.status().as_u16(),
            });
        }
        let want = res.content_length();
        let mut file = tokio::fs::File::create(dest).await.map_err(io)?;
        let mut hasher = Sha256::new();
        let mut got = 0u64;
        let mut body = res.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(transport)?;
            hasher.update(&chunk);
            got += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)?;
        if let Some(want) = want {
            if got != want {
                return Err(DownloadError::Truncated {
                    host: host.into(),
                    got,
                    want,
                });
            }
        }
        Ok((got, format!("sha256:{}", hex::encode(hasher.finalize()))))
    }
}

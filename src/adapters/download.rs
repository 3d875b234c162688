//! Artifact download with `reqwest`: a byte stream under the contract's limits (connect, headers,
//! stall rule), never held in memory or on disk here. It sends no credentials: the URL is
//! GitHub's signed one, on another host.

use super::{chain, limits};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

pub struct DownloadConfig {
    pub retries: u32,
}

pub struct Download {
    client: reqwest::Client,
    pub retries: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("downloading {host}: HTTP {status}{}", if *.status == 403 { " (the signed URL may have expired; re-run the step)" } else { "" })]
    Status { host: String, status: u16 },
    #[error("downloading {host}: {detail}")]
    Transport { host: String, detail: String },
    #[error("downloading {host}: got {got} of {want} bytes (connection closed early)")]
    Truncated { host: String, got: u64, want: u64 },
}

impl DownloadError {
    /// Worth starting the download again from scratch.
    pub fn is_transient(&self) -> bool {
        match self {
            DownloadError::Transport { .. } | DownloadError::Truncated { .. } => true,
            DownloadError::Status { status, .. } => *status >= 500 || *status == 429,
        }
    }
}

impl Download {
    pub fn new(cfg: DownloadConfig) -> anyhow::Result<Download> {
        let client = limits::client_builder()
            // a signed URL may redirect once more; a loop ends here
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()?;
        Ok(Download {
            client,
            retries: cfg.retries,
        })
    }

    /// Starts the download of `url`: the response's body as a stream, under the stall rule; a
    /// body shorter than its `Content-Length` ends in `Truncated`. One attempt: the caller
    /// restarts the whole pipeline on a transient error.
    pub async fn open(
        &self,
        url: &url::Url,
    ) -> Result<impl Stream<Item = Result<Bytes, DownloadError>> + Send + 'static, DownloadError>
    {
        let host = url.host_str().unwrap_or("?").to_string();
        let transport = |detail: String| DownloadError::Transport {
            host: host.clone(),
            detail,
        };
        let res = limits::headers(self.client.get(url.clone()).send())
            .await
            .map_err(|e| transport(e.to_string()))?
            .map_err(|e| transport(chain(&without_url(e))))?;
        if !res.status().is_success() {
            return Err(DownloadError::Status {
                host,
                status: res.status().as_u16(),
            });
        }
        let want = res.content_length();
        let body = limits::guarded(res.bytes_stream().map(|r| r.map_err(without_url)));
        let state = (Box::pin(body), host, 0u64, false);
        Ok(futures_util::stream::unfold(
            state,
            move |(mut body, host, got, done)| async move {
                if done {
                    return None;
                }
                match body.next().await {
                    Some(Ok(chunk)) => {
                        let got = got + chunk.len() as u64;
                        Some((Ok(chunk), (body, host, got, false)))
                    }
                    Some(Err(e)) => {
                        let err = DownloadError::Transport {
                            host: host.clone(),
                            detail: e.to_string(),
                        };
                        Some((Err(err), (body, host, got, true)))
                    }
                    None => match want {
                        Some(want) if got != want => {
                            let err = DownloadError::Truncated {
                                host: host.clone(),
                                got,
                                want,
                            };
                            Some((Err(err), (body, host, got, true)))
                        }
                        _ => None,
                    },
                }
            },
        ))
    }
}

/// A signed URL is a credential: errors print the host, never the URL.
fn without_url(e: reqwest::Error) -> reqwest::Error {
    e.without_url()
}

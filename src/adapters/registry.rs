//! The registry, through `oci-client`: manifest, digest and config labels, never a layer.

use super::chain;
use crate::core::platform::Platform;
use crate::retry::{retry, Fault, Policy};
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OciDescriptor, OciImageIndex, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Configs are small; a registry serving more than this for one is not serving a config.
const MAX_CONFIG: usize = 8 << 20;

const ACCEPT: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

pub struct RegistryConfig {
    /// `host[:port]`; loopback hosts are reached over plain HTTP, as Docker does by default.
    pub registry: String,
    pub plain_http: bool,
    pub credentials: Option<(String, String)>,
    pub retries: u32,
}

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
    #[error("{reference} does not exist in the registry (tag or repository unknown): check that the build pushed this tag (its `mode: compute` gives the same one), or set `wait-timeout` to wait for it")]
    NotFound { reference: String },
    #[error("{registry} refused the credentials for {reference} (401){}", hint(*.with_credentials))]
    Unauthorized {
        registry: String,
        reference: String,
        with_credentials: bool,
    },
    #[error("{registry} denied access to {reference} (403): the credentials work but may not pull this repository")]
    Denied { registry: String, reference: String },
    #[error(
        "{registry} could not be reached for {reference} after {attempts} attempt(s): {detail}"
    )]
    Unreachable {
        registry: String,
        reference: String,
        attempts: u32,
        detail: String,
    },
    #[error("{reference}: the registry's answer is not usable: {detail}")]
    Protocol { reference: String, detail: String },
    #[error("{reference} is a multi-platform image without {wanted} (it has: {available}); set `platform`")]
    NoPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
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
        matches!(self, RegistryError::NotFound { .. })
    }
    /// Missing, or still unreachable after retries: "no usable image" in the contract's words.
    pub fn means_no_usable_image(&self) -> bool {
        matches!(
            self,
            RegistryError::NotFound { .. } | RegistryError::Unreachable { .. }
        )
    }
}

pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    cfg: RegistryConfig,
}

/// What a failed call means, before it is dressed as a `RegistryError`.
#[derive(Debug)]
enum Raw {
    NotFound,
    Unauthorized,
    Denied,
    Transient(String),
    Protocol(String),
}

impl Raw {
    /// Only transport faults, 5xx and 429 are worth another attempt.
    fn fault(&self) -> Fault {
        match self {
            Raw::Transient(_) => Fault::Transient { retry_after: None },
            _ => Fault::Permanent,
        }
    }
}

impl std::fmt::Display for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Raw::NotFound => f.write_str("not found"),
            Raw::Unauthorized => f.write_str("401 unauthorized"),
            Raw::Denied => f.write_str("403 denied"),
            Raw::Transient(s) | Raw::Protocol(s) => f.write_str(s),
        }
    }
}

fn classify(e: OciDistributionError) -> Raw {
    use OciDistributionError as E;
    match e {
        E::UnauthorizedError { .. } => Raw::Unauthorized,
        E::AuthenticationFailure(m)
            if m.contains("401") || m.to_ascii_lowercase().contains("unauthorized") =>
        {
            Raw::Unauthorized
        }
        E::ImageManifestNotFoundError(_) => Raw::NotFound,
        E::RegistryError { envelope, .. } => match envelope.errors.first().map(|e| &e.code) {
            Some(
                OciErrorCode::ManifestUnknown
                | OciErrorCode::NameUnknown
                | OciErrorCode::NotFound
                | OciErrorCode::BlobUnknown,
            ) => Raw::NotFound,
            Some(OciErrorCode::Unauthorized) => Raw::Unauthorized,
            Some(OciErrorCode::Denied) => Raw::Denied,
            Some(OciErrorCode::Toomanyrequests) => Raw::Transient("429 too many requests".into()),
            _ => Raw::Protocol(envelope.to_string()),
        },
        E::ServerError { code, message, .. } => match code {
            401 => Raw::Unauthorized,
            403 => Raw::Denied,
            404 => Raw::NotFound,
            408 | 429 | 500..=599 => Raw::Transient(format!("HTTP {code}")),
            _ => Raw::Protocol(format!(
                "HTTP {code}: {}",
                message.chars().take(200).collect::<String>()
            )),
        },
        E::RequestError(r) => Raw::Transient(chain(&r)),
        E::IoError(io) => Raw::Transient(format!("i/o: {io}")),
        other => Raw::Protocol(other.to_string()),
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl Registry {
    pub fn new(cfg: RegistryConfig) -> Registry {
        let protocol = if cfg.plain_http {
            ClientProtocol::HttpsExcept(vec![cfg.registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            user_agent: concat!("image-resolver/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        });
        let auth = match &cfg.credentials {
            Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            None => RegistryAuth::Anonymous,
        };
        Registry { client, auth, cfg }
    }

    fn error(&self, reference: &str, raw: Raw) -> RegistryError {
        let registry = self.cfg.registry.clone();
        let reference = reference.to_string();
        match raw {
            Raw::NotFound => RegistryError::NotFound { reference },
            Raw::Unauthorized => RegistryError::Unauthorized {
                registry,
                reference,
                with_credentials: self.cfg.credentials.is_some(),
            },
            Raw::Denied => RegistryError::Denied {
                registry,
                reference,
            },
            Raw::Transient(detail) => RegistryError::Unreachable {
                registry,
                reference,
                attempts: self.cfg.retries,
                detail,
            },
            Raw::Protocol(detail) => RegistryError::Protocol { reference, detail },
        }
    }

    async fn manifest_raw(
        &self,
        r: &Reference,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<(bytes::Bytes, String), Raw> {
        let policy = Policy::new(self.cfg.retries);
        let (body, digest) = retry(
            &policy,
            &format!("manifest of {r}"),
            log,
            Raw::fault,
            || async {
                self.client
                    .pull_manifest_raw(r, &self.auth, ACCEPT)
                    .await
                    .map_err(classify)
            },
        )
        .await?;
        // oci-client checks the header; we check the bytes ourselves too
        let actual = sha256(&body);
        if digest.starts_with("sha256:") && actual != digest {
            return Err(Raw::Protocol(format!(
                "manifest digest {digest} does not match its content ({actual})"
            )));
        }
        Ok((body, actual))
    }

    /// Resolves a reference to its manifest, digest and labels. No layer is downloaded.
    pub async fn inspect(
        &self,
        reference: &str,
        platform: &Platform,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<RemoteImage, RegistryError> {
        let r: Reference = reference.parse().map_err(|e| RegistryError::Protocol {
            reference: reference.into(),
            detail: format!("not a reference: {e}"),
        })?;
        let (body, digest) = self
            .manifest_raw(&r, log)
            .await
            .map_err(|e| self.error(reference, e))?;
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            self.error(
                reference,
                Raw::Protocol(format!("manifest is not JSON: {e}")),
            )
        })?;
        let (manifest_body, manifest_digest) = if value.get("manifests").is_some() {
            let index: OciImageIndex = serde_json::from_value(value).map_err(|e| {
                self.error(reference, Raw::Protocol(format!("bad image index: {e}")))
            })?;
            let entry =
                pick_platform(&index, platform).ok_or_else(|| RegistryError::NoPlatform {
                    reference: reference.into(),
                    wanted: platform.to_string(),
                    available: index
                        .manifests
                        .iter()
                        .filter_map(|m| {
                            m.platform
                                .as_ref()
                                .map(|p| format!("{}/{}", p.os, p.architecture))
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            let by_digest = r.clone_with_digest(entry.digest.clone());
            let (b, d) = self
                .manifest_raw(&by_digest, log)
                .await
                .map_err(|e| self.error(reference, e))?;
            if d != entry.digest {
                return Err(self.error(
                    reference,
                    Raw::Protocol(format!("platform manifest {} hashes to {d}", entry.digest)),
                ));
            }
            (b, d)
        } else {
            (body, digest.clone())
        };
        let manifest: OciImageManifest = serde_json::from_slice(&manifest_body).map_err(|e| {
            self.error(reference, Raw::Protocol(format!("bad image manifest: {e}")))
        })?;
        let config = self
            .config_blob(&r, &manifest.config, log)
            .await
            .map_err(|e| self.error(reference, e))?;
        let cfg: serde_json::Value = serde_json::from_slice(&config).map_err(|e| {
            self.error(reference, Raw::Protocol(format!("config is not JSON: {e}")))
        })?;
        let labels = cfg
            .pointer("/config/Labels")
            .and_then(|l| l.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let os = cfg.get("os").and_then(|v| v.as_str()).unwrap_or("?");
        let arch = cfg
            .get("architecture")
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        Ok(RemoteImage {
            digest,
            manifest_digest,
            config_digest: manifest.config.digest.clone(),
            labels,
            layers: manifest.layers.len(),
            size: manifest.layers.iter().map(|l| l.size.max(0) as u64).sum(),
            platform: format!("{os}/{arch}"),
        })
    }

    async fn config_blob(
        &self,
        r: &Reference,
        desc: &OciDescriptor,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<Vec<u8>, Raw> {
        if desc.size < 0 || desc.size as usize > MAX_CONFIG {
            return Err(Raw::Protocol(format!(
                "config blob claims {} bytes",
                desc.size
            )));
        }
        let policy = Policy::new(self.cfg.retries);
        let data = retry(
            &policy,
            &format!("config of {r}"),
            log,
            Raw::fault,
            || async {
                let mut stream = self
                    .client
                    .pull_blob_stream(r, desc)
                    .await
                    .map_err(classify)?;
                let mut data = Vec::with_capacity(desc.size as usize);
                while let Some(chunk) = stream.next().await {
                    let chunk =
                        chunk.map_err(|e| Raw::Transient(format!("reading config: {e}")))?;
                    if data.len() + chunk.len() > MAX_CONFIG {
                        return Err(Raw::Protocol("config blob is larger than 8 MiB".into()));
                    }
                    data.extend_from_slice(&chunk);
                }
                Ok(data)
            },
        )
        .await?;
        let actual = sha256(&data);
        if actual != desc.digest {
            return Err(Raw::Protocol(format!(
                "config blob {} hashes to {actual}",
                desc.digest
            )));
        }
        Ok(data)
    }
}

fn pick_platform<'a>(
    index: &'a OciImageIndex,
    want: &Platform,
) -> Option<&'a oci_client::manifest::ImageIndexEntry> {
    let matches = |e: &&oci_client::manifest::ImageIndexEntry| {
        e.platform.as_ref().is_some_and(|p| {
            p.os.to_string() == want.os
                && p.architecture.to_string() == want.architecture
                && (want.variant.is_none() || p.variant == want.variant)
        })
    };
    index.manifests.iter().find(matches)
}

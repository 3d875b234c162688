//! The registry over the distribution API: manifest, digest and config labels (never a layer),
//! and promotion (a registry-side copy). Every body is read through the shared limits.

mod blobs;
mod clean;
mod promote;
mod referrers;
mod session;

pub use crate::model::Promoted;
pub use promote::Target;

use crate::core::platform::Platform;
use crate::core::reference::{repository_path, ImageRef};
pub use crate::model::{RegistryError, RemoteImage};
use crate::retry::{retry, Policy};
use session::{checked_digest, scope, Manifest, Raw, Session, MAX_CONFIG};
use std::collections::BTreeMap;

pub struct RegistryConfig {
    /// `host[:port]`; loopback hosts are reached over plain HTTP, as Docker does by default.
    pub registry: String,
    pub plain_http: bool,
    pub credentials: Option<(String, String)>,
    pub retries: u32,
}

pub struct Registry {
    session: Session,
    cfg: RegistryConfig,
}

/// A reference split for the API: the repository path on its registry and the tag or digest.
struct Located {
    path: String,
    reference: String,
}

/// `ghcr.io/acme/app:1` → `acme/app` and `1`; Docker Hub's official images live under `library/`.
fn locate(r: &ImageRef) -> Located {
    let path = repository_path(&r.repository);
    let reference = r
        .digest
        .clone()
        .or_else(|| r.tag.clone())
        .unwrap_or_else(|| "latest".to_string());
    Located { path, reference }
}

impl Registry {
    pub fn new(cfg: RegistryConfig) -> Registry {
        let session = Session::new(&cfg.registry, cfg.plain_http, cfg.credentials.clone());
        Registry { session, cfg }
    }

    fn error(&self, reference: &str, raw: Raw) -> RegistryError {
        let registry = self.cfg.registry.clone();
        let reference = reference.to_string();
        match raw {
            Raw::NotFound => RegistryError::NotFound { reference },
            Raw::NameUnknown => RegistryError::NoRepository {
                repository: ImageRef::parse(&reference)
                    .map(|r| r.repository)
                    .unwrap_or_else(|_| reference.clone()),
                registry,
                reference,
            },
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
                rate_limit: None,
                with_credentials: self.cfg.credentials.is_some(),
            },
            Raw::RateLimited(limit) => RegistryError::Unreachable {
                registry,
                reference,
                attempts: 1,
                detail: String::new(),
                rate_limit: Some(limit),
                with_credentials: self.cfg.credentials.is_some(),
            },
            Raw::Protocol(detail) => RegistryError::Protocol { reference, detail },
            Raw::Integrity(detail) => RegistryError::Integrity { reference, detail },
        }
    }

    fn policy(&self) -> Policy {
        Policy::new(self.cfg.retries)
    }

    /// A manifest by tag or digest, retried while the fault may pass.
    async fn manifest(
        &self,
        path: &str,
        reference: &str,
        scopes: &[String],
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<Manifest, Raw> {
        retry(
            &self.policy(),
            &format!("manifest {path}:{reference}"),
            log,
            Raw::fault,
            || self.session.manifest(path, reference, scopes),
        )
        .await
    }

    /// Resolves a reference to its manifest, digest and labels. No layer is downloaded.
    pub async fn inspect(
        &self,
        image: &ImageRef,
        platform: &Platform,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<RemoteImage, RegistryError> {
        let reference = &image.to_string();
        let at = locate(image);
        let fail = |raw| self.error(reference, raw);
        let pull = [scope(&at.path, "pull")];
        let top = match self.manifest(&at.path, &at.reference, &pull, log).await {
            Ok(m) => m,
            // a wrong `image` and a tag not pushed yet call for different fixes
            Err(Raw::NotFound) if self.session.repository_unknown(&at.path, &pull).await => {
                return Err(fail(Raw::NameUnknown))
            }
            Err(e) => return Err(fail(e)),
        };
        // only the fields used: an index's children, or nothing (an image manifest)
        #[derive(serde::Deserialize)]
        struct Top {
            manifests: Option<Vec<IndexEntry>>,
        }
        let top_doc: Top = serde_json::from_slice(&top.bytes)
            .map_err(|e| fail(Raw::Protocol(format!("bad manifest or image index: {e}"))))?;
        let manifest = if let Some(entries) = top_doc.manifests {
            // every child's digest is checked before any is used
            for e in &entries {
                checked_digest("index child digest", &e.digest).map_err(fail)?;
            }
            let entry =
                pick_platform(&entries, platform).ok_or_else(|| RegistryError::NoPlatform {
                    reference: reference.into(),
                    wanted: platform.to_string(),
                    available: entries
                        .iter()
                        .filter_map(|m| m.platform.as_ref())
                        .map(|p| format!("{}/{}", p.os, p.architecture))
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            // fetched by digest: the session checks the bytes against it
            self.manifest(&at.path, &entry.digest, &pull, log)
                .await
                .map_err(fail)?
        } else {
            top.clone()
        };
        let image: ImageManifest = serde_json::from_slice(&manifest.bytes)
            .map_err(|e| fail(Raw::Protocol(format!("bad image manifest: {e}"))))?;
        let config = &image.config;
        let data = self
            .config_blob(&at.path, config, reference, &pull, log)
            .await
            .map_err(fail)?;
        log(&format!(
            "{reference}: manifest {}, config {}",
            manifest.digest, config.digest
        ));
        let cfg: ImageConfig = serde_json::from_slice(&data)
            .map_err(|e| fail(Raw::Protocol(format!("config is not JSON: {e}"))))?;
        let labels = cfg.config.and_then(|c| c.labels).unwrap_or_default().0;
        let os = cfg.os.as_deref().unwrap_or("?");
        let arch = cfg.architecture.as_deref().unwrap_or("?");
        Ok(RemoteImage {
            digest: top.digest,
            manifest_digest: manifest.digest,
            config_digest: config.digest.clone(),
            labels,
            layers: image.layers.len(),
            size: image.layers.iter().map(|l| l.size).sum(),
            platform: format!("{os}/{arch}"),
        })
    }
}

/// The parts of an OCI / Docker v2 descriptor we use.
#[derive(Debug, Clone, serde::Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    /// Foreign (non-distributable) layers live elsewhere and are not copied.
    #[serde(default)]
    urls: Vec<String>,
}

impl Registry {
    /// An image manifest's config: its digest checked before it is asked for, at most
    /// `MAX_CONFIG` bytes, hashed, retried as a fault allows.
    async fn config_blob(
        &self,
        path: &str,
        config: &Descriptor,
        reference: &str,
        pull: &[String],
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<bytes::Bytes, Raw> {
        checked_digest("config digest", &config.digest)?;
        if config.size > MAX_CONFIG as u64 {
            return Err(Raw::Protocol(format!(
                "config blob claims {} bytes",
                config.size
            )));
        }
        retry(
            &self.policy(),
            &format!("config of {reference}"),
            log,
            Raw::fault,
            || {
                self.session
                    .small_blob(path, &config.digest, MAX_CONFIG, pull)
            },
        )
        .await
    }
}

#[derive(Debug, serde::Deserialize)]
struct ImageManifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// The parts of an image config we use: its platform and labels.
#[derive(serde::Deserialize)]
struct ImageConfig {
    #[serde(default, deserialize_with = "lenient_string")]
    os: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    architecture: Option<String>,
    #[serde(default)]
    config: Option<ConfigSection>,
}

#[derive(serde::Deserialize)]
struct ConfigSection {
    #[serde(rename = "Labels", default)]
    labels: Option<Labels>,
}

/// Labels with string values, at most `MAX_LABELS` of them: an 8 MiB config of tiny labels
/// must not become a map of a million entries. The revision label is kept wherever it stands.
#[derive(Default)]
struct Labels(BTreeMap<String, String>);

const MAX_LABELS: usize = 256;

impl<'de> serde::Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Labels;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of labels")
            }
            fn visit_unit<E>(self) -> Result<Labels, E> {
                Ok(Labels::default())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Labels, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    let keep = out.len() < MAX_LABELS || k == crate::core::revision::REVISION_LABEL;
                    if keep {
                        if let Some(v) = m.next_value::<Lenient>()?.0 {
                            out.insert(k.into_owned(), v);
                        }
                    } else {
                        m.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(Labels(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string, or nothing for any other JSON value (skipped without building it).
struct Lenient(Option<String>);

impl<'de> serde::Deserialize<'de> for Lenient {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Lenient, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Lenient;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Lenient, E> {
                Ok(Lenient(Some(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Lenient, E> {
                Ok(Lenient(Some(v)))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E>(self) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut s: A,
            ) -> Result<Lenient, A::Error> {
                while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Lenient, A::Error> {
                while m
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Lenient(None))
            }
        }
        d.deserialize_any(V)
    }
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(<Lenient as serde::Deserialize>::deserialize(d)?.0)
}

#[derive(Debug, serde::Deserialize)]
struct IndexEntry {
    digest: String,
    platform: Option<IndexPlatform>,
}

#[derive(Debug, serde::Deserialize)]
struct IndexPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

fn pick_platform<'a>(entries: &'a [IndexEntry], want: &Platform) -> Option<&'a IndexEntry> {
    entries.iter().find(|e| {
        e.platform.as_ref().is_some_and(|p| {
            p.os == want.os
                && p.architecture == want.architecture
                && (want.variant.is_none() || p.variant == want.variant)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_path_and_reference() {
        for (input, path, reference) in [
            ("ghcr.io/acme/app:1.2", "acme/app", "1.2"),
            ("127.0.0.1:5000/x/y", "x/y", "latest"),
            ("nginx", "library/nginx", "latest"),
            ("docker.io/nginx:1", "library/nginx", "1"),
            ("acme/app:t", "acme/app", "t"),
            (
                &format!("localhost:5000/a@sha256:{}", "a".repeat(64)),
                "a",
                &format!("sha256:{}", "a".repeat(64)),
            ),
        ] {
            let l = locate(&ImageRef::parse(input).unwrap());
            assert_eq!((l.path.as_str(), l.reference.as_str()), (path, reference));
        }
    }

    #[test]
    fn a_used_up_rate_limit_names_the_limit_and_the_login() {
        let reg = |creds: Option<(String, String)>| {
            Registry::new(RegistryConfig {
                registry: "docker.io".into(),
                plain_http: false,
                credentials: creds,
                retries: 3,
            })
        };
        let limit = || Raw::RateLimited("100 pulls per 6 h, 0 left".into());
        let anonymous = reg(None).error("nginx:1", limit());
        let text = anonymous.to_string();
        assert!(
            text.contains("Docker Hub's pull rate limit")
                && text.contains("log in")
                && text.contains("`registry-username` and `registry-password`")
                && text.contains("your account")
                && !text.contains("could not be reached"),
            "{text}"
        );
        // still "no usable image": pull mode may load the build's artifact instead
        assert!(anonymous.means_no_usable_image());
        let logged_in = reg(Some(("acme".into(), "pat".into())))
            .error("nginx:1", limit())
            .to_string();
        assert!(logged_in.contains("for this account"), "{logged_in}");
    }

    #[test]
    fn integrity_is_never_a_reason_to_fall_back() {
        let e = RegistryError::Integrity {
            reference: "r".into(),
            detail: "d".into(),
        };
        assert!(!e.means_no_usable_image() && e.is_integrity());
        assert!(e.to_string().contains("tampering"));
    }
}

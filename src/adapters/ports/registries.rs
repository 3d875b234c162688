//! The registries: one client per host, built on first use after its login.

use crate::adapters::registry::{self, Promoted, RegistryConfig, RegistryError, RemoteImage};
use crate::core::platform::Platform;
use crate::core::promote::{PromoteTarget, Referrer};
use crate::core::reference::{is_loopback_registry, registry_of, ImageRef};
use crate::flow::log::Log;
use crate::flow::ports::{Cleaner, Login, Registry};
use crate::model::{Blobs, ManifestFacts};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// One registry client per registry host, built on first use (after its login, asked once)
/// and shared by every image.
pub struct Registries<L> {
    login: Arc<L>,
    retries: u32,
    clients: Mutex<HashMap<String, Arc<OnceCell<Arc<registry::Registry>>>>>,
    /// Run by the runner (`GITHUB_ACTIONS=true`): loopback is the action's own container.
    own_network: bool,
    /// `insecure-registries`: plain HTTP, reached directly, as loopback registries are.
    insecure: Vec<String>,
}

impl<L: Login> Registries<L> {
    pub fn new(login: Arc<L>, retries: u32) -> Registries<L> {
        Registries {
            login,
            retries,
            clients: Mutex::default(),
            own_network: false,
            insecure: Vec::new(),
        }
    }

    pub fn insecure(self, registries: Vec<String>) -> Registries<L> {
        Registries {
            insecure: registries,
            ..self
        }
    }

    pub fn in_own_network(self, own_network: bool) -> Registries<L> {
        Registries {
            own_network,
            ..self
        }
    }

    async fn client(
        &self,
        host: &str,
        log: &Log,
    ) -> Result<Arc<registry::Registry>, RegistryError> {
        let cell = self
            .clients
            .lock()
            .expect("registry clients")
            .entry(host.to_string())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            let listed = self.insecure.iter().any(|r| r.eq_ignore_ascii_case(host));
            let plain_http = is_loopback_registry(host) || listed;
            let credentials = self
                .login
                .login(host)
                .await
                .map_err(|e| RegistryError::Login {
                    registry: host.to_string(),
                    detail: format!("{e:#}"),
                })?;
            log.debug(&format!(
                "registry `{host}`: {}, {}",
                match (plain_http, listed) {
                    (true, true) => "plain HTTP (`insecure-registries`)",
                    (true, false) => "plain HTTP (loopback)",
                    _ => "HTTPS",
                },
                match &credentials {
                    Some(c) => format!("logged in as `{}`", c.username),
                    None => "anonymous".into(),
                }
            ));
            Ok(Arc::new(registry::Registry::new(RegistryConfig {
                registry: host.to_string(),
                plain_http,
                credentials: credentials.map(|c| (c.username, c.password.expose().to_string())),
                retries: self.retries,
            })))
        })
        .await
        .cloned()
    }
}

impl<L: Login> Registry for Registries<L> {
    async fn inspect(
        &self,
        reference: &ImageRef,
        platform: &Platform,
        log: &Log,
    ) -> Result<RemoteImage, RegistryError> {
        let client = self.client(reference.registry(), log).await?;
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
        dry_run: bool,
        log: &Log,
    ) -> Result<Vec<Promoted>, RegistryError> {
        // each target through its registry's client: the source's credentials on the source's
        // registry, `promote-username` / `promote-password` elsewhere (the credentials policy)
        let mut clients: Vec<Arc<registry::Registry>> = Vec::new();
        for t in targets {
            let host = crate::core::reference::registry_of(&t.repository);
            clients.push(self.client(host, log).await?);
        }
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
            .await?
            .promote(source, &list, dry_run, &|m: &str| log.info(m))
            .await
    }

    async fn referrers(
        &self,
        repository: &str,
        digest: &str,
        artifact_type: Option<&str>,
        log: &Log,
    ) -> Result<Vec<Referrer>, RegistryError> {
        let client = self.client(registry_of(repository), log).await?;
        client
            .referrers(repository, digest, artifact_type, &|m: &str| log.info(m))
            .await
    }

    async fn bundles(
        &self,
        repository: &str,
        digest: &str,
        offer: &mut (dyn FnMut(&[u8]) -> bool + Send),
        log: &Log,
    ) -> Result<usize, RegistryError> {
        let client = self.client(registry_of(repository), log).await?;
        let max = crate::provenance::MAX_BUNDLE_BYTES;
        client
            .bundles(repository, digest, max, offer, &|m: &str| log.info(m))
            .await
    }

    async fn blobs(&self, image: &ImageRef, log: &Log) -> Result<Blobs, RegistryError> {
        let client = self.client(image.registry(), log).await?;
        client.blobs(image, &|m: &str| log.info(m)).await
    }
}

/// Clean mode's calls, each through the repository's registry client.
impl<L: Login> Cleaner for Registries<L> {
    async fn tags(&self, repository: &str, log: &Log) -> Result<Vec<String>, RegistryError> {
        let client = self.client(registry_of(repository), log).await?;
        client.tags(repository, &|m: &str| log.info(m)).await
    }
    async fn facts(
        &self,
        repository: &str,
        reference: &str,
        log: &Log,
    ) -> Result<ManifestFacts, RegistryError> {
        let client = self.client(registry_of(repository), log).await?;
        client
            .facts(repository, reference, &|m: &str| log.info(m))
            .await
    }
    async fn created(
        &self,
        repository: &str,
        config: &str,
        log: &Log,
    ) -> Result<Option<i64>, RegistryError> {
        let client = self.client(registry_of(repository), log).await?;
        client
            .created(repository, config, &|m: &str| log.info(m))
            .await
    }
    async fn untag(&self, repository: &str, tag: &str, log: &Log) -> Result<(), RegistryError> {
        let client = self.client(registry_of(repository), log).await?;
        client.untag(repository, tag, &|m: &str| log.info(m)).await
    }
    async fn place(&self, repository: &str, tag: &str, log: &Log) -> Result<String, RegistryError> {
        let client = self.client(registry_of(repository), log).await?;
        client.place(repository, tag, &|m: &str| log.info(m)).await
    }
    async fn listed_referrers(
        &self,
        repository: &str,
        digest: &str,
        log: &Log,
    ) -> Result<Option<Vec<String>>, RegistryError> {
        let client = self.client(registry_of(repository), log).await?;
        client
            .listed_referrers(repository, digest, &|m: &str| log.info(m))
            .await
    }

    async fn delete(&self, repository: &str, digest: &str, log: &Log) -> Result<(), RegistryError> {
        let client = self.client(registry_of(repository), log).await?;
        client
            .delete(repository, digest, &|m: &str| log.info(m))
            .await
    }
}

//! The flow's view of the outside world: small traits, so that the commands' decisions
//! (fallback, wait, merge-commit check, PR look-up) are tested in-process with fakes. Their real
//! implementations are adapters (src/adapters/ports/); the values that cross them live below
//! both, in src/model.rs and src/core.

use super::log::Log;
use crate::core::clean::{Package, PackageVersion, PrState};
use crate::core::credentials::Auth;
use crate::core::platform::Platform;
use crate::core::promote::{MergedPr, PromoteTarget, Referrer};
use crate::core::reference::ImageRef;
use crate::model::{
    ArtifactInfo, Blobs, DockerError, LocalImage, ManifestFacts, Promoted, RegistryError,
    RemoteImage, TreeEntry,
};
use anyhow::{anyhow, Result};
use std::future::Future;

pub use crate::model::Loaded;

/// Who we are at a registry: the inputs' login, GitHub's default, or a credential helper's.
/// Async, so that the answer may come from a process; every secret it returns is masked
/// before it is returned.
pub trait Login: Send + Sync {
    /// The login for a registry host; none is anonymous.
    fn login(&self, registry: &str) -> impl Future<Output = Result<Option<Auth>>> + Send;
}

pub trait Registry: Sync {
    /// The manifest, digest and labels behind a reference; no layer moves.
    fn inspect(
        &self,
        reference: &ImageRef,
        platform: &Platform,
        log: &Log,
    ) -> impl Future<Output = Result<RemoteImage, RegistryError>> + Send;
    /// Writes the manifest `source` (`repository@digest`) under each target, digest unchanged,
    /// with the source digest's referrers; `dry_run`: reads only, and says what it would write.
    fn promote(
        &self,
        source: &ImageRef,
        targets: &[PromoteTarget],
        dry_run: bool,
        log: &Log,
    ) -> impl Future<Output = Result<Vec<Promoted>, RegistryError>> + Send {
        let _ = (targets, dry_run, log);
        let reference = source.to_string();
        async move {
            Err(RegistryError::Protocol {
                reference,
                detail: "promotion is not available here".into(),
            })
        }
    }
    /// The referrers of `digest` in `repository` (`host/path`): the OCI referrers API, else the
    /// `sha256-<hex>` fallback index and cosign's tags; with `artifact_type`, only that type.
    fn referrers(
        &self,
        repository: &str,
        digest: &str,
        artifact_type: Option<&str>,
        log: &Log,
    ) -> impl Future<Output = Result<Vec<Referrer>, RegistryError>> + Send {
        let _ = (digest, artifact_type, log);
        std::future::ready(Err(RegistryError::Protocol {
            reference: repository.to_string(),
            detail: "referrers are not available here".into(),
        }))
    }
    /// The Sigstore bundles stored as referrers of `digest` in `repository`, given to `offer`
    /// one at a time until it returns true; how many were offered.
    fn bundles(
        &self,
        repository: &str,
        digest: &str,
        offer: &mut (dyn FnMut(&[u8]) -> bool + Send),
        log: &Log,
    ) -> impl Future<Output = Result<usize, RegistryError>> + Send {
        let _ = (digest, offer, log);
        std::future::ready(Err(RegistryError::Protocol {
            reference: repository.to_string(),
            detail: "bundles in the registry are not available here".into(),
        }))
    }
    /// `pull-with: client`: the blobs of one image manifest (`repository@digest`), fetched by
    /// the action itself, several at once and a large one in byte ranges, each checked against
    /// its digest as it streams.
    fn blobs(
        &self,
        image: &ImageRef,
        log: &Log,
    ) -> impl Future<Output = Result<Blobs, RegistryError>> + Send {
        let _ = log;
        let reference = image.to_string();
        async move {
            Err(RegistryError::Protocol {
                reference,
                detail: "pulling through the action is not available here".into(),
            })
        }
    }
}

/// Clean mode's port calls not offered by a port: an error, never a silent nothing.
fn not_here<T>(repository: &str) -> Result<T, RegistryError> {
    Err(RegistryError::Protocol {
        reference: repository.to_string(),
        detail: "clean-up is not available here".into(),
    })
}

/// Clean mode's registry calls, by repository (`host/path`, no tag).
pub trait Cleaner: Sync {
    /// Every tag, all pages read; any page unreadable fails the list.
    fn tags(
        &self,
        repository: &str,
        log: &Log,
    ) -> impl Future<Output = Result<Vec<String>, RegistryError>> + Send {
        let _ = log;
        std::future::ready(not_here(repository))
    }
    /// A manifest's digest, children, subject and config, by tag or digest.
    fn facts(
        &self,
        repository: &str,
        reference: &str,
        log: &Log,
    ) -> impl Future<Output = Result<ManifestFacts, RegistryError>> + Send {
        let _ = (reference, log);
        std::future::ready(not_here(repository))
    }
    /// An image config's `created`, Unix seconds.
    fn created(
        &self,
        repository: &str,
        config: &str,
        log: &Log,
    ) -> impl Future<Output = Result<Option<i64>, RegistryError>> + Send {
        let _ = (config, log);
        std::future::ready(not_here(repository))
    }
    /// Removes a tag whose digest stays.
    fn untag(
        &self,
        repository: &str,
        tag: &str,
        log: &Log,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send {
        let _ = (tag, log);
        std::future::ready(not_here(repository))
    }
    /// Moves a tag to a placeholder manifest of its own (the first half of removing a tag whose
    /// digest stays, where deleting goes by digest only); the placeholder's digest.
    fn place(
        &self,
        repository: &str,
        tag: &str,
        log: &Log,
    ) -> impl Future<Output = Result<String, RegistryError>> + Send {
        let _ = (tag, log);
        std::future::ready(not_here(repository))
    }
    /// The untagged referrers of `digest` that the OCI referrers API lists (their digests);
    /// `None` when the registry has no such API (the tag schemes are in the tag list already).
    fn listed_referrers(
        &self,
        repository: &str,
        digest: &str,
        log: &Log,
    ) -> impl Future<Output = Result<Option<Vec<String>>, RegistryError>> + Send {
        let _ = (repository, digest, log);
        std::future::ready(Ok(None))
    }
    /// Deletes a manifest (and with it every tag it still has); one already gone is deleted.
    fn delete(
        &self,
        repository: &str,
        digest: &str,
        log: &Log,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send {
        let _ = (digest, log);
        std::future::ready(not_here(repository))
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
    /// Clean mode: the open pull requests' numbers, every page.
    fn open_pull_requests(&self) -> impl Future<Output = Result<Vec<u64>>> + Send {
        async { Err(anyhow!("pull request listings are not available here")) }
    }
    /// Clean mode: one pull request's state.
    fn pull_request_state(&self, number: u64) -> impl Future<Output = Result<PrState>> + Send {
        let _ = number;
        async { Err(anyhow!("pull request look-ups are not available here")) }
    }
    /// Clean mode: the branch names, every page.
    fn branches(&self) -> impl Future<Output = Result<Vec<String>>> + Send {
        async { Err(anyhow!("branch listings are not available here")) }
    }
    /// Clean mode on ghcr.io: whether a package owner is an organization (else a user).
    fn owner_is_org(&self, owner: &str) -> impl Future<Output = Result<bool>> + Send {
        let _ = owner;
        async { Err(anyhow!("owner look-ups are not available here")) }
    }
    /// Clean mode on ghcr.io: a container package's versions (digests and their tags), every page.
    fn package_versions(
        &self,
        package: &Package,
        org: bool,
    ) -> impl Future<Output = Result<Vec<PackageVersion>>> + Send {
        let _ = (package, org);
        async { Err(anyhow!("package version listings are not available here")) }
    }
    /// Clean mode on ghcr.io: deletes a package version; one already gone is deleted.
    fn delete_package_version(
        &self,
        package: &Package,
        org: bool,
        id: u64,
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = (package, org, id);
        async { Err(anyhow!("package version deletion is not available here")) }
    }
    /// A tree's own entries (`git/trees/{sha}`), for walking `paths`.
    fn git_tree(&self, sha: &str) -> impl Future<Output = Result<Vec<TreeEntry>>> + Send {
        let _ = sha;
        async { Err(anyhow!("git trees are not available here")) }
    }
    /// The Sigstore bundles GitHub stores for a digest (`sha256:…`), given to `offer` one at a
    /// time until it returns true; how many were offered.
    fn attestations(
        &self,
        digest: &str,
        offer: &mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> impl Future<Output = Result<usize>> + Send;
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
        credentials: Option<&Auth>,
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
    /// Loads blobs the action fetched as one image, untagged, as they stream in: the image ID the
    /// daemon reports. A fetch that fails aborts the load, and nothing is loaded.
    fn load_blobs(
        &self,
        blobs: Blobs,
        log: &Log,
    ) -> impl Future<Output = Result<String, DockerError>> + Send {
        let _ = (log, blobs);
        async {
            Err(DockerError::Api {
                action: "load".into(),
                detail: "loading fetched blobs is not available here".into(),
            })
        }
    }
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
    type Registry: Registry + Cleaner;
    type GitHub: GitHubApi;
    type Daemon: Daemon;
    type Login: Login;
}

//! The GitHub API, as the flow asks it.

use crate::adapters::github::{ArtifactInfo, GitHub, GitHubConfig};
use crate::core::promote::MergedPr;
use crate::flow::ports::GitHubApi;
use crate::retry::Logger;
use anyhow::{anyhow, Result};
use std::sync::Mutex;

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
    async fn open_pull_requests(&self) -> Result<Vec<u64>> {
        Ok(self.get().await?.open_pull_requests().await?)
    }
    async fn pull_request_state(&self, number: u64) -> Result<crate::core::clean::PrState> {
        Ok(self.get().await?.pull_request_state(number).await?)
    }
    async fn branches(&self) -> Result<Vec<String>> {
        Ok(self.get().await?.branches().await?)
    }
    async fn owner_is_org(&self, owner: &str) -> Result<bool> {
        Ok(self.get().await?.owner_is_org(owner).await?)
    }
    async fn package_versions(
        &self,
        package: &crate::core::clean::Package,
        org: bool,
    ) -> Result<Vec<crate::core::clean::PackageVersion>> {
        Ok(self.get().await?.package_versions(package, org).await?)
    }
    async fn delete_package_version(
        &self,
        package: &crate::core::clean::Package,
        org: bool,
        id: u64,
    ) -> Result<()> {
        Ok(self
            .get()
            .await?
            .delete_package_version(package, org, id)
            .await?)
    }
    async fn git_tree(&self, sha: &str) -> Result<Vec<crate::model::TreeEntry>> {
        Ok(self.get().await?.git_tree(sha).await?)
    }
    async fn attestations(
        &self,
        digest: &str,
        offer: &mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> Result<usize> {
        Ok(self.get().await?.attestations(digest, offer).await?)
    }
}

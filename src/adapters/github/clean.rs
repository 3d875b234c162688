//! Clean mode's look-ups: the open pull requests and the branches (each listed once, page by
//! page), and one closed pull request's `closed_at`. Pages are parsed strictly: a page that
//! does not read whole fails the list, since a missing branch would look deleted. On ghcr.io,
//! where the registry API deletes nothing, the Packages API lists and deletes package versions.

use super::{chain, enc, limits, next_link, Attempt, GitHub, GitHubError};
use crate::core::clean::{Package, PackageVersion, PrState};
use std::sync::atomic::Ordering;

/// 100 a page: 100,000 branches or open pull requests at most.
const MAX_PAGES: u32 = 1000;

impl GitHub {
    /// Every page of a listing (`per_page=100&page=N`, while `Link` says `rel="next"`).
    async fn pages<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        route: &str,
        mut each: impl FnMut(T),
    ) -> Result<(), GitHubError> {
        for page in 1..=MAX_PAGES {
            let sep = if route.contains('?') { '&' } else { '?' };
            let res = self
                .get(what, &format!("{route}{sep}per_page=100&page={page}"))
                .await?;
            let items: Vec<T> =
                serde_json::from_slice(&res.body).map_err(|e| GitHubError::Transport {
                    what: what.into(),
                    detail: format!("page {page} is not the expected list: {e}"),
                })?;
            let n = items.len();
            items.into_iter().for_each(&mut each);
            if n == 0 || next_link(&res.headers).is_none() {
                return Ok(());
            }
        }
        Err(GitHubError::Transport {
            what: what.into(),
            detail: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// The numbers of this repository's open pull requests.
    pub async fn open_pull_requests(&self) -> Result<Vec<u64>, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Pull {
            number: u64,
        }
        let mut out = Vec::new();
        let route = format!("/repos/{}/pulls?state=open", self.repository);
        self.pages("open pull requests", &route, |p: Pull| out.push(p.number))
            .await?;
        Ok(out)
    }

    /// One pull request's state; `Missing` when the number names none.
    pub async fn pull_request_state(&self, number: u64) -> Result<PrState, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Pull {
            state: String,
            closed_at: Option<String>,
        }
        let what = format!("pull request #{number}");
        let res = match self
            .get(&what, &format!("/repos/{}/pulls/{number}", self.repository))
            .await
        {
            Err(GitHubError::NotFound { .. }) => return Ok(PrState::Missing),
            r => r?,
        };
        let bad = |detail: String| GitHubError::Transport {
            what: what.clone(),
            detail,
        };
        let p: Pull =
            serde_json::from_slice(&res.body).map_err(|e| bad(format!("unexpected body: {e}")))?;
        match (p.state.as_str(), p.closed_at) {
            ("open", _) => Ok(PrState::Open),
            ("closed", Some(at)) => chrono::DateTime::parse_from_rfc3339(&at)
                .map(|t| PrState::Closed {
                    closed_at: t.timestamp(),
                })
                .map_err(|e| bad(format!("`closed_at` is not a time: {e}"))),
            (s, _) => Err(bad(format!(
                "state `{}` without a closing time",
                s.escape_default().take(20).collect::<String>()
            ))),
        }
    }

    /// The names of this repository's branches.
    pub async fn branches(&self) -> Result<Vec<String>, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Branch {
            name: String,
        }
        let mut out = Vec::new();
        let route = format!("/repos/{}/branches", self.repository);
        self.pages("branches", &route, |b: Branch| out.push(b.name))
            .await?;
        Ok(out)
    }
}

/// The Packages API's refusals name the permission (not the artifact ones `get` names).
fn packages_refused(e: GitHubError, need: &str) -> GitHubError {
    let (what, status) = match e {
        GitHubError::Forbidden { what } => (what, "403 forbidden"),
        GitHubError::NotFound { what } => (
            what,
            "404 not found (no such package, or the token cannot see it)",
        ),
        e => return e,
    };
    let fix = if need == "read" {
        "the token needs `packages: read` to list the package's versions (and `packages: write` to delete them): set them in the job's `permissions`, and give this repository access to the package (package settings, Manage Actions access)"
    } else {
        "the token needs `packages: write` to delete package versions: set it in the job's `permissions`, and give this repository the Admin role on the package (package settings, Manage Actions access)"
    };
    GitHubError::Transport {
        what,
        detail: format!("{status}: {fix}"),
    }
}

impl GitHub {
    /// Whether `owner` is an organization (`GET /users/{owner}`, `type`): the Packages API's
    /// routes differ for organizations and users.
    pub async fn owner_is_org(&self, owner: &str) -> Result<bool, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Owner {
            #[serde(rename = "type")]
            kind: String,
        }
        let what = format!("owner `{owner}`");
        let res = self.get(&what, &format!("/users/{}", enc(owner))).await?;
        let o: Owner = serde_json::from_slice(&res.body).map_err(|e| GitHubError::Transport {
            what,
            detail: format!("unexpected body: {e}"),
        })?;
        Ok(o.kind == "Organization")
    }

    /// `/orgs/{owner}/packages/container/{name}/versions` (or `/users/…`), the name one segment.
    fn versions_route(package: &Package, org: bool) -> String {
        format!(
            "/{}/{}/packages/container/{}/versions",
            if org { "orgs" } else { "users" },
            enc(&package.owner),
            enc(&package.name)
        )
    }

    /// Every version of a container package, every page; a version whose name is not a digest
    /// is left out (it cannot be one we delete).
    pub async fn package_versions(
        &self,
        package: &Package,
        org: bool,
    ) -> Result<Vec<PackageVersion>, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Container {
            #[serde(default)]
            tags: Vec<String>,
        }
        #[derive(serde::Deserialize)]
        struct Metadata {
            container: Option<Container>,
        }
        #[derive(serde::Deserialize)]
        struct Version {
            id: u64,
            name: String,
            metadata: Option<Metadata>,
        }
        let what = package.to_string();
        let route = Self::versions_route(package, org);
        let mut out = Vec::new();
        self.pages(&what, &route, |v: Version| {
            if crate::core::reference::is_valid_digest(&v.name) {
                out.push(PackageVersion {
                    id: v.id,
                    digest: v.name,
                    tags: v
                        .metadata
                        .and_then(|m| m.container)
                        .map(|c| c.tags)
                        .unwrap_or_default(),
                });
            }
        })
        .await
        .map_err(|e| packages_refused(e, "read"))?;
        Ok(out)
    }

    /// Deletes one package version (and with it every tag it carries); one already gone is
    /// deleted.
    pub async fn delete_package_version(
        &self,
        package: &Package,
        org: bool,
        id: u64,
    ) -> Result<(), GitHubError> {
        let what = format!("version {id} of {package}");
        let path = format!("{}/{id}", Self::versions_route(package, org));
        self.retried(&format!("delete {what}"), || self.delete_once(&what, &path))
            .await
            .map_err(|e| packages_refused(e, "write"))
    }

    async fn delete_once(&self, what: &str, path: &str) -> Result<(), Attempt> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let transient = |detail: String| Attempt::Retry {
            status: None,
            wait: None,
            rate_limited: false,
            detail,
        };
        let res = limits::headers(self.octo._delete(path, None::<&()>))
            .await
            .map_err(|e| transient(e.to_string()))?
            .map_err(|e| transient(chain(&e)))?;
        let status = res.status().as_u16();
        let route = path.split('?').next().unwrap_or(path);
        (self.debug)(&format!("GitHub API DELETE {route}: HTTP {status}"));
        match status {
            // already gone: deleted
            200..=299 | 404 => Ok(()),
            s => Err(super::refused(what, s, res.headers(), &[])),
        }
    }
}

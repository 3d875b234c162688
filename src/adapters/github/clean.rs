//! Clean mode's look-ups: the open pull requests and the branches (each listed once, page by
//! page), and one closed pull request's `closed_at`. Pages are parsed strictly: a page that
//! does not read whole fails the list, since a missing branch would look deleted.

use super::{next_link, GitHub, GitHubError};
use crate::core::clean::PrState;

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

//! Resolving images, step by step as the contract tells it: plan, then for every image look it up
//! (registry.rs), verify it (verify.rs: revision, attestation), and use it — pull, or promote
//! (promote.rs) — or, when the registry has no usable image, load the artifact (artifact.rs).
//! Each step takes values and returns values; the only shared state is the one PR look-up (and
//! merged-PR look-up) every image reuses.

mod artifact;
pub mod log;
pub mod ports;
mod promote;
mod registry;
#[cfg(test)]
mod tests;
mod verify;

use crate::adapters::docker::LocalImage;
use crate::adapters::registry::{RegistryError, RemoteImage};
use crate::config::{Attestation, Config, PromoteSource};
use crate::core::event::{EventContext, PrNumber};
use crate::core::mismatch;
use crate::core::outputs::{ImageResult, PromotedTarget, Source, TargetState};
use crate::core::plan::{
    admit, after_miss, artifact_file, artifact_name, plan, tag_needs_pr, ImagePlan, Miss, Mode,
    Next, Plan,
};
use crate::core::platform::Platform;
use crate::core::promote::{parse_targets, same_tree, MergedPr, Skip, TargetVars};
use crate::core::reference::ImageRef;
use crate::core::revision::{compare, Outcome, RevisionCheck, Verdict, REVISION_LABEL};
use crate::core::size::human;
use crate::core::Sha;
use crate::provenance;
use anyhow::{anyhow, bail, Result};
use futures_util::StreamExt;
use log::Log;
use ports::{Daemon, GitHubApi, Registry};
use std::time::{Duration, Instant};

/// Images resolved at once: enough to overlap registry round trips, few enough for 2-core runners.
const CONCURRENCY: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("`{reference}` was built from {found}, not the expected commit `{expected}`: {advice}; only if that image is right after all, set `revision-check: warn`")]
    RevisionMismatch {
        reference: String,
        expected: String,
        found: String,
        advice: String,
    },
    /// The registry's reason names the reference; this says why nothing else was tried.
    #[error("{reason}; {why_not}")]
    NoUsableImage {
        reason: String,
        why_not: &'static str,
        /// What the registry's miss was, for the annotation's title.
        miss: Miss,
    },
    #[error("{reason}; the artifact fallback failed too: {artifact}")]
    BothFailed {
        reason: String,
        artifact: String,
        miss: Miss,
    },
}

/// One image done: its outputs, how its revision was judged, and what the summary should say.
#[derive(Debug)]
pub struct Resolved {
    pub result: ImageResult,
    pub revision: Outcome,
    pub notes: Vec<String>,
    pub elapsed: Duration,
}

#[derive(Debug)]
pub struct Failed {
    pub name: String,
    pub reference: String,
    pub error: anyhow::Error,
    pub elapsed: Duration,
}

/// Commit → its tree, each looked up once even when images ask at the same time.
pub type Trees = std::collections::HashMap<String, std::sync::Arc<tokio::sync::OnceCell<String>>>;

pub struct Flow<'a, R, G, D> {
    pub cfg: &'a Config,
    pub ctx: &'a EventContext,
    pub registry: &'a R,
    pub github: &'a G,
    /// Pull mode only: connected before anything else, so a missing socket fails in seconds.
    pub daemon: Option<&'a D>,
    pub kit: &'a crate::toolkit::Toolkit,
    /// `owner/name` (GITHUB_REPOSITORY): attestations must name it.
    pub repository: String,
    pub pr: tokio::sync::OnceCell<u64>,
    /// `promote-source: merged-pr`: the pull request this push merged (`None`: it merged none),
    /// looked up once for all images.
    pub merged: tokio::sync::OnceCell<Option<MergedPr>>,
    /// Commit → tree, as looked up: the revision check and a merged-PR promotion ask for the
    /// same commits, and several images for the same label.
    pub trees: std::sync::Mutex<Trees>,
}

impl<R: Registry, G: GitHubApi, D: Daemon> Flow<'_, R, G, D> {
    /// Admits the event and derives every image's reference; the PR is looked up only when the
    /// tag needs its number.
    pub async fn plan(&self) -> Result<Plan> {
        let (cfg, ctx) = (self.cfg, self.ctx);
        admit(&cfg.policy, cfg.mode, ctx)?;
        if self.merged_pr_source() {
            return self.plan_merged_pr().await;
        }
        let pr = if tag_needs_pr(&cfg.policy, &cfg.images, ctx) {
            Some(self.pr_number().await?)
        } else {
            None
        };
        Ok(plan(&cfg.policy, &cfg.images, ctx, pr)?)
    }

    /// Every image, concurrently; each result in plan order.
    pub async fn resolve(&self, plan: &Plan) -> Vec<Result<Resolved, Failed>> {
        let several = plan.images.len() > 1;
        futures_util::stream::iter(&plan.images)
            .map(|img| async move {
                let log = std::sync::Arc::new(if several {
                    Log::kept(self.kit, &img.name)
                } else {
                    Log::direct(self.kit)
                });
                let start = Instant::now();
                let r = log::scoped(log.clone(), self.resolve_image(plan, img, &log)).await;
                log.flush(&format!("{} ({})", img.name, img.display()));
                r.map_err(|error| Failed {
                    name: img.name.clone(),
                    reference: img.display(),
                    error,
                    elapsed: start.elapsed(),
                })
                .map(|mut r| {
                    r.elapsed = start.elapsed();
                    r
                })
            })
            .buffered(CONCURRENCY)
            .collect()
            .await
    }

    async fn resolve_image(&self, plan: &Plan, img: &ImagePlan, log: &Log) -> Result<Resolved> {
        let base = ImageResult {
            name: img.name.clone(),
            image: img.display(),
            tag: img.tag.clone(),
            r#ref: img.display(),
            ..Default::default()
        };
        if self.cfg.mode == Mode::Compute {
            return Ok(resolved(base, Outcome::NotChecked, Vec::new()));
        }
        if self.merged_pr_source() && self.merged.get() == Some(&None) {
            return Ok(self.skipped(base, Skip::NoMergedPr, log));
        }
        log.info(&format!(
            "Resolving {} ({} event{})",
            img.reference,
            self.ctx.event_name,
            plan.pr.map(|n| format!(", PR #{n}")).unwrap_or_default()
        ));
        let platform = Platform::choose(
            self.cfg.platform.as_ref(),
            self.daemon.map(|d| d.platform()),
        );
        log.group("Registry");
        let found = self.look_up(plan, img, &platform, log).await;
        log.end_group();
        match found {
            Ok((remote, outcome)) => self.use_remote(plan, img, remote, outcome, base, log).await,
            Err(miss) => self.after_miss(plan, img, miss, base, log).await,
        }
    }

    /// The PR number of a `workflow_run` whose payload had none (forks): looked up once for all
    /// images.
    async fn pr_number(&self) -> Result<u64> {
        let n = self
            .pr
            .get_or_try_init(|| async {
                let PrNumber::Lookup {
                    head_owner,
                    head_branch,
                } = &self.ctx.pr
                else {
                    bail!("no PR to look up")
                };
                let sha = self
                    .ctx
                    .sha
                    .as_ref()
                    .ok_or_else(|| anyhow!("no head SHA to match a PR against"))?;
                let n = self
                    .github
                    .find_pull_request(head_owner, head_branch, sha.as_str())
                    .await?
                    .ok_or_else(|| anyhow!("no pull request of `{head_owner}:{head_branch}` has head `{sha}`: the PR may have been updated since the build; re-run the build, or pass `tag`"))?;
                self.kit.info(&format!(
                    "Pull request #{n} found through the API (head {head_owner}:{head_branch})"
                ));
                Ok(n)
            })
            .await?;
        Ok(*n)
    }

    fn notes(&self, plan: &Plan) -> Vec<String> {
        let mut notes = Vec::new();
        if self.ctx.from_fork {
            notes.push(
                "The image was built from a fork: its content is controlled by the fork's author."
                    .into(),
            );
        }
        if plan.expected.is_none() {
            notes.push(format!(
                "No expected commit for a `{}` event: the revision was not checked.",
                self.ctx.event_name
            ));
        }
        notes
    }
}

fn resolved(result: ImageResult, revision: Outcome, notes: Vec<String>) -> Resolved {
    Resolved {
        result,
        revision,
        notes,
        elapsed: Duration::ZERO,
    }
}

/// A label as errors and logs show it: a SHA in backticks, anything else escaped and cut short,
/// since it is the image's text, not ours.
fn shown_label(label: Option<&str>) -> String {
    match label.map(str::trim) {
        None | Some("") => "no `org.opencontainers.image.revision` label".into(),
        Some(l) => match Sha::parse(l) {
            Some(sha) => format!("`{sha}`"),
            None => {
                let escaped: String = format!("{l:?}").chars().take(80).collect();
                format!("the label {escaped}")
            }
        },
    }
}

fn miss_kind(e: &RegistryError) -> Miss {
    match e {
        RegistryError::NotFound { .. } | RegistryError::NoRepository { .. } => Miss::NotFound,
        RegistryError::Unreachable { .. } => Miss::Unreachable,
        _ => Miss::Other,
    }
}

//! Resolving images, step by step as the contract tells it: plan → locate → verify →
//! materialize (pull, or the artifact when the registry has no usable image). Each step takes
//! values and returns values; the only shared state is the one PR look-up every image reuses.

pub mod log;
pub mod ports;
#[cfg(test)]
mod tests;

use crate::adapters::docker::LocalImage;
use crate::adapters::registry::{RegistryError, RemoteImage};
use crate::config::{Attestation, Config, PromoteSource};
use crate::core::event::{EventContext, PrNumber};
use crate::core::mismatch;
use crate::core::outputs::{ImageResult, Source};
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
    #[error("no usable image for `{reference}`: {reason}. With `fallback: none` nothing else is tried; set `fallback: artifact` to load the build's artifact")]
    NoUsableImage { reference: String, reason: String },
    #[error(
        "no usable image for `{reference}`: {reason}; the artifact fallback failed too: {artifact}"
    )]
    BothFailed {
        reference: String,
        reason: String,
        artifact: String,
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
                let log = if several {
                    Log::kept(self.kit, &img.name)
                } else {
                    Log::direct(self.kit)
                };
                let start = Instant::now();
                let r = self.resolve_image(plan, img, &log).await;
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

    /// Locate and verify, inside the Registry group; a miss says what kind it is.
    async fn look_up(
        &self,
        plan: &Plan,
        img: &ImagePlan,
        platform: &Platform,
        log: &Log,
    ) -> Result<(RemoteImage, Outcome), (Miss, anyhow::Error)> {
        let phase = Instant::now();
        // the group's first line, whatever follows: the error itself is printed once, at the end
        log.info(&format!("Looking up {} for {platform}", img.reference));
        let remote = self
            .locate(img, platform, log)
            .await
            .map_err(|e| (miss_kind(&e), anyhow::Error::new(e)))?;
        log.info(&format!(
            "{} is {} ({}, {} layer(s), {})",
            img.reference,
            remote.digest,
            remote.platform,
            remote.layers,
            human(remote.size)
        ));
        log.debug(&format!(
            "{} manifest {}, config {}",
            remote.platform, remote.manifest_digest, remote.config_digest
        ));
        let what = img.reference.to_string();
        let outcome = self
            .verify(plan, remote.labels.get(REVISION_LABEL), &what, log)
            .await
            .map_err(|e| (Miss::Revision, e));
        log.debug(&format!(
            "registry phase: {} ms",
            phase.elapsed().as_millis()
        ));
        Ok((remote, outcome?))
    }

    /// A verified registry image: attested, then (pull mode) made present and tagged.
    async fn use_remote(
        &self,
        plan: &Plan,
        img: &ImagePlan,
        remote: RemoteImage,
        outcome: Outcome,
        mut base: ImageResult,
        log: &Log,
    ) -> Result<Resolved> {
        base.digest = remote.digest.clone();
        base.r#ref = format!("{}@{}", img.reference.repository, remote.digest);
        base.source = Source::Registry;
        base.revision_label = remote.labels.get(REVISION_LABEL).cloned();
        // provenance before anything is pulled, tagged or promoted
        let mut notes = self.notes(plan);
        self.attest(&remote.digest, &mut base, &mut notes, log)
            .await?;
        if self.cfg.mode == Mode::Promote {
            let verified = resolved(base, outcome, notes);
            return self.promote(plan, img, &remote.digest, verified, log).await;
        }
        if let Some(d) = self.daemon {
            let (source, local) = self.materialize(d, img, &remote, log).await?;
            self.apply_tags(d, img, &local.id, &mut base).await?;
            base.source = source;
        }
        Ok(resolved(base, outcome, notes))
    }

    /// No usable image in the registry: the artifact, or an error that says why not.
    async fn after_miss(
        &self,
        plan: &Plan,
        img: &ImagePlan,
        (kind, registry_failure): (Miss, anyhow::Error),
        base: ImageResult,
        log: &Log,
    ) -> Result<Resolved> {
        // the merged pull request's image is not there: build instead
        if self.merged_pr_source() && kind == Miss::NotFound {
            return Ok(self.skipped(base, Skip::NoImage, log));
        }
        let by_digest = img.reference.digest.is_some();
        let next = after_miss(self.cfg.mode, self.cfg.fallback, by_digest, kind);
        match (next, self.daemon) {
            (Next::TryArtifact, Some(d)) => {
                let reference = img.display();
                let reason = format!("{registry_failure:#}");
                log.warning(&format!("{reason}; trying the build's artifact"));
                log.group("Artifact");
                let r = self.load_artifact(d, plan, img, base, log).await;
                log.end_group();
                r.map_err(|artifact| {
                    ResolveError::BothFailed {
                        reference,
                        reason,
                        artifact: format!("{artifact:#}"),
                    }
                    .into()
                })
            }
            // pull mode promised an image: say why nothing else was tried
            _ if self.cfg.mode == Mode::Pull && kind != Miss::Other => {
                Err(ResolveError::NoUsableImage {
                    reference: img.display(),
                    reason: format!("{registry_failure:#}"),
                }
                .into())
            }
            _ => Err(registry_failure),
        }
    }

    /// The manifest and labels, polling until `wait-timeout` while the tag is missing.
    async fn locate(
        &self,
        img: &ImagePlan,
        platform: &Platform,
        log: &Log,
    ) -> Result<RemoteImage, RegistryError> {
        let wait_timeout = self.cfg.wait_timeout;
        // tokio's clock: the same that the naps run on
        let deadline = tokio::time::Instant::now() + wait_timeout;
        let mut wait = Duration::from_secs(1);
        loop {
            match self.registry.inspect(&img.reference, platform, log).await {
                Err(e) if e.is_not_found() && !wait_timeout.is_zero() => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero() {
                        return Err(RegistryError::NotFound {
                            reference: format!(
                                "{} (waited {}s)",
                                img.reference,
                                wait_timeout.as_secs()
                            ),
                        });
                    }
                    // the last nap ends at the deadline, for one more look
                    let nap = wait.min(left);
                    log.info(&format!(
                        "{} is not there yet; looking again in {:.0}s ({}s left)",
                        img.reference,
                        nap.as_secs_f64().ceil(),
                        left.as_secs()
                    ));
                    tokio::time::sleep(nap).await;
                    wait = (wait * 2).min(Duration::from_secs(15));
                }
                other => return other,
            }
        }
    }

    /// The revision label against the expected commit; an error when the image is not usable
    /// under `revision-check: fail`.
    async fn verify(
        &self,
        plan: &Plan,
        label: Option<&String>,
        what: &str,
        log: &Log,
    ) -> Result<Outcome> {
        let label = label.map(String::as_str);
        let Some(expected) = &plan.expected else {
            return Ok(Outcome::NotChecked);
        };
        if self.cfg.revision_check == RevisionCheck::Off {
            return Ok(Outcome::Off);
        }
        let mut parents = None;
        let outcome = match compare(label, expected) {
            Verdict::Match => Some(Outcome::Match),
            Verdict::OtherCommit(merge)
                if self.ctx.is_pr_build() && self.cfg.github_token.is_some() =>
            {
                let found: Vec<Sha> = self
                    .github
                    .commit_parents(merge.as_str())
                    .await?
                    .iter()
                    .filter_map(|p| Sha::parse(p))
                    .collect();
                let is_merge = found.contains(expected);
                if is_merge {
                    log.info(&format!("{what} is labelled with {merge}, a merge commit whose parents include {expected}"));
                }
                parents = Some(found);
                is_merge.then_some(Outcome::MergeCommit(merge))
            }
            // an image promoted from the pull request it was tested on carries that PR's commit:
            // the same tree is the same source (two API calls, only when the plain compare failed)
            Verdict::OtherCommit(other) if self.cfg.github_token.is_some() => {
                match self.same_tree(&other, expected).await {
                    Ok(true) => {
                        log.info(&format!("{what} is labelled with {other}, whose tree is the tree of {expected}: matched by tree"));
                        Some(Outcome::SameTree(other))
                    }
                    Ok(false) => None,
                    // fail closed: an unanswered look-up leaves the mismatch standing
                    Err(e) => {
                        log.info(&format!(
                            "comparing the trees of {other} and {expected}: {e:#}"
                        ));
                        None
                    }
                }
            }
            _ => None,
        };
        if let Some(o) = outcome {
            return Ok(o);
        }
        // the producer's mistake and its fix, before any advice to look away
        let event = self
            .ctx
            .upstream
            .as_ref()
            .map(|u| u.event.as_str())
            .unwrap_or(&self.ctx.event_name);
        let known = mismatch::Known {
            event,
            pr_base_head: self.ctx.base_sha.as_ref(),
            label_parents: parents.as_deref(),
            build_sha: None,
        };
        let advice = mismatch::classify(expected, label, &known).advice;
        let shown = shown_label(label);
        if self.cfg.revision_check == RevisionCheck::Warn {
            log.warning(&format!(
                "`{what}` was built from {shown}, not `{expected}`, accepted under `revision-check: warn`: {advice}"
            ));
            return Ok(Outcome::Accepted { found: shown });
        }
        Err(ResolveError::RevisionMismatch {
            reference: what.into(),
            expected: expected.to_string(),
            found: shown,
            advice,
        }
        .into())
    }

    /// Makes the verified digest present in the daemon: already there, or pulled by digest.
    async fn materialize(
        &self,
        d: &D,
        img: &ImagePlan,
        remote: &RemoteImage,
        log: &Log,
    ) -> Result<(Source, LocalImage)> {
        let repo = &img.reference.repository;
        let pinned = format!("{repo}@{}", remote.digest);
        let (source, image) = match d.image(&pinned).await? {
            Some(held) => {
                log.info(&format!(
                    "The daemon already holds {pinned}: nothing to pull"
                ));
                (Source::Local, held)
            }
            None => {
                log.group(&format!("Pull {pinned}"));
                let creds = self.registry.credentials(img.reference.registry());
                // by digest: what we checked is exactly what we pull, even if the tag moves meanwhile
                let r = d
                    .pull(
                        repo,
                        &remote.digest,
                        self.cfg.platform.as_ref(),
                        creds.as_ref(),
                        log,
                    )
                    .await;
                log.end_group();
                r?;
                let held = d
                    .image(&pinned)
                    .await?
                    .ok_or_else(|| anyhow!("`{pinned}` is not in the daemon after the pull"))?;
                (Source::Registry, held)
            }
        };
        // the daemon's view must agree with the registry's
        if image.labels.get(REVISION_LABEL) != remote.labels.get(REVISION_LABEL) {
            bail!(
                "`{pinned}`: the pulled image's revision label differs from the registry's config"
            );
        }
        Ok((source, image))
    }

    async fn apply_tags(
        &self,
        d: &D,
        img: &ImagePlan,
        id: &str,
        out: &mut ImageResult,
    ) -> Result<()> {
        if !img.tag.is_empty() {
            d.tag(id, &img.reference.repository, &img.tag).await?;
        }
        if let Some(local) = &img.local {
            let tag = local.tag.as_deref().unwrap_or("latest");
            d.tag(id, &local.repository, tag).await?;
            out.local_image = format!("{}:{tag}", local.repository);
        }
        out.image_id = id.to_string();
        Ok(())
    }

    /// The build's artifact, loaded untagged, then checked, then tagged.
    async fn load_artifact(
        &self,
        d: &D,
        plan: &Plan,
        img: &ImagePlan,
        mut out: ImageResult,
        log: &Log,
    ) -> Result<Resolved> {
        let ctx = self.ctx;
        let run_id = self
            .cfg
            .run_id
            .or(ctx.upstream.as_ref().map(|u| u.id))
            .ok_or_else(|| {
                anyhow!(
                    "no run holds an artifact for a `{}` event: set `run-id`",
                    ctx.event_name
                )
            })?;
        let mut vars = plan.vars.clone();
        if ctx.is_pr_build() && vars.pr.is_none() {
            vars.pr = Some(self.pr_number().await?);
        }
        let several = plan.images.len() > 1;
        let name = artifact_name(&self.cfg.policy, ctx, &vars, &img.name, several)?;
        let file = artifact_file(&self.cfg.policy, ctx, &vars, &img.name)?;
        let found = self.github.find_artifact(run_id, &name).await?;
        log.info(&format!(
            "Artifact `{name}` (id {}, {}) of run {run_id}",
            found.id,
            human(found.size)
        ));
        let url = self.github.download_url(found.id).await?;
        let loaded = d.load_artifact(&url, &found, file.as_deref(), log).await?;
        // nothing is tagged until the loaded image passed; what fails is removed again
        let mut notes = self.notes(plan);
        let checked = self
            .check_loaded(d, plan, &name, &loaded, &mut out, &mut notes, log)
            .await;
        let outcome = match checked {
            Ok(o) => o,
            Err(e) => {
                let gone = d.remove_unused(&loaded.id).await;
                let what = if gone {
                    "removed again"
                } else {
                    "left in place: something else uses it"
                };
                return Err(e.context(format!("the loaded image `{}` was {what}", loaded.id)));
            }
        };
        self.apply_tags(d, img, &loaded.id, &mut out).await?;
        out.source = Source::Artifact;
        out.revision_label = loaded.revision;
        Ok(resolved(out, outcome, notes))
    }

    /// The revision of a loaded artifact, and the daemon's agreement on which config it loaded.
    #[allow(clippy::too_many_arguments)]
    async fn check_loaded(
        &self,
        d: &D,
        plan: &Plan,
        name: &str,
        loaded: &ports::Loaded,
        out: &mut ImageResult,
        notes: &mut Vec<String>,
        log: &Log,
    ) -> Result<Outcome> {
        let what = format!("artifact `{name}`");
        let outcome = self
            .verify(plan, loaded.revision.as_ref(), &what, log)
            .await?;
        let image = d
            .image(&loaded.id)
            .await?
            .ok_or_else(|| anyhow!("loaded image `{}` is not in the daemon", loaded.id))?;
        if image.labels.get(REVISION_LABEL) != loaded.revision.as_ref() {
            bail!("loaded image `{}`: its revision label differs from the one in the artifact's config", loaded.id);
        }
        if self.cfg.attestation != Attestation::Off {
            let digest = loaded.tar_digest.as_deref().ok_or_else(|| {
                anyhow!("artifact `{name}`: the image tar's digest is unknown, so its attestation cannot be checked")
            })?;
            self.attest(digest, out, notes, log).await?;
        }
        Ok(outcome)
    }

    /// The GitHub artifact attestation of `digest`: `verified`, or under `attestation: fail` an
    /// error before anything is tagged or promoted, under `warn` a warning.
    async fn attest(
        &self,
        digest: &str,
        out: &mut ImageResult,
        notes: &mut Vec<String>,
        log: &Log,
    ) -> Result<()> {
        if self.cfg.attestation == Attestation::Off {
            return Ok(());
        }
        let bundles = self.github.attestations(digest).await?;
        let policy = provenance::Policy {
            repository: self.repository.clone(),
            workflow: self.cfg.attestation_workflow.clone(),
        };
        let problem = match provenance::verify_any(&bundles, digest, &policy) {
            Ok(v) => {
                let place = match v.log_index {
                    Some(i) => format!("transparency log index {i}"),
                    None => "timestamped by GitHub".into(),
                };
                let commit = v.commit.as_deref().unwrap_or("an unnamed commit");
                log.info(&format!(
                    "attestation of {digest} verified: signed by {} from {commit} ({place})",
                    v.signer
                ));
                notes.push(format!(
                    "Attestation verified: signed by `{}`, built from `{commit}` ({place}).",
                    v.signer
                ));
                out.attestation = "verified".into();
                out.attestation_signer = v.signer;
                return Ok(());
            }
            Err(provenance::Unproven::Missing) => {
                out.attestation = "missing".into();
                format!("no attestation of `{digest}` in `{}`: attest the build with actions/attest-build-provenance (`push-to-registry: true`), and give this job `attestations: read`", self.repository)
            }
            Err(e @ provenance::Unproven::Invalid { .. }) => {
                out.attestation = "invalid".into();
                format!("the attestation of `{digest}` is invalid: {e}")
            }
        };
        if self.cfg.attestation == Attestation::Fail {
            bail!("{problem}");
        }
        log.warning(&format!("{problem} (attestation: warn)"));
        notes.push(format!("Attestation {}: {problem}.", out.attestation));
        Ok(())
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

    async fn same_tree(&self, a: &Sha, b: &Sha) -> Result<bool> {
        let ta = self.github.commit_tree(a.as_str()).await?;
        let tb = self.github.commit_tree(b.as_str()).await?;
        Ok(same_tree(&ta, &tb).is_ok())
    }

    fn merged_pr_source(&self) -> bool {
        self.cfg.mode == Mode::Promote && self.cfg.promote_source == PromoteSource::MergedPr
    }

    /// `promote-source: merged-pr`: the plan of the pull request this push merged (its number,
    /// head and `pr-tag`), or the push's own plan when it merged none (every image is skipped).
    async fn plan_merged_pr(&self) -> Result<Plan> {
        let (cfg, ctx) = (self.cfg, self.ctx);
        if ctx.is_pr_build() {
            bail!("`promote-source: merged-pr` promotes on a `push` (or a `workflow_run` of one) that merged a pull request, not on a pull-request build: use `promote-source: commit` here");
        }
        let sha = ctx.sha.as_ref().ok_or_else(|| {
            anyhow!(
                "a `{}` event names no pushed commit: `promote-source: merged-pr` needs a push",
                ctx.event_name
            )
        })?;
        let merged = self
            .merged
            .get_or_try_init(|| self.github.merged_pull_request(sha.as_str()))
            .await?;
        let Some(m) = merged else {
            return Ok(plan(&cfg.policy, &cfg.images, ctx, None)?);
        };
        let head = Sha::parse(&m.head_sha)
            .ok_or_else(|| anyhow!("pull request #{} has no 40-hex head SHA", m.number))?;
        self.kit.info(&format!(
            "{sha} merged pull request #{} (head {head}): promoting its image",
            m.number
        ));
        let pr_ctx = EventContext {
            sha: Some(head),
            pr: PrNumber::Known(m.number),
            branch: m.head_ref.clone().or(ctx.branch.clone()),
            ..ctx.clone()
        };
        Ok(plan(&cfg.policy, &cfg.images, &pr_ctx, Some(m.number))?)
    }

    /// Writes the verified digest under every `promote-to` target. From a merged pull request,
    /// only when the tree its image was built from is the pushed commit's tree.
    async fn promote(
        &self,
        plan_: &Plan,
        img: &ImagePlan,
        digest: &str,
        mut r: Resolved,
        log: &Log,
    ) -> Result<Resolved> {
        let merged = self.merged.get().cloned().flatten();
        // `{sha}`, `{short_sha}` and `{branch}` are the pushed commit's; `{pr}` the merged PR's
        let vars = match &merged {
            Some(m) => plan(&self.cfg.policy, &self.cfg.images, self.ctx, Some(m.number))?.vars,
            None => plan_.vars.clone(),
        };
        if let Some(m) = &merged {
            let pushed = self
                .ctx
                .sha
                .as_ref()
                .ok_or_else(|| anyhow!("no pushed commit"))?;
            let label = match &r.revision {
                Outcome::MergeCommit(c) | Outcome::SameTree(c) => Some(c.to_string()),
                _ => Sha::parse(&r.result.revision()).map(|s| s.to_string()),
            };
            let Some(label) = label else {
                return Ok(self.skipped(r.result, Skip::TreeDiffers, log));
            };
            let built = self.github.commit_tree(&label).await?;
            let here = self.github.commit_tree(pushed.as_str()).await?;
            if same_tree(&built, &here).is_err() {
                return Ok(self.skipped(r.result, Skip::TreeDiffers, log));
            }
            log.info(&format!(
                "The image of pull request #{} was built from {label}, whose tree {built} is the tree of {pushed}: the same source",
                m.number
            ));
        }
        let source_tag = (!img.tag.is_empty()).then_some(img.tag.as_str());
        let targets = parse_targets(
            &self.cfg.promote_to.join("\n"),
            &TargetVars {
                vars: &vars,
                raw_branch: self.ctx.branch.as_deref(),
                sanitize: self.cfg.policy.sanitize,
                source_tag,
                name: &img.name,
            },
        )?;
        let source = ImageRef {
            repository: img.reference.repository.clone(),
            tag: None,
            digest: Some(digest.to_string()),
        };
        log.group("Promote");
        let done = self.registry.promote(&source, &targets, log).await;
        log.end_group();
        r.result.promoted = done?.into_iter().map(|p| p.reference).collect();
        Ok(r)
    }

    /// Nothing promoted, and why: the step still succeeds, and says to build instead.
    fn skipped(&self, mut base: ImageResult, skip: Skip, log: &Log) -> Resolved {
        let sha = self
            .ctx
            .sha
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let pr = self.merged.get().cloned().flatten().map(|m| m.number);
        let notice = skip.notice(&sha, pr);
        log.notice(&notice);
        base.promote_skipped = skip.as_str().into();
        base.source = Source::None;
        resolved(base, Outcome::NotChecked, vec![notice])
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
        RegistryError::NotFound { .. } => Miss::NotFound,
        RegistryError::Unreachable { .. } => Miss::Unreachable,
        _ => Miss::Other,
    }
}

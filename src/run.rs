//! The one place the flow lives: event → plan → registry → (daemon | artifact) → outputs.

use crate::adapters::docker::{DockerConfig, DockerDaemon};
use crate::adapters::download::{Download, DownloadConfig};
use crate::adapters::github::{GitHub, GitHubConfig};
use crate::adapters::registry::{Registry, RegistryConfig, RegistryError, RemoteImage};
use crate::artifact;
use crate::config::{
    parse_platform, registry_credentials, Config, Fallback, Mode, Platform, RawInputs,
};
use crate::core::event::{from_event, EventContext, PrNumber, RunnerEnv};
use crate::core::outputs::{summary_table, Outputs};
use crate::core::plan::{artifact_name, build_labels, plan, tag_needs_pr, Plan};
use crate::core::reference::{is_loopback_registry, ImageRef};
use crate::core::revision::{compare, RevisionCheck, Verdict, REVISION_LABEL};
use crate::env::RunnerVars;
use crate::retry::{Logger, Policy};
use crate::toolkit::{FileCommand, Toolkit};
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{reference} was built from {found}, not the expected commit {expected}: the registry holds a stale or foreign image. Rebuild, or set `revision-check: warn` to accept it")]
    RevisionMismatch {
        reference: String,
        expected: String,
        found: String,
    },
    #[error("no usable image for {reference}: {reason}. With `fallback: none` nothing else is tried; set `fallback: artifact` to load the build's artifact")]
    NoUsableImage { reference: String, reason: String },
    #[error(
        "no usable image for {reference}: {reason}; the artifact fallback failed too: {artifact:#}"
    )]
    BothFailed {
        reference: String,
        reason: String,
        artifact: anyhow::Error,
    },
}

/// What a resolution found, for outputs and the step summary.
struct Resolved {
    outputs: Outputs,
    notes: Vec<String>,
}

pub async fn main(runner: &RunnerVars, raw: RawInputs, kit: &Toolkit) -> Result<()> {
    // masks first: nothing may print a secret, not even an input error
    for secret in [&raw.registry_password, &raw.github_token]
        .into_iter()
        .flatten()
    {
        kit.add_mask(secret);
    }
    let cfg = Config::from_raw(raw)?;
    let output = match &runner.github_output {
        Some(p) => Some(FileCommand::check("GITHUB_OUTPUT", Path::new(p))?),
        None => None,
    };
    let ctx = read_event(runner)?;
    let resolved = resolve(&cfg, &ctx, runner, kit).await?;
    let entries = resolved.outputs.entries();
    match output {
        Some(f) => f.write_outputs(&entries).context("writing step outputs")?,
        None => {
            kit.notice("GITHUB_OUTPUT is not set: printing the outputs instead");
            for (k, v) in entries {
                kit.info(&format!("{k}={v}"));
            }
        }
    }
    if let Some(p) = &runner.github_step_summary {
        let rows: Vec<(&str, &str)> = entries
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .copied()
            .collect();
        let text = summary_table("image-resolver", &rows, &resolved.notes);
        if let Err(e) =
            FileCommand::check("GITHUB_STEP_SUMMARY", Path::new(p)).and_then(|f| f.append(&text))
        {
            kit.warning(&format!("step summary not written: {e}"));
        }
    }
    Ok(())
}

fn read_event(runner: &RunnerVars) -> Result<EventContext> {
    let name = runner.github_event_name.clone().ok_or_else(|| anyhow!("GITHUB_EVENT_NAME is not set: run this as a GitHub Actions step, or export it as the runner would"))?;
    let needs_payload = matches!(
        name.as_str(),
        "workflow_run" | "pull_request" | "pull_request_target"
    );
    let payload = match &runner.github_event_path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the event file GITHUB_EVENT_PATH={path}"))?;
            serde_json::from_str(&text)
                .with_context(|| format!("the event file {path} is not JSON"))?
        }
        None if needs_payload => {
            bail!("GITHUB_EVENT_PATH is not set, and the `{name}` event needs its payload")
        }
        None => serde_json::json!({}),
    };
    let env = RunnerEnv {
        event_name: name,
        repository: runner.github_repository.clone().unwrap_or_default(),
        sha: runner.github_sha.clone(),
        ref_name: runner.github_ref_name.clone(),
        run_id: RunnerVars::num(&runner.github_run_id),
        run_number: RunnerVars::num(&runner.github_run_number),
        run_attempt: RunnerVars::num(&runner.github_run_attempt),
    };
    Ok(from_event(&env, &payload)?)
}

struct Flow<'a> {
    cfg: &'a Config,
    ctx: &'a EventContext,
    runner: &'a RunnerVars,
    kit: &'a Toolkit,
    github: Option<std::sync::Arc<GitHub>>,
    notes: Vec<String>,
}

async fn resolve(
    cfg: &Config,
    ctx: &EventContext,
    runner: &RunnerVars,
    kit: &Toolkit,
) -> Result<Resolved> {
    let mut flow = Flow {
        cfg,
        ctx,
        runner,
        kit,
        github: None,
        notes: Vec::new(),
    };
    let result = flow.run().await;
    if let Some(gh) = &flow.github {
        kit.debug(&format!("GitHub API calls: {}", gh.calls()));
    }
    result.map(|outputs| Resolved {
        outputs,
        notes: flow.notes,
    })
}

impl Flow<'_> {
    fn github(&mut self) -> Result<std::sync::Arc<GitHub>> {
        if self.github.is_none() {
            let token = self.cfg.github_token.clone().ok_or_else(|| {
                anyhow!("`github-token` is empty, and the GitHub API is needed here: pass `github-token: ${{{{ github.token }}}}` with `actions: read` and `pull-requests: read`")
            })?;
            let repository = self
                .runner
                .github_repository
                .clone()
                .ok_or_else(|| anyhow!("GITHUB_REPOSITORY is not set"))?;
            let kit = self.kit.clone();
            let log: Logger = std::sync::Arc::new(move |m: &str| kit.info(m));
            let gh = GitHub::new(GitHubConfig {
                api_url: self.runner.api_url(),
                token,
                repository,
                retries: self.cfg.retries,
                log,
            })?;
            self.github = Some(std::sync::Arc::new(gh));
        }
        Ok(self.github.clone().expect("set above"))
    }

    fn log(&self) -> impl Fn(&str) + Sync + '_ {
        move |m: &str| self.kit.info(m)
    }

    async fn run(&mut self) -> Result<Outputs> {
        let (cfg, ctx) = (self.cfg, self.ctx);
        let pr = if tag_needs_pr(cfg, ctx) {
            Some(self.lookup_pr().await?)
        } else {
            None
        };
        let plan = plan(cfg, ctx, pr)?;
        if ctx.from_fork {
            self.notes.push(
                "The image was built from a fork: its content is controlled by the fork's author."
                    .into(),
            );
        }
        let mut out = Outputs {
            tag: plan.tag.clone(),
            image: display_image(&plan.reference),
            sha: plan
                .expected
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            short_sha: plan
                .expected
                .as_ref()
                .map(|s| s.short(cfg.sha_length).to_string())
                .unwrap_or_default(),
            pr_number: plan.pr.map(|n| n.to_string()).unwrap_or_default(),
            ..Default::default()
        };
        self.kit.info(&format!(
            "Resolving {} ({} event{})",
            plan.reference,
            ctx.event_name,
            plan.pr.map(|n| format!(", PR #{n}")).unwrap_or_default()
        ));
        if cfg.mode == Mode::Compute {
            out.source = "none".into();
            out.r#ref = out.image.clone();
            out.labels = build_labels(
                &plan,
                &self.runner.server_url(),
                self.runner.github_repository.as_deref().unwrap_or(""),
            );
            return Ok(out);
        }
        // pull mode needs the daemon: connect first, so a missing socket fails in seconds
        let daemon = if cfg.mode == Mode::Pull {
            let d = DockerDaemon::connect(DockerConfig {
                host: self.runner.docker_host(),
            })
            .await?;
            self.kit.debug(&format!(
                "Docker daemon {} (API {}, {})",
                d.host(),
                d.api_version,
                d.platform
            ));
            Some(d)
        } else {
            None
        };
        let platform = match (&cfg.platform, &daemon) {
            (Some(p), _) => p.clone(),
            (None, Some(d)) => parse_platform(&d.platform).unwrap_or_else(default_platform),
            (None, None) => default_platform(),
        };
        self.kit.group("Registry");
        let remote = self.registry_image(&plan, &platform).await;
        self.kit.end_group();
        let registry_failure = match remote {
            Ok(remote) => match self
                .check_revision(
                    &plan,
                    remote.labels.get(REVISION_LABEL).map(String::as_str),
                    &plan.reference.to_string(),
                )
                .await
            {
                Ok(revision) => {
                    out.digest = remote.digest.clone();
                    out.r#ref = format!("{}@{}", plan.reference.repository, remote.digest);
                    out.revision = revision;
                    out.source = "registry".into();
                    self.kit.debug(&format!(
                        "{} manifest {}, config {}",
                        remote.platform, remote.manifest_digest, remote.config_digest
                    ));
                    self.kit.info(&format!(
                        "{} is {} ({}, {} layer(s), {} MB)",
                        plan.reference,
                        remote.digest,
                        remote.platform,
                        remote.layers,
                        remote.size / 1_000_000
                    ));
                    if let Some(d) = &daemon {
                        self.pull(d, &plan, &remote, &mut out).await?;
                    }
                    return Ok(out);
                }
                Err(e) => e,
            },
            Err(e) if e.means_no_usable_image() => anyhow::Error::new(e),
            Err(e) => return Err(e.into()),
        };
        // the registry has no usable image
        let reference = plan.reference.to_string();
        let reason = format!("{registry_failure:#}");
        let Some(daemon) = daemon else {
            return Err(registry_failure);
        };
        if cfg.fallback == Fallback::None || plan.reference.digest.is_some() {
            return Err(ResolveError::NoUsableImage { reference, reason }.into());
        }
        self.kit
            .warning(&format!("{reason}; trying the build's artifact"));
        self.kit.group("Artifact");
        let result = self.load_artifact(&daemon, &plan, &mut out).await;
        self.kit.end_group();
        match result {
            Ok(()) => Ok(out),
            Err(artifact) => Err(ResolveError::BothFailed {
                reference,
                reason,
                artifact,
            }
            .into()),
        }
    }

    async fn lookup_pr(&mut self) -> Result<u64> {
        let PrNumber::Lookup {
            head_owner,
            head_branch,
        } = self.ctx.pr.clone()
        else {
            bail!("no PR to look up")
        };
        let sha = self
            .ctx
            .sha
            .clone()
            .ok_or_else(|| anyhow!("no head SHA to match a PR against"))?;
        let gh = self.github()?;
        let n = gh
            .find_pull_request(&head_owner, &head_branch, sha.as_str())
            .await?
            .ok_or_else(|| anyhow!("no pull request of {head_owner}:{head_branch} has head {sha}: the PR may have been updated since the build; re-run the build, or pass `tag`"))?;
        self.kit.info(&format!(
            "Pull request #{n} found through the API (head {head_owner}:{head_branch})"
        ));
        Ok(n)
    }

    fn registry(&self, reference: &ImageRef) -> Registry {
        let registry = reference.registry().to_string();
        Registry::new(RegistryConfig {
            plain_http: is_loopback_registry(&registry),
            credentials: self.credentials(&registry),
            registry,
            retries: self.cfg.retries,
        })
    }

    fn credentials(&self, registry: &str) -> Option<(String, String)> {
        registry_credentials(self.cfg, registry, self.runner.github_actor.as_deref())
    }

    /// The manifest and labels, polling until `wait-timeout` while the tag is missing.
    async fn registry_image(
        &self,
        plan: &Plan,
        platform: &Platform,
    ) -> Result<RemoteImage, RegistryError> {
        let registry = self.registry(&plan.reference);
        let reference = plan.reference.to_string();
        let deadline = Instant::now() + self.cfg.wait_timeout;
        let log = self.log();
        let mut wait = Duration::from_secs(1);
        loop {
            match registry.inspect(&reference, platform, &log).await {
                Err(e) if e.is_not_found() && !self.cfg.wait_timeout.is_zero() => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        let waited = self.cfg.wait_timeout.as_secs();
                        return Err(RegistryError::NotFound {
                            reference: format!("{reference} (waited {waited}s)"),
                        });
                    }
                    // the last nap ends at the deadline, for one more look
                    let nap = wait.min(left);
                    self.kit.info(&format!(
                        "{reference} is not there yet; looking again in {:.0}s ({}s left)",
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

    /// Returns the label value; an error when the image is not usable under `revision-check: fail`.
    async fn check_revision(
        &mut self,
        plan: &Plan,
        label: Option<&str>,
        what: &str,
    ) -> Result<String> {
        let found = label.unwrap_or("").to_string();
        let Some(expected) = &plan.expected else {
            self.notes.push(format!(
                "No expected commit for a `{}` event: the revision was not checked.",
                self.ctx.event_name
            ));
            return Ok(found);
        };
        if self.cfg.revision_check == RevisionCheck::Off {
            return Ok(found);
        }
        let verdict = compare(label, expected);
        let ok = match &verdict {
            Verdict::Match => true,
            Verdict::OtherCommit(merge)
                if self.ctx.is_pr_build() && self.cfg.github_token.is_some() =>
            {
                let merge = merge.clone();
                let parents = self.github()?.commit_parents(merge.as_str()).await?;
                let is_merge = parents
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(expected.as_str()));
                if is_merge {
                    self.kit.info(&format!("{what} is labelled with {merge}, a merge commit whose parents include {expected}"));
                    self.notes.push(format!("The revision matched as a merge commit: {merge} has the head {expected} as a parent."));
                }
                is_merge
            }
            _ => false,
        };
        if ok {
            return Ok(found);
        }
        let shown = if found.is_empty() {
            "(no org.opencontainers.image.revision label)".to_string()
        } else {
            found.clone()
        };
        match self.cfg.revision_check {
            RevisionCheck::Warn => {
                self.kit.warning(&format!(
                    "{what} was built from {shown}, not {expected} (revision-check: warn)"
                ));
                Ok(found)
            }
            _ => Err(ResolveError::RevisionMismatch {
                reference: what.into(),
                expected: expected.to_string(),
                found: shown,
            }
            .into()),
        }
    }

    async fn pull(
        &self,
        d: &DockerDaemon,
        plan: &Plan,
        remote: &RemoteImage,
        out: &mut Outputs,
    ) -> Result<()> {
        let repo = &plan.reference.repository;
        let pinned = format!("{repo}@{}", remote.digest);
        let image = match d.image(&pinned).await? {
            Some(held) => {
                self.kit.info(&format!(
                    "The daemon already holds {pinned}: nothing to pull"
                ));
                out.source = "local".into();
                held
            }
            None => {
                self.kit.group(&format!("Pull {pinned}"));
                let registry = plan.reference.registry().to_string();
                let creds = self.credentials(&registry);
                let log = self.log();
                // by digest: what we checked is exactly what we pull, even if the tag moves meanwhile
                let r = d
                    .pull(
                        repo,
                        &remote.digest,
                        self.cfg.platform.as_ref().map(|p| p.to_string()).as_deref(),
                        creds
                            .as_ref()
                            .map(|(u, p)| (registry.as_str(), u.as_str(), p.as_str())),
                        &log,
                    )
                    .await;
                self.kit.end_group();
                r?;
                d.image(&pinned)
                    .await?
                    .ok_or_else(|| anyhow!("{pinned} is not in the daemon after the pull"))?
            }
        };
        // the daemon's view must agree with the registry's
        if image.labels.get(REVISION_LABEL) != remote.labels.get(REVISION_LABEL) {
            bail!("{pinned}: the pulled image's revision label differs from the registry's config");
        }
        self.apply_tags(d, &image.id, plan, out).await
    }

    async fn apply_tags(
        &self,
        d: &DockerDaemon,
        id: &str,
        plan: &Plan,
        out: &mut Outputs,
    ) -> Result<()> {
        if !plan.tag.is_empty() {
            d.tag(id, &plan.reference.repository, &plan.tag).await?;
        }
        if let Some(local) = &self.cfg.local_tag {
            let tag = local.tag.as_deref().unwrap_or("latest");
            d.tag(id, &local.repository, tag).await?;
            out.local_image = format!("{}:{tag}", local.repository);
        }
        out.image_id = id.to_string();
        Ok(())
    }

    async fn load_artifact(
        &mut self,
        d: &DockerDaemon,
        plan: &Plan,
        out: &mut Outputs,
    ) -> Result<()> {
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
        let mut plan = plan.clone();
        if ctx.is_pr_build() && plan.pr.is_none() {
            plan.pr = Some(self.lookup_pr().await?);
            plan.vars.pr = plan.pr;
            out.pr_number = plan.pr.map(|n| n.to_string()).unwrap_or_default();
        }
        let name = artifact_name(self.cfg, ctx, &plan)?;
        let gh = self.github()?;
        let found = gh.find_artifact(run_id, &name).await?;
        self.kit.info(&format!(
            "Artifact `{name}` (id {}, {} bytes) of run {run_id}",
            found.id, found.size
        ));
        let url = gh.download_url(found.id).await?;
        let download = Download::new(DownloadConfig {
            retries: self.cfg.retries,
        })?;
        let opts = artifact::ArtifactOptions {
            expected_digest: found.digest.clone(),
            listed_size: found.size,
            artifact_file: self.cfg.artifact_file.clone(),
        };
        let what = format!("artifact `{name}`");
        let policy = Policy::new(self.cfg.retries);
        let mut attempt = 1;
        // a stream cut mid-way starts again from scratch; the failed attempt loaded nothing
        let (id, checked, revision) = loop {
            match self
                .load_once(d, &download, &url, opts.clone(), &plan, &what)
                .await
            {
                Ok(v) => break v,
                Err((true, e)) if attempt < policy.attempts => {
                    let wait = policy.backoff(attempt, None);
                    self.kit.info(&format!(
                        "{what}: attempt {attempt} of {} failed ({e:#}); starting again in {:.1}s",
                        policy.attempts,
                        wait.as_secs_f64()
                    ));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err((_, e)) => return Err(e),
            }
        };
        self.kit.info(&format!(
            "Loaded {} of {what} as {id} ({} bytes downloaded, tar {})",
            checked.entry_name, checked.bytes, checked.tar_sha256
        ));
        if let Some(note) = &checked.note {
            self.kit.info(note);
        }
        self.apply_tags(d, &id, &plan, out).await?;
        out.source = "artifact".into();
        out.r#ref = display_image(&plan.reference);
        out.revision = revision;
        Ok(())
    }

    /// One pass: download → checks → daemon, with the revision checked before the daemon gets
    /// the end of the tar. `Err((transient, error))`.
    async fn load_once(
        &mut self,
        d: &DockerDaemon,
        download: &Download,
        url: &url::Url,
        opts: artifact::ArtifactOptions,
        plan: &Plan,
        what: &str,
    ) -> std::result::Result<(String, artifact::Checked, String), (bool, anyhow::Error)> {
        let body = download.open(url).await.map_err(|e| {
            (
                e.is_transient(),
                anyhow::Error::new(e).context(format!("downloading {what}")),
            )
        })?;
        let (tar, verdict) = artifact::pipeline(body, opts);
        let load = d.load(what, tar);
        let check = async {
            let (checked, release) = verdict
                .await
                .map_err(|e| (e.is_transient(), anyhow::Error::new(e)))?;
            let revision = self
                .check_revision(plan, checked.revision.as_deref(), what)
                .await
                .map_err(|e| (false, e))?;
            release.release();
            Ok::<_, (bool, anyhow::Error)>((checked, revision))
        };
        let (loaded, checked) = tokio::join!(load, check);
        match (loaded, checked) {
            (Ok(id), Ok((checked, revision))) if id == checked.config_digest => {
                Ok((id, checked, revision))
            }
            (Ok(id), checked) => {
                // the daemon loaded something other than what was checked: take it back
                let removed = match d.remove_unused(&id).await {
                    Ok(true) => "it was removed again",
                    Ok(false) => "it is kept: another tag or a container uses it",
                    Err(_) => "removing it failed",
                };
                let e = match checked {
                    Ok(c) => anyhow!(
                        "the daemon loaded {id}, not the checked image {}: {removed}",
                        c.0.config_digest
                    ),
                    Err((_, e)) => e.context(format!("{what} loaded as {id}; {removed}")),
                };
                Err((false, e))
            }
            (Err(_), Err((transient, e))) => Err((
                transient,
                e.context(format!("{what} refused; nothing was loaded")),
            )),
            (Err(e), Ok(_)) => Err((false, e.into())),
        }
    }
}

fn default_platform() -> Platform {
    Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    }
}

/// `repository:tag`, or `repository@digest` for a digest-only reference.
fn display_image(r: &ImageRef) -> String {
    match (&r.tag, &r.digest) {
        (Some(t), _) => format!("{}:{t}", r.repository),
        (None, Some(d)) => format!("{}@{d}", r.repository),
        (None, None) => r.repository.clone(),
    }
}

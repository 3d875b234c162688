//! The step, top to bottom as the contract tells it: read the inputs and the event, build the
//! adapters once, plan, resolve every image, then write the summary and the outputs.

use crate::config::{Config, RawInputs};
use crate::core::credentials::CredentialPolicy;
use crate::core::event::EventContext;
use crate::core::outputs::{ImageResult, Outputs};
use crate::core::plan::{build_labels, Mode, Plan};
use crate::env::RunnerVars;
use crate::flow::ports::{Docker, LazyGitHub, Registries};
use crate::flow::{Failed, Flow, Resolved};
use crate::retry::Logger;
use crate::toolkit::{FileCommand, Toolkit, TITLE};
use anyhow::{Context, Result};
use event::{describe_event, read_event};
use std::path::Path;
use std::sync::Arc;
use summary::{write_failure_summary, write_summary};

mod event;
mod summary;

/// Several images failed: one `::error::` line each, with its title.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>().join("; "))]
pub struct Failures(pub Vec<(&'static str, String)>);

/// An annotation title by kind of failure, so a reader knows what broke before reading why.
pub fn title_of(e: &anyhow::Error) -> &'static str {
    use crate::adapters::docker::DockerError;
    use crate::adapters::github::GitHubError;
    use crate::adapters::registry::RegistryError;
    use crate::config::InputError;
    use crate::core::event::EventError;
    use crate::core::plan::{Miss, PlanError};
    use crate::flow::ResolveError;
    for cause in e.chain() {
        if cause.is::<InputError>() {
            return "image-resolver: Input error";
        }
        if let Some(p) = cause.downcast_ref::<PlanError>() {
            return match p {
                PlanError::Fork { .. } => "image-resolver: Fork refused",
                PlanError::UpstreamFailed { .. } | PlanError::UpstreamFailedCompute { .. } => {
                    "image-resolver: Build failed"
                }
                PlanError::Tag(_) | PlanError::LocalTag(_) => "image-resolver: Input error",
                PlanError::NeedsTag(_) => "image-resolver: Event error",
            };
        }
        if cause.is::<EventError>() {
            return "image-resolver: Event error";
        }
        if let Some(r) = cause.downcast_ref::<ResolveError>() {
            let miss = match r {
                ResolveError::RevisionMismatch { .. } => {
                    return "image-resolver: Revision mismatch"
                }
                ResolveError::NoUsableImage { miss, .. }
                | ResolveError::BothFailed { miss, .. } => miss,
            };
            return match miss {
                Miss::NotFound => "image-resolver: Image not found",
                Miss::Unreachable => "image-resolver: Registry unreachable",
                Miss::Revision => "image-resolver: Revision mismatch",
                Miss::Other => "image-resolver: Registry error",
            };
        }
        if let Some(r) = cause.downcast_ref::<RegistryError>() {
            return match r {
                RegistryError::NotFound { .. } | RegistryError::NoRepository { .. } => {
                    "image-resolver: Image not found"
                }
                RegistryError::Unauthorized { .. } | RegistryError::Denied { .. } => {
                    "image-resolver: Registry access refused"
                }
                RegistryError::Unreachable { .. } => "image-resolver: Registry unreachable",
                RegistryError::Integrity { .. } => "image-resolver: Integrity check failed",
                RegistryError::Promote { .. } => "image-resolver: Promotion failed",
                RegistryError::NoPlatform { .. } => "image-resolver: Platform missing",
                RegistryError::Protocol { .. } => "image-resolver: Registry error",
            };
        }
        if cause.is::<DockerError>() {
            return "image-resolver: Docker daemon error";
        }
        if cause.is::<GitHubError>() {
            return "image-resolver: GitHub API error";
        }
    }
    TITLE
}

pub async fn main(runner: &RunnerVars, raw: RawInputs, kit: &Toolkit) -> Result<()> {
    // masks first: nothing may print a secret, not even an input error
    for secret in [
        &raw.registry_password,
        &raw.github_token,
        &raw.promote_password,
    ]
    .into_iter()
    .flatten()
    {
        kit.add_mask(secret);
    }
    // an input error gets a summary too, unless the summary was turned off
    let summary_off = raw.summary.as_deref().map(str::trim) == Some("false");
    let subject: Vec<String> = [&raw.image, &raw.images]
        .into_iter()
        .flatten()
        .flat_map(|v| v.lines().map(str::trim).filter(|l| !l.is_empty()))
        .map(String::from)
        .take(8)
        .collect();
    let cfg = match Config::from_raw(raw) {
        Ok(c) => c,
        Err(e) => {
            let e = anyhow::Error::new(e);
            if !summary_off {
                write_failure_summary(runner, kit, &subject, None, &e);
            }
            return Err(e);
        }
    };
    for notice in &cfg.notices {
        kit.notice_titled(TITLE, notice);
    }
    let output = match &runner.github_output {
        Some(p) => Some(FileCommand::check("GITHUB_OUTPUT", Path::new(p))?),
        None => None,
    };
    let (ctx, result) = resolve(&cfg, runner, kit).await;
    let labels = match (&ctx, &result) {
        (Some(ctx), Ok((plan, _))) if cfg.mode == Mode::Compute => {
            let repository = runner.github_repository.as_deref().unwrap_or("");
            build_labels(plan, ctx.sha.as_ref(), &runner.server_url(), repository)
        }
        _ => String::new(),
    };
    if cfg.summary {
        match (&ctx, &result) {
            (Some(ctx), Ok((plan, results))) => {
                write_summary(runner, kit, &cfg, ctx, plan, results, &labels)
            }
            (ctx, Err(e)) => {
                let subject: Vec<String> = cfg.images.iter().map(|i| i.image.to_string()).collect();
                write_failure_summary(runner, kit, &subject, ctx.as_ref(), e)
            }
            (None, Ok(_)) => {}
        }
    }
    let (plan, results) = result?;
    let done = succeeded(&cfg, results)?;
    let outputs = Outputs::build(&plan, cfg.policy.sha_length, labels, &done, cfg.keyed);
    let entries = outputs.entries();
    match output {
        Some(f) => f.write_outputs(&entries).context("writing step outputs")?,
        None => {
            kit.notice_titled(
                TITLE,
                "GITHUB_OUTPUT is not set: printing the outputs instead",
            );
            for (k, v) in entries {
                kit.info(&format!("{k}={v}"));
            }
        }
    }
    Ok(())
}

/// Every image's result, or the step's failure: the one image's error, or one line per failed
/// image when there are several.
fn succeeded(cfg: &Config, results: Vec<Result<Resolved, Failed>>) -> Result<Vec<ImageResult>> {
    let mut failures = Vec::new();
    let mut done = Vec::new();
    for r in results {
        match r {
            Ok(r) => done.push(r.result),
            Err(f) if cfg.images.len() == 1 => return Err(f.error),
            // the error names the reference; the image's name says which line of `images`
            Err(f) => failures.push((title_of(&f.error), format!("`{}`: {:#}", f.name, f.error))),
        }
    }
    if failures.is_empty() {
        Ok(done)
    } else {
        Err(Failures(failures).into())
    }
}

type Resolution = (Plan, Vec<Result<Resolved, Failed>>);

/// Event → plan → every image; the adapters are built here, once, and shared. The event, when
/// it was read, comes back even on failure: the summary names the pull request.
async fn resolve(
    cfg: &Config,
    runner: &RunnerVars,
    kit: &Toolkit,
) -> (Option<EventContext>, Result<Resolution>) {
    let ctx = match read_event(runner) {
        Ok(c) => c,
        Err(e) => return (None, Err(e)),
    };
    let r = resolve_event(cfg, runner, kit, &ctx).await;
    (Some(ctx), r)
}

async fn resolve_event(
    cfg: &Config,
    runner: &RunnerVars,
    kit: &Toolkit,
    ctx: &EventContext,
) -> Result<Resolution> {
    kit.debug(&describe_event(ctx));
    let registries = Registries::new(credential_policy(cfg, runner), cfg.retries)
        .in_own_network(runner.in_actions());
    let (info_kit, debug_kit) = (kit.clone(), kit.clone());
    // API lines go to the image being resolved (inside its group), else straight out
    let log: Logger = Arc::new(move |m: &str| {
        if !crate::flow::log::current_info(m) {
            info_kit.info(m)
        }
    });
    let debug: Logger = Arc::new(move |m: &str| {
        if !crate::flow::log::current_debug(m) {
            debug_kit.debug(m)
        }
    });
    let github = LazyGitHub::new(
        runner.api_url(),
        cfg.github_token.as_ref().map(|t| t.expose()),
        runner.github_repository.clone().unwrap_or_default(),
        cfg.retries,
        (log, debug),
    );
    // pull mode needs the daemon: connect first, so a missing socket fails in seconds
    let docker = match cfg.mode {
        Mode::Pull => {
            let d = Docker::connect(runner.docker_host(), cfg.retries, runner.temp_dir()).await?;
            if let Some(w) = &d.daemon.warning {
                kit.warning_titled(TITLE, w);
            }
            kit.debug(&format!(
                "Docker daemon {} (API {}, {})",
                d.daemon.host(),
                d.daemon.api_version,
                d.daemon.platform
            ));
            Some(d)
        }
        _ => None,
    };
    let flow = Flow {
        cfg,
        ctx,
        registry: &registries,
        github: &github,
        daemon: docker.as_ref(),
        kit,
        repository: runner.github_repository.clone().unwrap_or_default(),
        pr: Default::default(),
        merged: Default::default(),
        trees: Default::default(),
    };
    let plan = flow.plan().await;
    let resolution = match plan {
        Ok(plan) => {
            kit.debug(&describe_plan(cfg, &plan));
            let results = flow.resolve(&plan).await;
            Ok((plan, results))
        }
        Err(e) => Err(e),
    };
    kit.debug(&format!("GitHub API calls: {}", github.calls()));
    resolution
}

/// The templates as rendered, for `RUNNER_DEBUG=1`.
fn describe_plan(cfg: &Config, plan: &Plan) -> String {
    let p = &cfg.policy;
    let template = match &p.tag {
        Some(_) => "the `tag` input".to_string(),
        None if plan.pr.is_some() => format!("`pr-tag` `{}`", p.pr_tag),
        None => format!("`branch-tag` `{}`", p.branch_tag),
    };
    let images: Vec<String> = plan
        .images
        .iter()
        .map(|i| i.reference.to_string())
        .collect();
    format!(
        "tag `{}` from {template}; expected commit {}; images: {}",
        plan.tag,
        plan.expected
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| "none".into()),
        images.join(", ")
    )
}

/// Registry logins: the inputs', and GitHub's own registries' default (actor + token).
fn credential_policy(cfg: &Config, runner: &RunnerVars) -> CredentialPolicy {
    CredentialPolicy {
        source_username: cfg.registry_username.clone(),
        source_password: cfg.registry_password.clone(),
        promote_username: cfg.promote_username.clone(),
        promote_password: cfg.promote_password.clone(),
        github_token: cfg.github_token.clone(),
        actor: runner.github_actor.clone(),
        github_registries: CredentialPolicy::github_registries_for(&runner.server_url()),
        source_registries: cfg
            .images
            .iter()
            .map(|i| i.image.registry().to_string())
            .collect(),
    }
}

//! The step, top to bottom as the contract tells it: read the inputs and the event, build the
//! adapters once, run the one command the mode names, then write the summary and the outputs.

use crate::adapters::ports::{Docker, LazyGitHub, Live, PolicyLogin, Registries};
use crate::command::{self, Finished, Request};
use crate::config::{Config, RawInputs};
use crate::core::clean::Target;
use crate::core::credentials::CredentialPolicy;
use crate::core::event::EventContext;
use crate::core::outputs::Outputs;
use crate::core::plan::{Mode, Scope};
use crate::core::result::{Done, Failed, Shown};
use crate::env::RunnerVars;
use crate::flow::Ports;
use crate::retry::Logger;
use crate::toolkit::{FileCommand, Toolkit, TITLE};
use anyhow::{Context, Result};
use event::{describe_event, read_clean_event, read_event};
use std::path::Path;
use std::sync::Arc;
use summary::{write_failure_summary, write_summary};

mod event;
mod summary;
mod vsa;

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
            return registry_title(r);
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

/// A registry's failure, by kind.
fn registry_title(r: &crate::adapters::registry::RegistryError) -> &'static str {
    use crate::adapters::registry::RegistryError;
    match r {
        RegistryError::NotFound { .. } | RegistryError::NoRepository { .. } => {
            "image-resolver: Image not found"
        }
        RegistryError::Unauthorized { .. }
        | RegistryError::Denied { .. }
        | RegistryError::Login { .. } => "image-resolver: Registry access refused",
        RegistryError::Unreachable {
            rate_limit: Some(_),
            ..
        } => "image-resolver: Registry rate limit",
        RegistryError::Unreachable { .. } => "image-resolver: Registry unreachable",
        RegistryError::Integrity { .. } => "image-resolver: Integrity check failed",
        RegistryError::Promote { .. } => "image-resolver: Promotion failed",
        RegistryError::NoPlatform { .. } => "image-resolver: Platform missing",
        RegistryError::Protocol { .. } => "image-resolver: Registry error",
    }
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
    let cfg = read_config(runner, raw, kit)?;
    for notice in &cfg.notices {
        kit.notice_titled(TITLE, notice);
    }
    let output = match &runner.github_output {
        Some(p) => Some(FileCommand::check("GITHUB_OUTPUT", Path::new(p))?),
        None => None,
    };
    let (ctx, result) = resolve(&cfg, runner, kit).await;
    if cfg.summary {
        match &result {
            Ok(finished) => write_summary(runner, kit, finished),
            Err(e) => {
                let subject: Vec<String> = cfg.images.iter().map(|i| i.image.to_string()).collect();
                write_failure_summary(runner, kit, &subject, ctx.as_ref(), e)
            }
        }
    }
    let finished = result?;
    let done = succeeded(finished.plan.scope, finished.images)?;
    let images: Vec<_> = done.iter().filter_map(Shown::outputs).collect();
    let outputs = Outputs {
        verification_summary: vsa::write(&cfg, runner, kit, &done)?,
        ..Outputs::build(
            &finished.plan,
            cfg.policy.sha_length,
            finished.labels,
            &images,
            finished.plan.scope.keyed(),
        )
    };
    write_outputs(output, &outputs, kit)
}

/// The inputs as `Config`; an input error gets a summary too, unless the summary was turned off.
fn read_config(runner: &RunnerVars, raw: RawInputs, kit: &Toolkit) -> Result<Config> {
    let summary_off = raw.summary.as_deref().map(str::trim) == Some("false");
    let subject: Vec<String> = [&raw.image, &raw.images]
        .into_iter()
        .flatten()
        .flat_map(|v| v.lines().map(str::trim).filter(|l| !l.is_empty()))
        .map(String::from)
        .take(8)
        .collect();
    Config::from_raw(raw).map_err(|e| {
        let e = anyhow::Error::new(e);
        if !summary_off {
            write_failure_summary(runner, kit, &subject, None, &e);
        }
        e
    })
}

fn write_outputs(output: Option<FileCommand>, outputs: &Outputs, kit: &Toolkit) -> Result<()> {
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
/// image with `images`.
fn succeeded(scope: Scope, results: Vec<Result<Done, Failed>>) -> Result<Vec<Done>> {
    let mut failures = Vec::new();
    let mut done = Vec::new();
    for r in results {
        match r {
            Ok(d) => done.push(d),
            Err(f) if scope == Scope::One => return Err(f.error),
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

/// Event → the mode's command. The event, when it was read, comes back even on failure: the
/// summary of a step that failed before its plan names the pull request.
async fn resolve(
    cfg: &Config,
    runner: &RunnerVars,
    kit: &Toolkit,
) -> (Option<EventContext>, Result<Finished>) {
    let read = match cfg.mode {
        Mode::Clean => read_clean_event(runner).map(|(c, t)| (c, Some(t))),
        _ => read_event(runner).map(|c| (c, None)),
    };
    let (ctx, target) = match read {
        Ok(c) => c,
        Err(e) => return (None, Err(e)),
    };
    let r = execute(cfg, runner, kit, &ctx, target.as_ref()).await;
    (Some(ctx), r)
}

/// The one command the mode names; the adapters are built here, once, and shared.
async fn execute(
    cfg: &Config,
    runner: &RunnerVars,
    kit: &Toolkit,
    ctx: &EventContext,
    clean_target: Option<&Target>,
) -> Result<Finished> {
    kit.debug(&describe_event(ctx));
    // every secret the login port hands out is masked as it arrives
    let mask_kit = kit.clone();
    let login = Arc::new(PolicyLogin::new(
        credential_policy(cfg, runner),
        Arc::new(move |s: &str| mask_kit.add_mask(s)),
    ));
    let registries = Registries::new(login.clone(), cfg.retries)
        .in_own_network(runner.in_actions())
        .insecure(cfg.insecure_registries.clone());
    let repository = runner.github_repository.clone().unwrap_or_default();
    let github = github(cfg, runner, kit);
    let ports = Ports::<Live>::new((&registries, &github, &*login), kit);
    let server_url = runner.server_url();
    let api_url = runner.api_url();
    let req = Request {
        cfg,
        event: ctx,
        repository: &repository,
        server_url: &server_url,
        api_url: &api_url,
    };
    let finished = match cfg.mode {
        Mode::Pull => {
            // pull needs the daemon: connect first, so a missing socket fails in seconds
            let docker = docker(cfg, runner, kit).await?;
            command::pull::execute(&req, &ports, &docker).await
        }
        Mode::Verify => command::verify::execute(&req, &ports).await,
        Mode::Compute => command::compute::execute(&req, &ports).await,
        Mode::Promote => command::promote::execute(&req, &ports).await,
        Mode::Clean => {
            let target =
                clean_target.ok_or_else(|| anyhow::anyhow!("clean mode without its event"))?;
            command::clean::execute(&req, &ports, target).await
        }
    };
    kit.debug(&format!("GitHub API calls: {}", github.calls()));
    finished
}

/// The GitHub API client; its lines go to the image being resolved (inside its group), else
/// straight out.
fn github(cfg: &Config, runner: &RunnerVars, kit: &Toolkit) -> LazyGitHub {
    let (info_kit, debug_kit) = (kit.clone(), kit.clone());
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
    LazyGitHub::new(
        runner.api_url(),
        cfg.github_token.as_ref().map(|t| t.expose()),
        runner.github_repository.clone().unwrap_or_default(),
        cfg.retries,
        (log, debug),
    )
}

async fn docker(cfg: &Config, runner: &RunnerVars, kit: &Toolkit) -> Result<Docker> {
    let docker = Docker::connect(runner.docker_host(), cfg.retries, runner.temp_dir()).await?;
    if let Some(w) = &docker.daemon.warning {
        kit.warning_titled(TITLE, w);
    }
    kit.debug(&format!(
        "Docker daemon {} (API {}, {})",
        docker.daemon.host(),
        docker.daemon.api_version,
        docker.daemon.platform
    ));
    Ok(docker)
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

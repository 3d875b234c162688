//! The step, top to bottom as the contract tells it: read the inputs and the event, build the
//! adapters once, plan, resolve every image, then write the summary and the outputs.

use crate::config::{Config, RawInputs};
use crate::core::credentials::CredentialPolicy;
use crate::core::event::{from_event, EventContext, RunnerEnv};
use crate::core::outputs::Outputs;
use crate::core::plan::{build_labels, Mode, Plan};
use crate::core::revision::Outcome;
use crate::core::summary::{
    self, ImageRow, Links, Outcome as SummaryOutcome, Report, RevisionShown,
};
use crate::env::RunnerVars;
use crate::flow::ports::{Docker, LazyGitHub, Registries};
use crate::flow::{Failed, Flow, ResolveError, Resolved};
use crate::retry::Logger;
use crate::toolkit::{FileCommand, Toolkit};
use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// The event file is the runner's; anything larger is not one.
const MAX_EVENT: u64 = 64 << 20;

/// Several images failed: one `::error::` line each.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct Failures(pub Vec<String>);

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
    let cfg = Config::from_raw(raw)?;
    for notice in &cfg.notices {
        kit.notice(notice);
    }
    let output = match &runner.github_output {
        Some(p) => Some(FileCommand::check("GITHUB_OUTPUT", Path::new(p))?),
        None => None,
    };
    let result = resolve(&cfg, runner, kit).await;
    if cfg.summary {
        write_summary(runner, kit, &result);
    }
    let (_, plan, results) = result?;
    let mut failures = Vec::new();
    let mut done = Vec::new();
    for r in results {
        match r {
            Ok(r) => done.push(r.result),
            Err(f) if cfg.images.len() == 1 => return Err(f.error),
            // the error names the reference; the image's name says which line of `images`
            Err(f) => failures.push(format!("`{}`: {:#}", f.name, f.error)),
        }
    }
    if !failures.is_empty() {
        return Err(Failures(failures).into());
    }
    let labels = if cfg.mode == Mode::Compute {
        let repository = runner.github_repository.as_deref().unwrap_or("");
        build_labels(&plan, &runner.server_url(), repository)
    } else {
        String::new()
    };
    let outputs = Outputs::build(&plan, cfg.policy.sha_length, labels, &done, cfg.keyed);
    let entries = outputs.entries();
    match output {
        Some(f) => f.write_outputs(&entries).context("writing step outputs")?,
        None => {
            kit.notice("GITHUB_OUTPUT is not set: printing the outputs instead");
            for (k, v) in entries {
                kit.info(&format!("{k}={v}"));
            }
        }
    }
    Ok(())
}

type Resolution = (EventContext, Plan, Vec<Result<Resolved, Failed>>);

/// Event → plan → every image; the adapters are built here, once, and shared.
async fn resolve(cfg: &Config, runner: &RunnerVars, kit: &Toolkit) -> Result<Resolution> {
    let ctx = read_event(runner)?;
    kit.debug(&describe_event(&ctx));
    let registries = Registries::new(credential_policy(cfg, runner), cfg.retries);
    let (info_kit, debug_kit) = (kit.clone(), kit.clone());
    let log: Logger = Arc::new(move |m: &str| info_kit.info(m));
    let debug: Logger = Arc::new(move |m: &str| debug_kit.debug(m));
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
            let d = Docker::connect(runner.docker_host(), cfg.retries).await?;
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
        ctx: &ctx,
        registry: &registries,
        github: &github,
        daemon: docker.as_ref(),
        kit,
        repository: runner.github_repository.clone().unwrap_or_default(),
        pr: Default::default(),
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
    let (plan, results) = resolution?;
    Ok((ctx, plan, results))
}

/// What the event said, for `RUNNER_DEBUG=1`: the fields the derivation used.
fn describe_event(ctx: &EventContext) -> String {
    let upstream = ctx
        .upstream
        .as_ref()
        .map(|u| {
            let conclusion = u.conclusion.as_deref().unwrap_or("none");
            format!(", upstream run {} ({}, {conclusion})", u.id, u.event)
        })
        .unwrap_or_default();
    format!(
        "event `{}`: sha {}, branch {:?}, PR {:?}, fork {}{upstream}",
        ctx.event_name,
        ctx.sha
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| "none".into()),
        ctx.branch,
        ctx.pr,
        ctx.from_fork,
    )
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

fn read_event(runner: &RunnerVars) -> Result<EventContext> {
    let name = runner.github_event_name.clone().ok_or_else(|| anyhow!("GITHUB_EVENT_NAME is not set: run this as a GitHub Actions step, or export it as the runner would"))?;
    let needs_payload = matches!(
        name.as_str(),
        "workflow_run" | "pull_request" | "pull_request_target"
    );
    let payload = match &runner.github_event_path {
        Some(path) => serde_json::from_slice(&read_event_file(path)?)
            .with_context(|| format!("the event file `{path}` is not JSON"))?,
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

/// A regular file of at most 64 MiB: a FIFO would block forever, `/dev/zero` never end.
fn read_event_file(path: &str) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("reading the event file GITHUB_EVENT_PATH=`{path}`"))?;
    if !meta.is_file() {
        bail!("the event file GITHUB_EVENT_PATH=`{path}` is not a regular file");
    }
    if meta.len() > MAX_EVENT {
        bail!("the event file `{path}` is larger than 64 MiB: it is not a runner's event file");
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_EVENT + 1).read_to_end(&mut bytes))
        .with_context(|| format!("reading the event file GITHUB_EVENT_PATH=`{path}`"))?;
    if bytes.len() as u64 > MAX_EVENT {
        bail!("the event file `{path}` is larger than 64 MiB: it is not a runner's event file");
    }
    Ok(bytes)
}

/// The step summary, written on failure too; a summary that cannot be written is a warning.
fn write_summary(runner: &RunnerVars, kit: &Toolkit, result: &Result<Resolution>) {
    let Some(path) = &runner.github_step_summary else {
        return;
    };
    let text = summary::render(&report(runner, result));
    if let Err(e) =
        FileCommand::check("GITHUB_STEP_SUMMARY", Path::new(path)).and_then(|f| f.append(&text))
    {
        kit.warning(&format!("step summary not written: {e}"));
    }
}

/// What the summary shows: a verdict, one row per image, the notes, and the links.
fn report(runner: &RunnerVars, result: &Result<Resolution>) -> Report {
    let mut links = Links {
        server_url: runner.server_url(),
        repository: runner.github_repository.clone().unwrap_or_default(),
        ..Default::default()
    };
    let (ctx, plan, results) = match result {
        Ok(r) => r,
        Err(e) => {
            return Report {
                outcome: SummaryOutcome::Failed,
                reason: Some(format!("{e:#}")),
                images: Vec::new(),
                notes: Vec::new(),
                links,
            }
        }
    };
    links.commit = plan.expected.as_ref().map(ToString::to_string);
    links.pr = plan.pr;
    links.build_run_id = ctx.upstream.as_ref().map(|u| u.id);
    let keyed = plan.images.len() > 1;
    let mut notes: Vec<String> = Vec::new();
    let images = results
        .iter()
        .zip(&plan.images)
        .map(|(r, img)| {
            let mut row = ImageRow::new(img.display());
            row.name = keyed.then(|| img.name.clone());
            row.pinned = img.reference.digest.is_some() && img.reference.tag.is_none();
            match r {
                Ok(r) => {
                    for n in &r.notes {
                        if !notes.contains(n) {
                            notes.push(n.clone());
                        }
                    }
                    let x = &r.result;
                    let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
                    row.digest = some(&x.digest);
                    row.image_id = some(&x.image_id);
                    row.local_image = some(&x.local_image);
                    row.source = x.source;
                    row.label = x.revision_label.clone();
                    row.revision = shown(&r.revision);
                    row.elapsed = Some(r.elapsed);
                }
                Err(f) => {
                    row.error = Some(format!("{:#}", f.error));
                    row.elapsed = Some(f.elapsed);
                    if matches!(
                        f.error.downcast_ref::<ResolveError>(),
                        Some(ResolveError::RevisionMismatch { .. })
                    ) {
                        row.revision = RevisionShown::Mismatch;
                    }
                }
            }
            row
        })
        .collect();
    // a provenance accepted under `attestation: warn` is never shown as a plain success
    let unproven = results
        .iter()
        .flatten()
        .any(|r| matches!(r.result.attestation.as_str(), "missing" | "invalid"));
    Report {
        outcome: if unproven {
            SummaryOutcome::Warning
        } else {
            SummaryOutcome::Resolved
        },
        reason: None,
        images,
        notes,
        links,
    }
}

fn shown(o: &Outcome) -> RevisionShown {
    match o {
        Outcome::Match => RevisionShown::Matched,
        Outcome::MergeCommit(_) => RevisionShown::MergeCommit,
        Outcome::SameTree(_) => RevisionShown::SameTree,
        Outcome::Accepted { .. } => RevisionShown::MismatchAccepted,
        Outcome::NotChecked | Outcome::Off => RevisionShown::NotChecked,
    }
}

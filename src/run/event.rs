//! The event the runner wrote: read within bounds, turned into the core's context.

use crate::core::clean::Target;
use crate::core::event::{from_event, EventContext, Obj, Payload, PrNumber, RunnerEnv};
use crate::env::RunnerVars;
use anyhow::{anyhow, bail, Context, Result};
use std::io::Read;

/// The event file is the runner's; anything larger is not one.
const MAX_EVENT: u64 = 64 << 20;

pub fn read_event(runner: &RunnerVars) -> Result<EventContext> {
    let (env, payload) = read_payload(runner)?;
    Ok(from_event(&env, &payload)?)
}

/// Clean mode's event: what it cleans, and the context the summary links. A push that deleted
/// a branch is its input here, not an error.
pub fn read_clean_event(runner: &RunnerVars) -> Result<(EventContext, Target)> {
    let (env, payload) = read_payload(runner)?;
    let pr = payload.pull_request.get().and_then(|p| p.number.num());
    let target = Target::of_event(
        &env.event_name,
        payload.action.str().as_deref(),
        pr,
        payload.deleted.bool() == Some(true),
        env.ref_name
            .clone()
            .or_else(|| payload.ref_.str())
            .as_deref(),
    )
    .map_err(|e| anyhow!("{e}: is GITHUB_EVENT_PATH the file the runner wrote?"))?;
    let ctx = match from_event(&env, &payload) {
        Ok(ctx) => ctx,
        // no commit to link (a deleted branch): the run's own context
        Err(_) => {
            let manual = RunnerEnv {
                event_name: String::new(),
                sha: None,
                ..env.clone()
            };
            EventContext {
                event_name: env.event_name.clone(),
                ..from_event(&manual, &Payload::default())?
            }
        }
    };
    Ok((ctx, target))
}

fn read_payload(runner: &RunnerVars) -> Result<(RunnerEnv, Payload)> {
    let name = runner.github_event_name.clone().ok_or_else(|| anyhow!("GITHUB_EVENT_NAME is not set: run this as a GitHub Actions step, or export it as the runner would"))?;
    let needs_payload = matches!(
        name.as_str(),
        "workflow_run" | "pull_request" | "pull_request_target"
    );
    // read into the fields used: padding of any size is skipped, never built into a tree
    let payload: Payload = match &runner.github_event_path {
        Some(path) => serde_json::from_slice::<Obj<Payload>>(&read_event_file(path)?)
            .with_context(|| format!("the event file `{path}` is not JSON"))?
            .0
            .unwrap_or_default(),
        None if needs_payload => {
            bail!("GITHUB_EVENT_PATH is not set, and the `{name}` event needs its payload")
        }
        None => Payload::default(),
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
    Ok((env, payload))
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

/// What the event said, for `RUNNER_DEBUG=1`: the fields the derivation used.
pub fn describe_event(ctx: &EventContext) -> String {
    let upstream = ctx
        .upstream
        .as_ref()
        .map(|u| {
            let conclusion = u.conclusion.as_deref().unwrap_or("none");
            format!(", upstream run {} ({}, {conclusion})", u.id, u.event)
        })
        .unwrap_or_default();
    let pr = match &ctx.pr {
        PrNumber::None => "none".to_string(),
        PrNumber::Known(n) => format!("#{n}"),
        PrNumber::Lookup {
            head_owner,
            head_branch,
        } => format!("to look up (head `{head_owner}:{head_branch}`)"),
    };
    format!(
        "event `{}`: sha {}, branch {}, PR {pr}, {}{upstream}",
        ctx.event_name,
        ctx.sha
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| "none".into()),
        ctx.branch
            .as_deref()
            .map_or("none".to_string(), |b| format!("`{b}`")),
        if ctx.from_fork {
            "from a fork"
        } else {
            "not from a fork"
        },
    )
}

//! The step summary: what the command finished with, as a person reads it.

use crate::command::Finished;
use crate::core::event::{EventContext, PrNumber};
use crate::core::result::Shown;
use crate::core::summary::{self, Computed, Kind, Links, Outcome, Report};
use crate::core::verdict::verdict;
use crate::env::RunnerVars;
use crate::toolkit::{FileCommand, Toolkit, TITLE};
use std::path::Path;

/// The step summary of a command that got as far as a plan; a summary that cannot be written
/// is a warning.
pub fn write_summary(runner: &RunnerVars, kit: &Toolkit, finished: &Finished) {
    append(runner, kit, &report(runner, finished));
}

/// The summary of a step that failed before any image was planned (an input, the event, a
/// refused fork, a pull-request look-up): it names the images and the pull request it knows.
pub fn write_failure_summary(
    runner: &RunnerVars,
    kit: &Toolkit,
    subject: &[String],
    ctx: Option<&EventContext>,
    error: &anyhow::Error,
) {
    let mut links = base_links(runner);
    if let Some(ctx) = ctx {
        links.commit = ctx.sha.as_ref().map(ToString::to_string);
        match &ctx.pr {
            PrNumber::Known(n) => links.pr = Some(*n),
            PrNumber::Lookup {
                head_owner,
                head_branch,
            } => links.pr_head = Some(format!("{head_owner}:{head_branch}")),
            PrNumber::None => {}
        }
        links.build_run_id = ctx.upstream.as_ref().map(|u| u.id);
    }
    let report = Report {
        outcome: Outcome::Failed,
        reason: Some(format!("{error:#}")),
        links,
        subject: subject.to_vec(),
        ..Default::default()
    };
    append(runner, kit, &report);
}

fn append(runner: &RunnerVars, kit: &Toolkit, report: &Report) {
    let Some(path) = &runner.github_step_summary else {
        return;
    };
    let text = summary::render(report);
    if let Err(e) =
        FileCommand::check("GITHUB_STEP_SUMMARY", Path::new(path)).and_then(|f| f.append(&text))
    {
        kit.warning_titled(TITLE, &format!("step summary not written: {e}"));
    }
}

fn base_links(runner: &RunnerVars) -> Links {
    Links {
        server_url: runner.server_url(),
        repository: runner.github_repository.clone().unwrap_or_default(),
        ..Default::default()
    }
}

/// The verdict (core's), one row per image, and the links.
fn report(runner: &RunnerVars, f: &Finished) -> Report {
    let mut links = base_links(runner);
    links.commit = f.commit.as_ref().map(ToString::to_string);
    links.pr = f.plan.pr;
    links.build_run_id = f.plan.facts.build_run;
    let v = verdict(&f.images);
    let computed = (f.kind == Kind::Compute).then(|| Computed {
        tag: f.plan.tag.clone(),
        labels: f.labels.lines().map(String::from).collect(),
        // one image's `{tree}`; several images' are in the outputs
        tree: match f.plan.images.as_slice() {
            [one] => one.content.as_ref().map(|c| c.value.clone()),
            _ => None,
        },
    });
    Report {
        kind: f.kind,
        outcome: v.outcome,
        reason: v.reason,
        images: f.images.iter().map(|r| r.row(f.plan.scope)).collect(),
        notes: v.notes,
        links,
        subject: Vec::new(),
        computed,
    }
}

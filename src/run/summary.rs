//! The step summary: what the resolution becomes for a person reading it.

use crate::config::{Config, PromoteSource};
use crate::core::event::{EventContext, PrNumber};
use crate::core::plan::{Mode, Plan};
use crate::core::revision::Outcome;
use crate::core::summary::{
    self, Computed, ImageRow, Kind, Links, Outcome as SummaryOutcome, Report, RevisionShown,
};
use crate::env::RunnerVars;
use crate::flow::{Failed, ResolveError, Resolved};
use crate::toolkit::{FileCommand, Toolkit, TITLE};
use std::path::Path;

/// The step summary of a run that got as far as a plan; a summary that cannot be written is a
/// warning.
pub fn write_summary(
    runner: &RunnerVars,
    kit: &Toolkit,
    cfg: &Config,
    ctx: &EventContext,
    plan: &Plan,
    results: &[Result<Resolved, Failed>],
    labels: &str,
) {
    append(
        runner,
        kit,
        &report(runner, cfg, ctx, plan, results, labels),
    );
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
        outcome: SummaryOutcome::Failed,
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

/// What the summary shows: a verdict, one row per image, the notes, and the links.
fn report(
    runner: &RunnerVars,
    cfg: &Config,
    ctx: &EventContext,
    plan: &Plan,
    results: &[Result<Resolved, Failed>],
    labels: &str,
) -> Report {
    let mut links = base_links(runner);
    links.commit = plan.expected.as_ref().map(ToString::to_string);
    // a merged pull request's image is promoted for the pushed commit: link that one
    if cfg.mode == Mode::Promote && cfg.promote_source == PromoteSource::MergedPr {
        links.commit = ctx.sha.as_ref().map(ToString::to_string);
    }
    links.pr = plan.pr;
    links.build_run_id = ctx.upstream.as_ref().map(|u| u.id);
    let keyed = plan.images.len() > 1;
    let mut notes: Vec<String> = Vec::new();
    let images: Vec<ImageRow> = results
        .iter()
        .zip(&plan.images)
        .map(|(r, img)| {
            let mut row = ImageRow::new(img.display());
            row.name = keyed.then(|| img.name.clone());
            row.pinned = img.reference.digest.is_some() && img.reference.tag.is_none();
            match r {
                Ok(r) => {
                    let x = &r.result;
                    // a skipped image's notice goes with its row; the rest are the step's
                    let skipped = !x.promote_skipped.is_empty();
                    if skipped {
                        row.skip_notice = r.notes.last().cloned();
                    }
                    for n in &r.notes {
                        if !notes.contains(n) && (!skipped || Some(n) != r.notes.last()) {
                            notes.push(n.clone());
                        }
                    }
                    let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
                    row.digest = some(&x.digest);
                    row.image_id = some(&x.image_id);
                    row.local_image = some(&x.local_image);
                    row.source = x.source;
                    row.label = x.revision_label.clone();
                    row.revision = shown(&r.revision);
                    row.elapsed = Some(r.elapsed);
                    row.targets = x.promoted.clone();
                    row.promote_skipped = some(&x.promote_skipped);
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
    // a promotion that skipped every image: the verdict says so, with the notice as its reason
    let all_skipped = !results.is_empty()
        && results
            .iter()
            .all(|r| matches!(r, Ok(r) if !r.result.promote_skipped.is_empty()));
    let reason = all_skipped
        .then(|| {
            results
                .iter()
                .find_map(|r| r.as_ref().ok()?.notes.last().cloned())
        })
        .flatten();
    notes.retain(|n| Some(n) != reason.as_ref());
    let kind = match cfg.mode {
        Mode::Promote => Kind::Promote,
        Mode::Compute => Kind::Compute,
        _ => Kind::Resolve,
    };
    let computed = (kind == Kind::Compute).then(|| Computed {
        tag: plan.tag.clone(),
        labels: labels.lines().map(String::from).collect(),
        tree: None,
    });
    Report {
        kind,
        outcome: if all_skipped {
            SummaryOutcome::Skipped
        } else if unproven {
            SummaryOutcome::Warning
        } else {
            SummaryOutcome::Resolved
        },
        reason,
        images,
        notes,
        links,
        subject: Vec::new(),
        computed,
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

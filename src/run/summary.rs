//! The step summary: what the resolution becomes for a person reading it.

use super::Resolution;
use crate::core::revision::Outcome;
use crate::core::summary::{
    self, ImageRow, Links, Outcome as SummaryOutcome, Report, RevisionShown,
};
use crate::env::RunnerVars;
use crate::flow::ResolveError;
use crate::toolkit::{FileCommand, Toolkit, TITLE};
use anyhow::Result;
use std::path::Path;

/// The step summary, written on failure too; a summary that cannot be written is a warning.
pub fn write_summary(runner: &RunnerVars, kit: &Toolkit, result: &Result<Resolution>) {
    let Some(path) = &runner.github_step_summary else {
        return;
    };
    let text = summary::render(&report(runner, result));
    if let Err(e) =
        FileCommand::check("GITHUB_STEP_SUMMARY", Path::new(path)).and_then(|f| f.append(&text))
    {
        kit.warning_titled(TITLE, &format!("step summary not written: {e}"));
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
    // a promotion that skipped every image: the verdict says so, with the notice as its reason
    let all_skipped = !results.is_empty()
        && results
            .iter()
            .all(|r| matches!(r, Ok(r) if !r.result.promote_skipped.is_empty()));
    let reason = all_skipped
        .then(|| {
            results
                .iter()
                .find_map(|r| r.as_ref().ok()?.notes.first().cloned())
        })
        .flatten();
    notes.retain(|n| Some(n) != reason.as_ref());
    Report {
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

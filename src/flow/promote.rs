//! Promotion: the verified digest written under every planned target; from a merged pull
//! request only when the trees match.

use super::log::Log;
use super::ports::{Registry, World};
use super::revision::tree_of;
use super::Ports;
use crate::core::outputs::{PromotedTarget, TargetState};
use crate::core::promote::{same_tree, target_line, PromoteTarget, Skip};
use crate::core::reference::ImageRef;
use crate::core::revision::Outcome;
use crate::core::Sha;
use anyhow::Result;

/// The image of merged pull request `number` is the pushed commit's image only when the tree
/// it was built from is the pushed commit's tree; otherwise why not.
pub async fn same_source<W: World>(
    p: &Ports<'_, W>,
    (number, pushed): (u64, &Sha),
    revision: &Outcome,
    label: Option<&str>,
    log: &Log,
) -> Result<Option<Skip>> {
    let label = match revision {
        Outcome::MergeCommit(c) | Outcome::SameTree(c) | Outcome::SamePaths(c) => Some(c.clone()),
        _ => label.and_then(|l| Sha::parse(l.trim())),
    };
    let Some(label) = label else {
        return Ok(Some(Skip::TreeDiffers));
    };
    let built = tree_of(p, label.as_str()).await?;
    let here = tree_of(p, pushed.as_str()).await?;
    if same_tree(&built, &here).is_err() {
        return Ok(Some(Skip::TreeDiffers));
    }
    log.info(&format!(
        "The image of pull request #{number} was built from {label}, whose tree {built} is the tree of {pushed}: the same source"
    ));
    Ok(None)
}

/// Writes `repository@digest` under every target (with its referrers); each target that holds
/// it now, and how, with a line per target for the summary when there is more to say than the
/// table shows (referrers carried, or a dry run's blobs). `dry_run`: nothing is written; each
/// target says what it would receive.
pub async fn promote<W: World>(
    p: &Ports<'_, W>,
    repository: &str,
    digest: &str,
    targets: &[PromoteTarget],
    dry_run: bool,
    log: &Log,
) -> Result<(Vec<PromotedTarget>, Vec<String>)> {
    let source = ImageRef {
        repository: repository.to_string(),
        tag: None,
        digest: Some(digest.to_string()),
    };
    log.group(if dry_run {
        "Promote (dry run)"
    } else {
        "Promote"
    });
    let done = p.registry.promote(&source, targets, dry_run, log).await;
    log.end_group();
    let done = done?;
    let mut lines = Vec::new();
    let mut out = Vec::with_capacity(done.len());
    for t in done {
        let state = match (t.written, dry_run) {
            (true, false) => TargetState::Written,
            (true, true) => TargetState::WouldWrite,
            (false, _) => TargetState::AlreadyThere,
        };
        let said = match state {
            TargetState::Written => "written",
            TargetState::WouldWrite => "would be written",
            TargetState::AlreadyThere => "already there",
        };
        let shown = t
            .reference
            .split_once('@')
            .map_or(t.reference.as_str(), |(r, _)| r);
        if dry_run || t.referrers.total() + t.referrers.kept > 0 {
            let line = target_line(shown, said, &t.blobs, &t.referrers, dry_run);
            log.info(&line.replace('`', ""));
            lines.push(line);
        }
        out.push(PromotedTarget {
            state,
            reference: t.reference,
        });
    }
    if dry_run {
        lines.insert(0, "Dry run: nothing was written.".into());
    }
    Ok((out, lines))
}

//! Promotion: the verified digest written under every planned target; from a merged pull
//! request only when the trees match.

use super::log::Log;
use super::ports::{Registry, World};
use super::revision::tree_of;
use super::Ports;
use crate::core::outputs::{PromotedTarget, TargetState};
use crate::core::promote::{same_tree, PromoteTarget, Skip};
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

/// Writes `repository@digest` under every target; each target that holds it now, and how.
pub async fn promote<W: World>(
    p: &Ports<'_, W>,
    repository: &str,
    digest: &str,
    targets: &[PromoteTarget],
    log: &Log,
) -> Result<Vec<PromotedTarget>> {
    let source = ImageRef {
        repository: repository.to_string(),
        tag: None,
        digest: Some(digest.to_string()),
    };
    log.group("Promote");
    let done = p.registry.promote(&source, targets, log).await;
    log.end_group();
    Ok(done?
        .into_iter()
        .map(|p| PromotedTarget {
            state: if p.written {
                TargetState::Written
            } else {
                TargetState::AlreadyThere
            },
            reference: p.reference,
        })
        .collect())
}

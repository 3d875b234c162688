//! Is the image built from the commit we expect? The look-ups the label needs (a merge commit's
//! parents, two trees), then `core::revision::judge`.

use super::content::objects_at;
use super::log::Log;
use super::ports::{GitHubApi, World};
use super::{Ports, ResolveError};
use crate::core::promote::same_tree;
use crate::core::revision::{ask, judge, Ask, Expect, Judged, LookedUp, Outcome};
use crate::core::tree::differing;
use crate::core::Sha;
use anyhow::Result;

/// The revision label against the expected commit; an error when the image is not usable under
/// `revision-check: fail`.
pub async fn check_revision<W: World>(
    p: &Ports<'_, W>,
    label: Option<&str>,
    expect: &Expect<'_>,
    what: &str,
    log: &Log,
) -> Result<Outcome> {
    let looked = match ask(label, expect) {
        Ask::Nothing => LookedUp::Nothing,
        Ask::Parents(merge) => LookedUp::Parents(
            p.github
                .commit_parents(merge.as_str())
                .await?
                .iter()
                .filter_map(|s| Sha::parse(s))
                .collect(),
        ),
        // an image promoted from the pull request it was tested on carries that PR's commit:
        // the same tree is the same source (two API calls, only when the plain compare failed)
        // with `paths`: the label commit's objects at each path against the expected commit's
        Ask::Paths(other) => {
            let content = expect.content.expect("asked only with content");
            let paths: Vec<String> = content.objects.iter().map(|(p, _)| p.clone()).collect();
            match objects_at(p, &other, &paths).await {
                Ok(there) => LookedUp::Paths(differing(&there, &content.objects)),
                // fail closed: the mismatch stands, and says why it could not be compared
                Err(e) => {
                    LookedUp::Paths(vec![format!("(their objects could not be read: {e:#})")])
                }
            }
        }
        Ask::Trees(other) => {
            let expected = expect.expected.expect("asked only with an expected commit");
            match trees_match(p, &other, expected).await {
                Ok(same) => LookedUp::SameTree(same),
                // fail closed: an unanswered look-up leaves the mismatch standing
                Err(e) => {
                    log.info(&format!(
                        "comparing the trees of {other} and {expected}: {e:#}"
                    ));
                    LookedUp::SameTree(false)
                }
            }
        }
    };
    settle(judge(label, expect, &looked), expect, what, log)
}

/// The judgement as the step takes it: logged, and under `revision-check: fail` an error.
fn settle(judged: Judged, expect: &Expect<'_>, what: &str, log: &Log) -> Result<Outcome> {
    match judged {
        Judged::Passed(o) => {
            let expected = expect.expected.map(ToString::to_string).unwrap_or_default();
            match &o {
                Outcome::MergeCommit(merge) => log.info(&format!("{what} is labelled with {merge}, a merge commit whose parents include {expected}")),
                Outcome::SameTree(other) => log.info(&format!("{what} is labelled with {other}, whose tree is the tree of {expected}: matched by tree")),
                Outcome::SamePaths(other) => log.info(&format!("{what} is labelled with {other}, whose `paths` hold the same files as at {expected}: matched by paths")),
                _ => {}
            }
            Ok(o)
        }
        Judged::Mismatch {
            expected,
            found,
            advice,
            accepted: true,
        } => {
            log.warning(&format!(
                "`{what}` was built from {found}, not `{expected}`, accepted under `revision-check: warn`: {advice}"
            ));
            Ok(Outcome::Accepted { found })
        }
        Judged::Mismatch {
            expected,
            found,
            advice,
            accepted: false,
        } => Err(ResolveError::RevisionMismatch {
            reference: what.into(),
            expected: expected.to_string(),
            found,
            advice,
        }
        .into()),
    }
}

async fn trees_match<W: World>(p: &Ports<'_, W>, a: &Sha, b: &Sha) -> Result<bool> {
    let ta = tree_of(p, a.as_str()).await?;
    let tb = tree_of(p, b.as_str()).await?;
    Ok(same_tree(&ta, &tb).is_ok())
}

/// A commit's tree, asked of the API once per step whoever asks.
pub async fn tree_of<W: World>(p: &Ports<'_, W>, sha: &str) -> Result<String> {
    let cell = p
        .trees
        .lock()
        .expect("trees")
        .entry(sha.to_ascii_lowercase())
        .or_default()
        .clone();
    let tree = cell.get_or_try_init(|| p.github.commit_tree(sha)).await?;
    Ok(tree.clone())
}

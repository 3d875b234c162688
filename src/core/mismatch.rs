//! Why an image's revision label is not the expected commit, told as the producer's fix.
//!
//! A mismatch is almost always the build workflow labelling the wrong commit, not a bad image:
//! docker/metadata-action labels `GITHUB_SHA`, which is the base branch's head on
//! `pull_request_target` and GitHub's test merge commit on `pull_request`. The advice therefore
//! names the change to the build first; weakening `revision-check` is never offered here.

use super::Sha;

/// What is known besides the label, each part only when the caller has it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known<'a> {
    /// The event the image was built for: the upstream event under `workflow_run`.
    pub event: &'a str,
    /// `pull_request.base.sha` (or a trusted `workflow_run.pull_requests` entry's).
    pub pr_base_head: Option<&'a Sha>,
    /// The label commit's parents, when it was looked up (`git/commits/{sha}`).
    pub label_parents: Option<&'a [Sha]>,
    /// The commit the build's checkout got by default (`GITHUB_SHA` of the build run), when known.
    pub build_sha: Option<&'a Sha>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    Match,
    /// GitHub's test merge commit of the expected head: accepted.
    MergeOfThisHead,
    /// The pull request's base head: what `pull_request_target` checks out and labels by default.
    BaseHead,
    /// A test merge commit of another head (an older push to the pull request).
    MergeOfOtherHead {
        other_head: Option<Sha>,
    },
    /// A commit the build checked out instead of the head.
    CheckedOut(Checkout),
    /// No revision label at all.
    Missing,
    /// A label that is not a 40-hex commit SHA (a short SHA cannot prove which commit).
    NotASha,
    /// Another commit, for none of the reasons above.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkout {
    /// The label's only parent is the expected head: the branch was checked out, not the SHA,
    /// after a newer commit had landed.
    NewerCommit,
    /// The label is the build run's `GITHUB_SHA` (the merge ref on `pull_request`, the
    /// dispatched branch's tip on `workflow_dispatch`), not the head.
    EventCommit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub cause: Cause,
    /// The revision check accepts this label.
    pub passes: bool,
    /// One line: the producer's fix first, then why. Holds only SHAs from `Sha` values, never
    /// the raw label, so it is safe to print.
    pub advice: String,
}

pub fn classify(expected: &Sha, label: Option<&str>, known: &Known) -> Diagnosis {
    let cause = cause(expected, label, known);
    let label_sha = label.map(str::trim).and_then(Sha::parse);
    let advice = advice(&cause, expected, label_sha.as_ref(), known);
    Diagnosis {
        passes: matches!(cause, Cause::Match | Cause::MergeOfThisHead),
        cause,
        advice,
    }
}

fn cause(expected: &Sha, label: Option<&str>, known: &Known) -> Cause {
    let label = match label.map(str::trim) {
        None | Some("") => return Cause::Missing,
        Some(l) => match Sha::parse(l) {
            Some(s) => s,
            None => return Cause::NotASha,
        },
    };
    if &label == expected {
        return Cause::Match;
    }
    if known.pr_base_head == Some(&label) {
        return Cause::BaseHead;
    }
    if let Some(parents) = known.label_parents {
        if parents.len() >= 2 {
            if parents.contains(expected) {
                return Cause::MergeOfThisHead;
            }
            // a test merge commit is (base, head): the head is the parent that is not the base
            let other_head = parents
                .iter()
                .rev()
                .find(|p| Some(*p) != known.pr_base_head)
                .cloned();
            return Cause::MergeOfOtherHead { other_head };
        }
        if parents.first() == Some(expected) {
            return Cause::CheckedOut(Checkout::NewerCommit);
        }
    }
    if known.build_sha == Some(&label) {
        return Cause::CheckedOut(Checkout::EventCommit);
    }
    Cause::Other
}

fn short(s: &Sha) -> &str {
    s.short(7)
}

fn advice(cause: &Cause, expected: &Sha, label: Option<&Sha>, known: &Known) -> String {
    let exp = short(expected);
    let lab = label.map(short).unwrap_or("");
    let pr_event = known.event.starts_with("pull_request");
    let head_expr = if pr_event {
        "${{ github.event.pull_request.head.sha }}"
    } else {
        "the commit you mean to test"
    };
    match cause {
        Cause::Match => format!("the label is the expected commit `{exp}`"),
        Cause::MergeOfThisHead => format!(
            "the label `{lab}` is GitHub's test merge commit of the expected head `{exp}`: accepted"
        ),
        Cause::BaseHead => format!(
            "in the build, check out and label the pull request's head (`ref: {head_expr}`, \
             and `org.opencontainers.image.revision={head_expr}`, or `DOCKER_METADATA_PR_HEAD_SHA: true` \
             with docker/metadata-action): the label `{lab}` is the base branch's head, which \
             `{}` builds check out and label by default, not the pull request's `{exp}`",
            if known.event.is_empty() { "pull_request_target" } else { known.event }
        ),
        Cause::MergeOfOtherHead { other_head } => format!(
            "tag each head separately in the build (e.g. `pr-{{pr}}-{{short_sha}}`, or docker/metadata-action \
             `type=sha` with `DOCKER_METADATA_PR_HEAD_SHA: true`) and wait for the build of `{exp}` \
             (`wait-timeout`): the label `{lab}` is a test merge commit of another head{}",
            other_head
                .as_ref()
                .map(|h| format!(" `{}`", short(h)))
                .unwrap_or_default()
        ),
        Cause::CheckedOut(Checkout::NewerCommit) => format!(
            "in the build, check out the exact commit (`ref: {head_expr}`), not the branch, and \
             label that commit: the label `{lab}` is a newer commit whose parent is the expected `{exp}`"
        ),
        Cause::CheckedOut(Checkout::EventCommit) => format!(
            "in the build, check out and label the head commit (`ref: {head_expr}`): the label \
             `{lab}` is the commit the build checked out by default (`GITHUB_SHA`{}), not `{exp}`",
            if known.event == "pull_request" {
                ", the test merge commit"
            } else {
                ""
            }
        ),
        Cause::Missing => format!(
            "add the label `org.opencontainers.image.revision={expected}` to the build (image-resolver's \
             compute mode `labels` output, or docker/metadata-action's `labels` output passed to the build): \
             the image has no revision label, so nothing proves which commit built it"
        ),
        Cause::NotASha => "label the full 40-hex commit in the build (`org.opencontainers.image.revision=${{ github.sha }}` \
             or the head SHA for pull requests): the label is not a full commit SHA, and a prefix \
             proves nothing"
            .to_string(),
        Cause::Other => format!(
            "rebuild the image from `{exp}` and tag it by commit (e.g. `{{branch}}-{{short_sha}}`), so a \
             tag never names another commit's image: the label `{lab}` is another commit"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> Sha {
        Sha::parse(&c.to_string().repeat(40)).unwrap()
    }

    #[test]
    fn classifies_producer_causes() {
        let (head, base, merge, other, newer) = (sha('a'), sha('b'), sha('c'), sha('d'), sha('e'));
        let merge_of_this = [base.clone(), head.clone()];
        let merge_of_other = [base.clone(), other.clone()];
        let child = [head.clone()];
        let none = Known::default();
        let pr = Known {
            event: "pull_request",
            pr_base_head: Some(&base),
            ..Known::default()
        };
        let target = Known {
            event: "pull_request_target",
            ..pr
        };
        type Case<'a> = (&'a str, Option<String>, Known<'a>, Cause, bool, &'a str);
        let cases: Vec<Case> = vec![
            (
                "same",
                Some(head.to_string()),
                none,
                Cause::Match,
                true,
                "the label is the expected",
            ),
            (
                "upper-case and blanks",
                Some(format!(" {} ", head.as_str().to_uppercase())),
                none,
                Cause::Match,
                true,
                "the label is the expected",
            ),
            (
                "base head on pull_request_target",
                Some(base.to_string()),
                target,
                Cause::BaseHead,
                false,
                "in the build, check out and label the pull request's head",
            ),
            (
                "merge of this head",
                Some(merge.to_string()),
                Known {
                    label_parents: Some(&merge_of_this),
                    ..pr
                },
                Cause::MergeOfThisHead,
                true,
                "the label `ccccccc` is GitHub's test merge commit",
            ),
            (
                "merge of another head",
                Some(merge.to_string()),
                Known {
                    label_parents: Some(&merge_of_other),
                    ..pr
                },
                Cause::MergeOfOtherHead {
                    other_head: Some(other.clone()),
                },
                false,
                "tag each head separately",
            ),
            (
                "newer commit on the branch",
                Some(newer.to_string()),
                Known {
                    label_parents: Some(&child),
                    ..pr
                },
                Cause::CheckedOut(Checkout::NewerCommit),
                false,
                "in the build, check out the exact commit",
            ),
            (
                "the build's GITHUB_SHA, parents unknown",
                Some(merge.to_string()),
                Known {
                    build_sha: Some(&merge),
                    ..pr
                },
                Cause::CheckedOut(Checkout::EventCommit),
                false,
                "in the build, check out and label the head commit",
            ),
            ("missing", None, pr, Cause::Missing, false, "add the label"),
            (
                "empty",
                Some(" ".into()),
                pr,
                Cause::Missing,
                false,
                "add the label",
            ),
            (
                "short SHA",
                Some(head.as_str()[..7].into()),
                pr,
                Cause::NotASha,
                false,
                "label the full 40-hex commit",
            ),
            (
                "another commit",
                Some(other.to_string()),
                none,
                Cause::Other,
                false,
                "rebuild the image",
            ),
        ];
        for (name, label, known, want, passes, starts) in cases {
            let d = classify(&head, label.as_deref(), &known);
            assert_eq!(d.cause, want, "{name}");
            assert_eq!(d.passes, passes, "{name}");
            assert!(d.advice.starts_with(starts), "{name}: {}", d.advice);
            assert!(!d.advice.contains('\n'), "{name}: one line");
            assert!(!d.advice.contains("revision-check"), "{name}: fix first");
        }
    }

    #[test]
    fn base_head_wins_over_parents() {
        // a base head has parents too; it must still read as the base head
        let (head, base, older) = (sha('a'), sha('b'), sha('f'));
        let parents = [older];
        let known = Known {
            event: "pull_request_target",
            pr_base_head: Some(&base),
            label_parents: Some(&parents),
            build_sha: Some(&base),
        };
        let d = classify(&head, Some(base.as_str()), &known);
        assert_eq!(d.cause, Cause::BaseHead);
        assert!(
            d.advice.contains("`bbbbbbb` is the base branch's head"),
            "{}",
            d.advice
        );
        assert!(d.advice.contains("`aaaaaaa`"), "{}", d.advice);
    }

    #[test]
    fn advice_never_echoes_a_hostile_label() {
        let head = sha('a');
        let d = classify(&head, Some("::error::pwned"), &Known::default());
        assert_eq!(d.cause, Cause::NotASha);
        assert!(!d.advice.contains("pwned") && !d.advice.contains("::error"));
    }
}

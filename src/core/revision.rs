//! Is the image built from the commit we expect? `org.opencontainers.image.revision` decides.

use super::mismatch::{classify, Known};
use super::tree::Content;
use super::Sha;

pub const REVISION_LABEL: &str = "org.opencontainers.image.revision";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionCheck {
    Fail,
    Warn,
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// The label is another full SHA: for a PR it may be GitHub's test merge commit (`GITHUB_SHA`
    /// on `pull_request`, which docker/metadata-action labels by default:
    /// https://docs.github.com/en/actions/reference/workflows-and-actions/events-that-trigger-workflows#pull_request),
    /// which the GitHub adapter can confirm by its parents.
    OtherCommit(Sha),
    /// Missing, short, or not a SHA at all.
    Mismatch,
}

/// How the revision check ended for an image that is used: what the summary shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Match,
    /// The label is GitHub's test merge commit, whose parents include the expected head.
    MergeCommit(Sha),
    /// Another commit with the same tree (an image promoted from the pull request it was tested on).
    SameTree(Sha),
    /// Another commit whose `paths` hold the same objects (`{tree}`): a content-addressed image.
    SamePaths(Sha),
    /// A mismatch let through by `revision-check: warn`: never shown as a success.
    Accepted {
        found: String,
    },
    /// No expected commit (a manual run naming its image without `sha`).
    NotChecked,
    /// `revision-check: off`.
    Off,
}

/// All 40 hex digits, case-insensitive. A missing label is a mismatch; so is a short SHA,
/// because a prefix cannot prove which commit built the image.
pub fn compare(label: Option<&str>, expected: &Sha) -> Verdict {
    match label.map(str::trim).and_then(Sha::parse) {
        Some(found) if &found == expected => Verdict::Match,
        Some(found) => Verdict::OtherCommit(found),
        None => Verdict::Mismatch,
    }
}

/// The look-up a label needs before it can be judged; only when the plain compare failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    Nothing,
    /// A PR build: is the label GitHub's test merge commit, a parent of which is the head?
    Parents(Sha),
    /// Is the label commit's tree the expected commit's (an image promoted from a PR)?
    Trees(Sha),
    /// With `paths`: do the label commit's paths hold the expected commit's objects?
    Paths(Sha),
}

/// What the look-up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookedUp {
    Nothing,
    Parents(Vec<Sha>),
    /// Whether the trees are the same; an unanswered look-up is `false` (fail closed).
    SameTree(bool),
    /// The paths whose objects differ, as shown to a person; none is the same `{tree}`. An
    /// unanswered look-up says so here (fail closed).
    Paths(Vec<String>),
}

/// What the revision check is judged against.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub expected: Option<&'a Sha>,
    pub policy: RevisionCheck,
    pub pr_build: bool,
    /// A `github-token` is set: look-ups may run.
    pub api: bool,
    /// The event the image was built on, and the PR's base head: they name the producer's mistake.
    pub build_event: &'a str,
    pub base_sha: Option<&'a Sha>,
    /// With `paths`: the image's content at the expected commit; a label commit with the same
    /// `{tree}` passes.
    pub content: Option<&'a Content>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    Passed(Outcome),
    /// Not the expected commit: `found` as shown to a person, the fix, and whether
    /// `revision-check: warn` lets it through.
    Mismatch {
        expected: Sha,
        found: String,
        advice: String,
        accepted: bool,
    },
}

pub fn ask(label: Option<&str>, e: &Expect) -> Ask {
    let Some(expected) = e.expected else {
        return Ask::Nothing;
    };
    match compare(label, expected) {
        _ if e.policy == RevisionCheck::Off || !e.api => Ask::Nothing,
        // content-addressed: the same files are the same image, whoever built it
        Verdict::OtherCommit(c) if e.content.is_some() => Ask::Paths(c),
        Verdict::OtherCommit(c) if e.pr_build => Ask::Parents(c),
        Verdict::OtherCommit(c) => Ask::Trees(c),
        _ => Ask::Nothing,
    }
}

/// The label against the expected commit, given what the look-up found.
pub fn judge(label: Option<&str>, e: &Expect, looked: &LookedUp) -> Judged {
    let Some(expected) = e.expected else {
        return Judged::Passed(Outcome::NotChecked);
    };
    if e.policy == RevisionCheck::Off {
        return Judged::Passed(Outcome::Off);
    }
    let passed = match (compare(label, expected), looked) {
        (Verdict::Match, _) => Some(Outcome::Match),
        (Verdict::OtherCommit(c), LookedUp::Parents(p)) if p.contains(expected) => {
            Some(Outcome::MergeCommit(c))
        }
        (Verdict::OtherCommit(c), LookedUp::SameTree(true)) => Some(Outcome::SameTree(c)),
        (Verdict::OtherCommit(c), LookedUp::Paths(d)) if d.is_empty() => {
            Some(Outcome::SamePaths(c))
        }
        _ => None,
    };
    if let Some(o) = passed {
        return Judged::Passed(o);
    }
    // the producer's mistake and its fix, before any advice to look away
    let known = Known {
        event: e.build_event,
        pr_base_head: e.base_sha,
        label_parents: match looked {
            LookedUp::Parents(p) => Some(p.as_slice()),
            _ => None,
        },
        build_sha: None,
    };
    let advice = match looked {
        LookedUp::Paths(d) if !d.is_empty() => format!(
            "its files differ from this commit's at {}: build and push this commit's image (and its `tree-image`)",
            d.join(", ")
        ),
        _ => classify(expected, label, &known).advice,
    };
    Judged::Mismatch {
        expected: expected.clone(),
        found: shown_label(label),
        advice,
        accepted: e.policy == RevisionCheck::Warn,
    }
}

/// A label as errors and logs show it: a SHA in backticks, anything else escaped and cut short,
/// since it is the image's text, not ours.
pub fn shown_label(label: Option<&str>) -> String {
    match label.map(str::trim) {
        None | Some("") => "no `org.opencontainers.image.revision` label".into(),
        Some(l) => match Sha::parse(l) {
            Some(sha) => format!("`{sha}`"),
            None => {
                let escaped: String = format!("{l:?}").chars().take(80).collect();
                format!("the label {escaped}")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_full_shas() {
        let expected = Sha::parse("0123456789abcdef0123456789abcdef01234567").unwrap();
        let other = "fedcba9876543210fedcba9876543210fedcba98";
        let cases: &[(Option<&str>, Verdict)] = &[
            (
                Some("0123456789abcdef0123456789abcdef01234567"),
                Verdict::Match,
            ),
            (
                Some("0123456789ABCDEF0123456789ABCDEF01234567"),
                Verdict::Match,
            ),
            (
                Some(" 0123456789abcdef0123456789abcdef01234567\n"),
                Verdict::Match,
            ),
            (
                Some(other),
                Verdict::OtherCommit(Sha::parse(other).unwrap()),
            ),
            (Some("0123456"), Verdict::Mismatch),
            (Some(""), Verdict::Mismatch),
            (
                Some("0123456789abcdef0123456789abcdef01234567x"),
                Verdict::Mismatch,
            ),
            (None, Verdict::Mismatch),
        ];
        for (label, want) in cases {
            assert_eq!(&compare(*label, &expected), want, "{label:?}");
        }
    }

    #[test]
    fn judgements() {
        let head = Sha::parse(&"1".repeat(40)).unwrap();
        let merge = Sha::parse(&"2".repeat(40)).unwrap();
        let base = Expect {
            expected: Some(&head),
            policy: RevisionCheck::Fail,
            pr_build: false,
            api: true,
            build_event: "push",
            base_sha: None,
            content: None,
        };
        let pr = Expect {
            pr_build: true,
            build_event: "pull_request",
            ..base
        };
        let (h, m) = (head.as_str(), merge.as_str());
        // (label, expect, what is asked, what it found, judged passed as)
        type Case<'a> = (Option<&'a str>, Expect<'a>, Ask, LookedUp, Option<Outcome>);
        let cases: Vec<Case> = vec![
            (
                Some(h),
                base,
                Ask::Nothing,
                LookedUp::Nothing,
                Some(Outcome::Match),
            ),
            (
                Some(m),
                pr,
                Ask::Parents(merge.clone()),
                LookedUp::Parents(vec![head.clone()]),
                Some(Outcome::MergeCommit(merge.clone())),
            ),
            (
                Some(m),
                pr,
                Ask::Parents(merge.clone()),
                LookedUp::Parents(vec![]),
                None,
            ),
            (
                Some(m),
                base,
                Ask::Trees(merge.clone()),
                LookedUp::SameTree(true),
                Some(Outcome::SameTree(merge.clone())),
            ),
            (
                Some(m),
                base,
                Ask::Trees(merge.clone()),
                LookedUp::SameTree(false),
                None,
            ),
            (
                Some(m),
                Expect { api: false, ..base },
                Ask::Nothing,
                LookedUp::Nothing,
                None,
            ),
            (Some("main"), base, Ask::Nothing, LookedUp::Nothing, None),
            (
                Some(m),
                Expect {
                    policy: RevisionCheck::Off,
                    ..base
                },
                Ask::Nothing,
                LookedUp::Nothing,
                Some(Outcome::Off),
            ),
            (
                None,
                Expect {
                    expected: None,
                    ..base
                },
                Ask::Nothing,
                LookedUp::Nothing,
                Some(Outcome::NotChecked),
            ),
        ];
        for (i, (label, e, asked, looked, passed)) in cases.into_iter().enumerate() {
            assert_eq!(ask(label, &e), asked, "case {i}");
            match (judge(label, &e, &looked), passed) {
                (Judged::Passed(o), Some(want)) => assert_eq!(o, want, "case {i}"),
                (Judged::Mismatch { accepted, .. }, None) => assert!(!accepted, "case {i}"),
                (got, want) => panic!("case {i}: {got:?}, wanted {want:?}"),
            }
        }
        let warn = Expect {
            policy: RevisionCheck::Warn,
            ..base
        };
        let Judged::Mismatch {
            found, accepted, ..
        } = judge(Some(" v1\n"), &warn, &LookedUp::Nothing)
        else {
            panic!("a mismatch")
        };
        assert!(accepted);
        assert_eq!(found, "the label \"v1\"");
        assert_eq!(
            shown_label(None),
            "no `org.opencontainers.image.revision` label"
        );
    }

    #[test]
    fn judgements_by_paths() {
        let head = Sha::parse(&"1".repeat(40)).unwrap();
        let other = Sha::parse(&"3".repeat(40)).unwrap();
        let content = Content {
            value: "0123456789abcdef".into(),
            tag: "tree-0123456789abcdef".into(),
            objects: vec![("services/api".into(), Some("a".repeat(40)))],
        };
        let paths = Expect {
            expected: Some(&head),
            policy: RevisionCheck::Fail,
            pr_build: false,
            api: true,
            build_event: "push",
            base_sha: None,
            content: Some(&content),
        };
        let pr = Expect {
            pr_build: true,
            ..paths
        };
        let differs = LookedUp::Paths(vec!["`services/api` (aaaa here, bbbb there)".into()]);
        let o = other.as_str();
        // (label, expect, what is asked, what it found, judged passed as)
        type Case<'a> = (Option<&'a str>, Expect<'a>, Ask, LookedUp, Option<Outcome>);
        let cases: Vec<Case> = vec![
            (
                Some(head.as_str()),
                paths,
                Ask::Nothing,
                LookedUp::Nothing,
                Some(Outcome::Match),
            ),
            (
                Some(o),
                paths,
                Ask::Paths(other.clone()),
                LookedUp::Paths(vec![]),
                Some(Outcome::SamePaths(other.clone())),
            ),
            // on a pull request too: the files decide, not the merge commit's parents
            (
                Some(o),
                pr,
                Ask::Paths(other.clone()),
                LookedUp::Paths(vec![]),
                Some(Outcome::SamePaths(other.clone())),
            ),
            (
                Some(o),
                paths,
                Ask::Paths(other.clone()),
                differs.clone(),
                None,
            ),
            (None, paths, Ask::Nothing, LookedUp::Nothing, None),
            (
                Some(o),
                Expect {
                    api: false,
                    ..paths
                },
                Ask::Nothing,
                LookedUp::Nothing,
                None,
            ),
        ];
        for (i, (label, e, asked, looked, passed)) in cases.into_iter().enumerate() {
            assert_eq!(ask(label, &e), asked, "case {i}");
            match (judge(label, &e, &looked), passed) {
                (Judged::Passed(got), Some(want)) => assert_eq!(got, want, "case {i}"),
                (Judged::Mismatch { accepted, .. }, None) => assert!(!accepted, "case {i}"),
                (got, want) => panic!("case {i}: {got:?}, wanted {want:?}"),
            }
        }
        let Judged::Mismatch { advice, .. } = judge(Some(o), &paths, &differs) else {
            panic!("a mismatch")
        };
        assert!(
            advice.starts_with(
                "its files differ from this commit's at `services/api` (aaaa here, bbbb there)"
            ),
            "{advice}"
        );
    }
}

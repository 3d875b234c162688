//! Is the image built from the commit we expect? `org.opencontainers.image.revision` decides.

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
}

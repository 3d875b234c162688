//! Promotion, the pure part: `promote-to` lines rendered into targets, the merged pull request
//! picked from a `commits/{sha}/pulls` answer, and why a promotion was skipped.

use super::reference::{is_valid_tag, ImageRef};
use super::tag::{render, Sanitize, TagError, Vars};
use std::fmt;

/// One rendered `promote-to` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoteTarget {
    pub repository: String,
    pub tag: String,
}

impl fmt::Display for PromoteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromoteToError {
    #[error("`promote-to` is empty: set one target a line, e.g. `ghcr.io/acme/app:latest`")]
    Empty,
    #[error(
        "`promote-to` line `{0}` names a digest: targets are tags; the digest is the source's"
    )]
    Digest(String),
    #[error("`promote-to` line `{0}` has no tag and the source has none: write `repository:tag`")]
    NoTag(String),
    #[error(
        "`promote-to` line `{line}`: the repository part may only use `{{name}}`, not `{{{var}}}`"
    )]
    RepositoryVar { line: String, var: String },
    #[error("`promote-to` line `{line}`: the repository {reason}")]
    Repository { line: String, reason: String },
    #[error("`promote-to` line `{0}` names only a registry host, no repository: write `host[:port]/repository:tag` (as a reference, `{0}` would be a Docker Hub repository)")]
    HostOnly(String),
    /// The tag error is part of this message, not a cause printed after it.
    #[error("`promote-to` line `{line}`: {cause}")]
    Tag { line: String, cause: TagError },
}

/// What the lines may use besides the tag template variables.
#[derive(Debug, Clone, Copy)]
pub struct TargetVars<'a> {
    pub vars: &'a Vars,
    pub raw_branch: Option<&'a str>,
    pub sanitize: Sanitize,
    /// The source's tag: `{tag}`, and the tag of a bare repository line.
    pub source_tag: Option<&'a str>,
    /// `{name}`: the image's name (with `images`), else the repository's last path segment.
    pub name: &'a str,
}

/// `promote-to` as lines: trimmed, blank ones dropped. The inputs split it here, once.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// Renders `promote-to`'s lines (as the inputs read them: trimmed, none blank), duplicates dropped.
pub fn parse_targets(
    lines: &[String],
    v: &TargetVars<'_>,
) -> Result<Vec<PromoteTarget>, PromoteToError> {
    let mut out: Vec<PromoteTarget> = Vec::new();
    for line in lines {
        let t = target(line, v)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err(PromoteToError::Empty);
    }
    Ok(out)
}

/// A line that is only a registry host — `localhost`, a name with a `.`, or `host:port` — with
/// no repository path: Docker would read `localhost:5000` as Docker Hub's `localhost` with tag
/// `5000`, never what the author meant.
pub fn host_only(line: &str) -> bool {
    let line = line.trim();
    if line.contains('/') || line.contains('@') || line.is_empty() {
        return false;
    }
    let (name, rest) = line
        .split_once(':')
        .map_or((line, None), |(n, r)| (n, Some(r)));
    let port = rest.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    name == "localhost" || name.contains('.') || port
}

/// A line's shape, checked when the inputs are read, before any network call: no digest, a
/// repository that parses, a tag template that renders once every variable is known.
pub fn check_line(line: &str) -> Result<(), PromoteToError> {
    let every = Vars {
        pr: Some(1),
        branch: Some("main".into()),
        sha: Some("0".repeat(40)),
        short_sha: Some("0000000".into()),
        run_id: Some(1),
        run_number: Some(1),
        run_attempt: Some(1),
        name: None,
        tree: Some("0".repeat(16)),
    };
    let v = TargetVars {
        vars: &every,
        raw_branch: Some("main"),
        sanitize: Sanitize::Strict,
        source_tag: Some("latest"),
        name: "image",
    };
    target(line, &v).map(|_| ())
}

fn target(line: &str, v: &TargetVars<'_>) -> Result<PromoteTarget, PromoteToError> {
    if line.contains('@') {
        return Err(PromoteToError::Digest(line.into()));
    }
    if host_only(line) {
        return Err(PromoteToError::HostOnly(line.into()));
    }
    // the tag follows the last ':' after the last '/' (a registry port sits before a '/')
    let last_slash = line.rfind('/').map_or(0, |i| i + 1);
    let (repo_t, tag_t) = match line[last_slash..].rfind(':') {
        Some(i) => (&line[..last_slash + i], Some(&line[last_slash + i + 1..])),
        None => (line, None),
    };
    let repository = render_repository(line, repo_t, v.name)?;
    let tag = match tag_t {
        None => v
            .source_tag
            .filter(|t| is_valid_tag(t))
            .ok_or_else(|| PromoteToError::NoTag(line.into()))?
            .to_string(),
        Some(t) => render_tag(line, t, v)?,
    };
    Ok(PromoteTarget { repository, tag })
}

fn render_repository(line: &str, template: &str, name: &str) -> Result<String, PromoteToError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close =
            rest[open..]
                .find('}')
                .map(|c| c + open)
                .ok_or_else(|| PromoteToError::Repository {
                    line: line.into(),
                    reason: "has an unclosed `{`".into(),
                })?;
        match &rest[open + 1..close] {
            "name" => out.push_str(name),
            var => {
                return Err(PromoteToError::RepositoryVar {
                    line: line.into(),
                    var: var.into(),
                })
            }
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    let r = ImageRef::parse(&out).map_err(|e| PromoteToError::Repository {
        line: line.into(),
        reason: e.to_string(),
    })?;
    Ok(r.repository)
}

fn render_tag(line: &str, template: &str, v: &TargetVars<'_>) -> Result<String, PromoteToError> {
    let err = |cause| PromoteToError::Tag {
        line: line.into(),
        cause,
    };
    // `{tag}` and `{name}` are known text: put them in before the tag rules run (braces cannot
    // occur in either, so nothing they hold is read as a variable)
    let mut t = template.to_string();
    if t.contains("{tag}") {
        let tag = v.source_tag.ok_or_else(|| {
            err(TagError::Unavailable {
                template: template.into(),
                var: "tag".into(),
            })
        })?;
        t = t.replace("{tag}", tag);
    }
    if !v.name.contains(['{', '}']) {
        t = t.replace("{name}", v.name);
    }
    render(&t, v.vars, v.raw_branch, v.sanitize).map_err(err)
}

/// The pull request a push merged, from `GET /repos/{o}/{r}/commits/{sha}/pulls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedPr {
    pub number: u64,
    pub head_sha: String,
    /// The pull request's branch, for a `pr-tag` that uses `{branch}`.
    pub head_ref: Option<String>,
}

/// A pull request as `commits/{sha}/pulls` lists it: only the fields we read.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PullSummary {
    pub number: Option<u64>,
    pub merged_at: Option<String>,
    pub merge_commit_sha: Option<String>,
    pub head: Option<PullRef>,
    pub base: Option<PullRef>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PullRef {
    pub sha: Option<String>,
    #[serde(rename = "ref")]
    pub branch: Option<String>,
    pub repo: Option<PullRepo>,
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PullRepo {
    pub full_name: Option<String>,
}

/// Only a pull request of this repository (`base.repo.full_name` is `repository`) with
/// `merged_at` set and `merge_commit_sha` equal to the pushed commit: the list also holds open
/// pull requests that merely contain the commit, ones merged by another commit, and pull
/// requests of other repositories (a fork's own) that contain it.
pub fn pick_merged_pr(
    answer: impl IntoIterator<Item = PullSummary>,
    sha: &str,
    repository: &str,
) -> Option<MergedPr> {
    answer.into_iter().find_map(|p| {
        let merged = p.merged_at.is_some();
        let by_this = p
            .merge_commit_sha
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(sha));
        let ours = p
            .base
            .as_ref()
            .and_then(|b| b.repo.as_ref())
            .and_then(|r| r.full_name.as_deref())
            .is_some_and(|n| !repository.is_empty() && n.eq_ignore_ascii_case(repository));
        let head = p.head?;
        let head_sha = head.sha?;
        let number = p.number?;
        (merged && by_this && ours && super::Sha::parse(&head_sha).is_some()).then(|| MergedPr {
            number,
            head_sha: head_sha.to_ascii_lowercase(),
            head_ref: head.branch,
        })
    })
}

/// Why `promote-source: merged-pr` wrote nothing; the step still succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    NoMergedPr,
    NoImage,
    TreeDiffers,
}

impl Skip {
    /// The `promote-skipped` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NoMergedPr => "no-merged-pr",
            Skip::NoImage => "no-image",
            Skip::TreeDiffers => "tree-differs",
        }
    }

    /// The notice and summary line: what happened, and to build instead.
    pub fn notice(self, sha: &str, pr: Option<u64>) -> String {
        let pr = pr.map_or(String::new(), |n| format!("pull request #{n}"));
        let why = match self {
            Skip::NoMergedPr => {
                format!("{sha} did not merge a pull request (no pull request has it as its merge commit)")
            }
            Skip::NoImage => format!("the image of {pr} is not in the registry"),
            Skip::TreeDiffers => format!(
                "the tree of {sha} differs from the tree {pr}'s image was built from (the base moved before the merge)"
            ),
        };
        format!("nothing promoted: {why}; build and push this commit instead (`promote-skipped` is `{}`)", self.as_str())
    }
}

/// Same tree, same source: the tested image is this commit's image.
pub fn same_tree(label_tree: &str, pushed_tree: &str) -> Result<(), Skip> {
    if label_tree.eq_ignore_ascii_case(pushed_tree) {
        Ok(())
    } else {
        Err(Skip::TreeDiffers)
    }
}

/// One referrer of a digest: a manifest that names it as its `subject` (found through the
/// OCI referrers API or the `sha256-<hex>` fallback index), or a cosign-style tag
/// (`sha256-<hex>.sig`, `.att`, `.sbom`) that names it by its tag alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// `sha256:` and 64 lower-case hex, checked before it was kept.
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub size: u64,
    /// The descriptor's annotations, as the index gave them (carried into a fallback index).
    pub annotations: std::collections::BTreeMap<String, String>,
    pub via: Via,
}

/// Where a referrer was found, which is also how a target receives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Via {
    /// `GET /v2/<name>/referrers/<digest>`.
    Api,
    /// The OCI 1.1 fallback index tagged `sha256-<hex>`.
    FallbackIndex,
    /// A cosign-style tag (its name): the manifest is carried under the same tag.
    Tag(String),
}

impl Referrer {
    /// Sigstore bundles as actions/attest (`push-to-registry: true`) and cosign 3 store them:
    /// `application/vnd.dev.sigstore.bundle.v0.3+json`, or the older `…bundle+json;version=0.x`.
    pub fn is_sigstore_bundle(&self) -> bool {
        self.artifact_type
            .as_deref()
            .is_some_and(|t| t.starts_with(SIGSTORE_BUNDLE_PREFIX))
    }
}

pub const SIGSTORE_BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";

/// `sha256:<hex>` → `sha256-<hex>`: the fallback index's tag (and the stem of cosign's tags).
pub fn referrers_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// The blobs a target needed: there already, linked by a cross-repository mount, or copied
/// (on a dry run: that a mount or a copy would bring).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Blobs {
    pub present: usize,
    pub mounted: usize,
    pub copied: usize,
}

/// The source's referrers at one target: written by this step (on a dry run: that would be),
/// there already, and cosign tags the target holds with other content (left as they are).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    pub written: usize,
    pub present: usize,
    pub kept: usize,
}

impl Carried {
    pub fn total(&self) -> usize {
        self.written + self.present
    }
}

/// `1 blob`, `2 blobs`.
fn count(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// What one target received, or on a dry run would receive, for the summary and the log:
/// "`r:t` written: 2 blobs mounted, 1 blob already there; 2 referrers carried, 1 already there".
pub fn target_line(
    target: &str,
    state: &str,
    blobs: &Blobs,
    referrers: &Carried,
    dry: bool,
) -> String {
    let mut s = format!("`{target}` {state}");
    let (mount, copy) = if dry {
        ("to mount", "to copy")
    } else {
        ("mounted", "copied")
    };
    let parts: Vec<String> = [
        (blobs.mounted, mount),
        (blobs.copied, copy),
        (blobs.present, "already there"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, how)| format!("{} {how}", count(n, "blob")))
    .collect();
    if !parts.is_empty() {
        s.push_str(&format!(": {}", parts.join(", ")));
    }
    if referrers.total() + referrers.kept > 0 {
        let verb = if dry { "to carry" } else { "carried" };
        s.push_str(if parts.is_empty() { ": " } else { "; " });
        s.push_str(&format!("{} {verb}", count(referrers.total(), "referrer")));
        if referrers.present > 0 {
            s.push_str(&format!(", {} already there", referrers.present));
        }
        if referrers.kept > 0 {
            s.push_str(&format!(
                ", {} the target holds with other content left as {}",
                count(referrers.kept, "cosign tag"),
                if referrers.kept == 1 {
                    "it is"
                } else {
                    "they are"
                }
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_line_says_what_it_received() {
        let blobs = Blobs {
            present: 1,
            mounted: 2,
            copied: 0,
        };
        let carried = Carried {
            written: 1,
            present: 1,
            kept: 0,
        };
        assert_eq!(
            target_line("r/a:1", "written", &blobs, &carried, false),
            "`r/a:1` written: 2 blobs mounted, 1 blob already there; 2 referrers carried, 1 already there"
        );
        let one = Carried {
            written: 1,
            ..Default::default()
        };
        assert_eq!(
            target_line("r/a:1", "would be written", &Blobs::default(), &one, true),
            "`r/a:1` would be written: 1 referrer to carry"
        );
        let kept = Carried {
            kept: 1,
            ..Default::default()
        };
        assert_eq!(
            target_line("r/a:1", "already there", &Blobs::default(), &kept, false),
            "`r/a:1` already there: 0 referrers carried, 1 cosign tag the target holds with other content left as it is"
        );
        assert_eq!(
            referrers_tag(&format!("sha256:{}", "a".repeat(64))),
            format!("sha256-{}", "a".repeat(64))
        );
    }
    use serde_json::json;

    fn vars() -> Vars {
        Vars {
            pr: Some(42),
            branch: None,
            sha: Some("ab".repeat(20)),
            short_sha: Some("abababa".into()),
            run_id: Some(7),
            run_number: Some(3),
            run_attempt: Some(1),
            name: None,
            tree: None,
        }
    }

    fn parse(text: &str, source_tag: Option<&str>) -> Result<Vec<String>, PromoteToError> {
        let v = vars();
        let tv = TargetVars {
            vars: &v,
            raw_branch: Some("Feature/Login"),
            sanitize: Sanitize::Strict,
            source_tag,
            name: "api",
        };
        parse_targets(&lines(text), &tv).map(|t| t.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn targets_render_one_a_line() {
        let ok = [
            ("ghcr.io/acme/app:latest", vec!["ghcr.io/acme/app:latest"]),
            ("ghcr.io/acme/app", vec!["ghcr.io/acme/app:pr-42-abababa"]),
            (
                "\n  ghcr.io/acme/app:latest \n\nghcr.io/acme/app:sha-{short_sha}\n",
                vec!["ghcr.io/acme/app:latest", "ghcr.io/acme/app:sha-abababa"],
            ),
            (
                "localhost:5000/x:{tag}-ok",
                vec!["localhost:5000/x:pr-42-abababa-ok"],
            ),
            ("localhost:5000/x", vec!["localhost:5000/x:pr-42-abababa"]),
            (
                "ghcr.io/acme/{name}:{branch}",
                vec!["ghcr.io/acme/api:feature-login"],
            ),
            (
                "reg.example/{name}:{name}-{run_number}",
                vec!["reg.example/api:api-3"],
            ),
            ("a/b:latest\na/b:latest", vec!["a/b:latest"]),
        ];
        for (text, want) in ok {
            assert_eq!(
                parse(text, Some("pr-42-abababa")).unwrap(),
                want,
                "{text:?}"
            );
        }
        let full = format!("ghcr.io/acme/app:{}", "ab".repeat(20));
        assert_eq!(parse("ghcr.io/acme/app:{sha}", None).unwrap(), vec![full]);
    }

    #[test]
    fn a_line_that_is_only_a_registry_host_is_refused() {
        for line in [
            "localhost",
            "localhost:5000",
            "registry.example.com",
            "registry.example.com:443",
            "127.0.0.1:5000",
            "myhost:5000",
            "ghcr.io",
        ] {
            assert!(host_only(line), "{line}");
            let e = parse(line, Some("t")).unwrap_err();
            assert_eq!(e, PromoteToError::HostOnly(line.into()));
            assert!(e.to_string().contains("host[:port]/repository:tag"), "{e}");
        }
        for line in [
            "localhost:5000/app",
            "app:latest",
            "app",
            "acme/app:5000",
            "app:v1",
        ] {
            assert!(!host_only(line), "{line}");
        }
    }

    #[test]
    fn a_line_is_checked_before_anything_is_asked() {
        let cases = [
            ("a/b@sha256:00", Some("names a digest")),
            ("a/{branch}:x", Some("only use `{name}`")),
            ("a/b:{nope}", Some("unknown variable `{nope}`")),
            ("A/B:x", Some("upper-case")),
            ("a/b", None),
            ("a/{name}:{pr}-{short_sha}", None),
        ];
        for (line, want) in cases {
            match (check_line(line), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().contains(w), "{line}: {e}"),
                (got, _) => panic!("{line}: {got:?}"),
            }
        }
    }

    #[test]
    fn bad_targets_say_which_line_and_why() {
        let bad: [(&str, Option<&str>, &str); 8] = [
            ("", Some("t"), "is empty"),
            (" \n \n", Some("t"), "is empty"),
            ("a/b@sha256:00", Some("t"), "names a digest"),
            ("a/b", None, "has no tag"),
            ("a/{branch}:x", Some("t"), "only use `{name}`"),
            ("A/B:x", Some("t"), "upper-case"),
            ("a/b:{tag}", None, "`{tag}`"),
            ("a/b:{nope}", Some("t"), "unknown variable `{nope}`"),
        ];
        for (text, source_tag, want) in bad {
            let e = parse(text, source_tag).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let long = format!("a/b:{}", "x".repeat(130));
        assert!(parse(&long, Some("t"))
            .unwrap_err()
            .to_string()
            .contains("a/b:xxx"));
    }

    /// The answer as the adapter reads it: entries of an array, nothing from another shape.
    fn pick(answer: &serde_json::Value, sha: &str) -> Option<MergedPr> {
        let list: Vec<PullSummary> = serde_json::from_value(answer.clone()).unwrap_or_default();
        pick_merged_pr(list, sha, "acme/charon")
    }

    #[test]
    fn the_merged_pull_request_is_the_one_this_commit_merged() {
        let sha = "cd".repeat(20);
        let head = "ef".repeat(20);
        let pr = |n: u64, merged: bool, merge: &str| {
            json!({"number": n, "state": if merged {"closed"} else {"open"},
                   "merged_at": if merged { json!("2026-01-01T00:00:00Z") } else { json!(null) },
                   "merge_commit_sha": merge, "head": {"sha": head, "ref": "feat"},
                   "base": {"ref": "main", "repo": {"full_name": "Acme/Charon"}}})
        };
        let found = Some(MergedPr {
            number: 5,
            head_sha: head.clone(),
            head_ref: Some("feat".into()),
        });
        let mut foreign = pr(5, true, &sha);
        foreign["base"]["repo"]["full_name"] = json!("mallory/charon");
        let mut no_base = pr(5, true, &sha);
        no_base.as_object_mut().unwrap().remove("base");
        let cases = [
            (json!([pr(5, true, &sha)]), found.clone()),
            (json!([pr(5, true, &sha.to_uppercase())]), found.clone()),
            // an open PR containing the commit (its test merge commit may even be this one)
            (json!([pr(4, false, &sha)]), None),
            // merged, but by another commit
            (json!([pr(3, true, &"00".repeat(20))]), None),
            (
                json!([pr(4, false, &sha), pr(5, true, &sha)]),
                found.clone(),
            ),
            // merged by this commit, but a pull request of another repository, or of none named
            (json!([foreign.clone()]), None),
            (json!([no_base]), None),
            (json!([foreign, pr(5, true, &sha)]), found),
            (json!([]), None),
            (json!({"message": "Not Found"}), None),
            (
                json!([{"number": 6, "merged_at": "x", "merge_commit_sha": sha, "head": {"sha": "short"},
                        "base": {"repo": {"full_name": "acme/charon"}}}]),
                None,
            ),
        ];
        for (answer, want) in cases {
            assert_eq!(pick(&answer, &sha), want, "{answer}");
        }
    }

    #[test]
    fn skips_name_their_reason_and_say_to_build() {
        for (skip, out) in [
            (Skip::NoMergedPr, "no-merged-pr"),
            (Skip::NoImage, "no-image"),
            (Skip::TreeDiffers, "tree-differs"),
        ] {
            assert_eq!(skip.as_str(), out);
            let n = skip.notice("abc", Some(9));
            assert!(n.contains("build") && n.contains(out), "{n}");
        }
        assert!(Skip::NoImage.notice("abc", Some(9)).contains("#9"));
        assert_eq!(same_tree("AA", "aa"), Ok(()));
        assert_eq!(same_tree("aa", "bb"), Err(Skip::TreeDiffers));
    }
}

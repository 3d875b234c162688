//! Clean mode's decisions, pure: which tags our templates recognise, which of them are due,
//! and what removing them may delete without breaking an image still in use.

use super::tag::Sanitize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The templates a tag is recognised by, as the inputs give them.
#[derive(Debug, Clone)]
pub struct Templates {
    pub pr_tag: String,
    pub branch_tag: String,
    pub tree_tag: String,
    pub sha_length: usize,
    pub sanitize: Sanitize,
}

/// What a tag is, read through our templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recognised {
    /// `pr-tag`: its pull request and the head SHA's text, when the template holds it.
    Pr {
        number: u64,
        sha: Option<String>,
    },
    /// `branch-tag`: every reading of `{branch}` (a tag may split more than one way).
    Branch {
        names: Vec<String>,
    },
    /// `tree-tag`: later builds reuse it.
    Tree,
    /// `sha256-<hex>` (`.sig`, `.att`, `.sbom`): follows its subject.
    Referrer {
        subject: String,
    },
    Unrecognised,
}

/// What one template variable captured.
#[derive(Debug, Default, Clone)]
struct Captures {
    pr: Option<u64>,
    sha: Option<String>,
    branch: Option<String>,
}

/// How many readings of one tag are kept: a bound, so a hostile tag costs little.
const MAX_READINGS: usize = 64;

/// Reads a tag: referrer scheme, then `pr-tag` (first, as the contract says), `tree-tag`, and
/// `branch-tag` last (its `{branch}` matches almost anything).
pub fn recognise(tag: &str, t: &Templates) -> Recognised {
    if let Some(subject) = referrer_subject(tag) {
        return Recognised::Referrer { subject };
    }
    if let Some(c) = readings(&t.pr_tag, tag, t.sha_length)
        .into_iter()
        .find(|c| c.pr.is_some())
    {
        if let Some(number) = c.pr {
            return Recognised::Pr { number, sha: c.sha };
        }
    }
    if !readings(&t.tree_tag, tag, t.sha_length).is_empty() {
        return Recognised::Tree;
    }
    let names: BTreeSet<String> = readings(&t.branch_tag, tag, t.sha_length)
        .into_iter()
        .filter_map(|c| c.branch)
        .collect();
    if names.is_empty() {
        Recognised::Unrecognised
    } else {
        Recognised::Branch {
            names: names.into_iter().collect(),
        }
    }
}

/// `sha256-<64 hex>` with an optional `.sig`/`.att`/`.sbom`: the subject digest.
pub fn referrer_subject(tag: &str) -> Option<String> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, suffix) = rest.split_at(rest.len().min(64));
    let ok_hex = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (ok_hex && matches!(suffix, "" | ".sig" | ".att" | ".sbom")).then(|| format!("sha256:{hex}"))
}

enum Piece<'a> {
    Lit(&'a str),
    Var(&'a str),
}

fn pieces(template: &str) -> Option<Vec<Piece<'_>>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Lit(&rest[..open]));
        }
        let close = rest[open..].find('}')? + open;
        out.push(Piece::Var(&rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Lit(rest));
    }
    Some(out)
}

/// Every way `tag` renders from `template` (bounded); none when it does not.
fn readings(template: &str, tag: &str, sha_length: usize) -> Vec<Captures> {
    let Some(parts) = pieces(template) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&parts, tag, sha_length, Captures::default(), &mut out);
    out
}

fn walk(parts: &[Piece<'_>], rest: &str, sha_length: usize, c: Captures, out: &mut Vec<Captures>) {
    if out.len() >= MAX_READINGS {
        return;
    }
    let Some((first, more)) = parts.split_first() else {
        if rest.is_empty() {
            out.push(c);
        }
        return;
    };
    match first {
        Piece::Lit(l) => {
            if let Some(r) = rest.strip_prefix(l) {
                walk(more, r, sha_length, c, out);
            }
        }
        Piece::Var(v) => {
            // tags are ASCII (checked by the registry listing), so byte splits are safe
            for end in 1..=rest.len() {
                if !rest.is_char_boundary(end) {
                    continue;
                }
                let (value, r) = rest.split_at(end);
                if let Some(next) = capture(v, value, sha_length, &c) {
                    walk(more, r, sha_length, next, out);
                }
            }
        }
    }
}

fn hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn number(s: &str) -> Option<u64> {
    let ok = s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

/// One variable's value, if `value` is one it may render as.
fn capture(var: &str, value: &str, sha_length: usize, c: &Captures) -> Option<Captures> {
    let mut c = c.clone();
    match var {
        "pr" => {
            let n = number(value)?;
            if c.pr.is_some_and(|p| p != n) {
                return None;
            }
            c.pr = Some(n);
        }
        "short_sha" if value.len() == sha_length && hex(value) => {
            c.sha.get_or_insert_with(|| value.to_string());
        }
        "sha" if value.len() == 40 && hex(value) => c.sha = Some(value.to_string()),
        // `{tree}` is 16 hex (core::tree); longer forms are read too, never as a branch
        "tree" if matches!(value.len(), 16 | 40 | 64) && hex(value) => {}
        "run_id" | "run_number" | "run_attempt" => {
            number(value)?;
        }
        "branch" => {
            let ok = value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !ok || c.branch.as_deref().is_some_and(|b| b != value) {
                return None;
            }
            c.branch = Some(value.to_string());
        }
        // `{name}` and unknown variables: we cannot say what they rendered, so no reading
        _ => return None,
    }
    Some(c)
}

/// `clean-after`: `0`, or a number with `m`, `h` or `d`; in seconds.
pub fn parse_clean_after(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(0);
    }
    let bad = || {
        format!("`{s}` is not a duration: use `0`, or a number with `m`, `h` or `d` (`30m`, `24h`, `7d`)")
    };
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let scale = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    n.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(bad)
}

/// `keep`: tag patterns with `*` wildcards, space- or line-separated.
pub fn parse_keep(s: &str) -> Result<Vec<String>, String> {
    s.split_whitespace()
        .map(|p| {
            let ok = p.len() <= 128
                && p.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'*')
                });
            if ok {
                Ok(p.to_string())
            } else {
                Err(format!("`{p}` is not a tag pattern: use tag characters (`A-Za-z0-9._-`) and `*`, e.g. `v*` or `release-*`"))
            }
        })
        .collect()
}

/// Whether `tag` matches a `*` pattern (the tag alone, whole).
pub fn glob(pattern: &str, tag: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), tag.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == t[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&b| b == b'*')
}

/// A pull request's state as GitHub gives it; `closed_at` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrState {
    Open,
    Closed {
        closed_at: i64,
    },
    /// The number names no pull request (an issue's, or a tag someone else pushed).
    Missing,
}

/// What this run cleans: the event's pull request, its deleted branch, or everything listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Target {
    Pr(u64),
    /// The branch as pushed (raw name); compared sanitised.
    Branch(String),
    #[default]
    Sweep,
}

/// Why a tag goes or stays; shown in the summary and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    PrClosed { pr: u64, ago: u64 },
    BranchGone { branch: String, age: Option<u64> },
    SubjectDeleted,
    Keep(String),
    PrOpen(u64),
    NoSuchPr(u64),
    PrClosedRecently { pr: u64, ago: u64 },
    BranchExists(String),
    BranchGoneRecently { branch: String, age: u64 },
    AgeUnknown(String),
    Tree,
    Unrecognised,
    NotThisEvent,
    SubjectStays,
}

impl Reason {
    pub fn removes(&self) -> bool {
        matches!(
            self,
            Reason::PrClosed { .. } | Reason::BranchGone { .. } | Reason::SubjectDeleted
        )
    }
}

/// `3 days`, `5 hours`, `12 minutes`.
pub fn ago(secs: u64) -> String {
    let (n, unit) = match secs {
        s if s >= 86_400 => (s / 86_400, "day"),
        s if s >= 3600 => (s / 3600, "hour"),
        s => (s / 60, "minute"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::PrClosed { pr, ago: a } => write!(f, "PR #{pr} closed {} ago", ago(*a)),
            Reason::BranchGone { branch, age } => match age {
                Some(a) => write!(
                    f,
                    "branch `{branch}` no longer exists; image {} old",
                    ago(*a)
                ),
                None => write!(f, "branch `{branch}` no longer exists"),
            },
            Reason::SubjectDeleted => write!(f, "its subject is deleted"),
            Reason::Keep(p) => write!(f, "matches `keep` pattern `{p}`"),
            Reason::PrOpen(pr) => write!(f, "PR #{pr} is open"),
            Reason::NoSuchPr(pr) => write!(f, "#{pr} is not a pull request of this repository"),
            Reason::PrClosedRecently { pr, ago: a } => {
                write!(f, "PR #{pr} closed only {} ago", ago(*a))
            }
            Reason::BranchExists(b) => write!(f, "branch `{b}` exists"),
            Reason::BranchGoneRecently { branch, age } => write!(
                f,
                "branch `{branch}` no longer exists, but the image is only {} old",
                ago(*age)
            ),
            Reason::AgeUnknown(b) => write!(
                f,
                "branch `{b}` no longer exists, but the image has no creation time"
            ),
            Reason::Tree => write!(f, "a `tree-tag` tag: later builds reuse it"),
            Reason::Unrecognised => write!(f, "not a tag of our templates"),
            Reason::NotThisEvent => write!(f, "not this event's pull request or branch"),
            Reason::SubjectStays => write!(f, "its subject stays"),
        }
    }
}

/// What the registry and GitHub said, for one repository.
pub struct Facts<'a> {
    pub now: i64,
    pub clean_after: u64,
    pub keep: &'a [String],
    pub target: &'a Target,
    /// Every pull request a recognised tag names, with its state; a missing one is unknown.
    pub prs: &'a HashMap<u64, PrState>,
    /// The repository's branches, sanitised.
    pub branches: &'a HashSet<String>,
    /// Image creation times (Unix seconds) by tag, where read.
    pub created: &'a HashMap<String, i64>,
}

/// A decision needs a fact nobody could read: nothing is removed from the repository.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unknown {
    #[error("the state of pull request #{0} is unknown")]
    Pr(u64),
}

/// One tag's fate, before digests are looked at (referrer tags wait for their subject).
pub fn decide(tag: &str, t: &Templates, f: &Facts<'_>) -> Result<Reason, Unknown> {
    if let Some(p) = f.keep.iter().find(|p| glob(p, tag)) {
        return Ok(Reason::Keep(p.clone()));
    }
    let age = |since: i64| f.now.saturating_sub(since).max(0) as u64;
    match recognise(tag, t) {
        Recognised::Referrer { .. } => Ok(Reason::SubjectStays),
        Recognised::Tree => Ok(Reason::Tree),
        Recognised::Unrecognised => Ok(Reason::Unrecognised),
        Recognised::Pr { number, .. } => {
            if matches!(f.target, Target::Branch(_)) || f.target.pr().is_some_and(|p| p != number) {
                return Ok(Reason::NotThisEvent);
            }
            match f.prs.get(&number) {
                None => Err(Unknown::Pr(number)),
                Some(PrState::Open) => Ok(Reason::PrOpen(number)),
                Some(PrState::Missing) => Ok(Reason::NoSuchPr(number)),
                Some(PrState::Closed { closed_at }) if age(*closed_at) >= f.clean_after => {
                    Ok(Reason::PrClosed {
                        pr: number,
                        ago: age(*closed_at),
                    })
                }
                Some(PrState::Closed { closed_at }) => Ok(Reason::PrClosedRecently {
                    pr: number,
                    ago: age(*closed_at),
                }),
            }
        }
        Recognised::Branch { names } => {
            if let Some(b) = names.iter().find(|n| f.branches.contains(*n)) {
                return Ok(Reason::BranchExists(b.clone()));
            }
            let branch = match f.target {
                Target::Pr(_) => return Ok(Reason::NotThisEvent),
                Target::Branch(raw) => {
                    let mine = super::tag::sanitize_branch(raw, t.sanitize);
                    match names.into_iter().find(|n| *n == mine) {
                        Some(b) => b,
                        None => return Ok(Reason::NotThisEvent),
                    }
                }
                Target::Sweep => names.join("` or `"),
            };
            if f.clean_after == 0 {
                return Ok(Reason::BranchGone { branch, age: None });
            }
            Ok(match f.created.get(tag) {
                None => Reason::AgeUnknown(branch),
                Some(c) if age(*c) >= f.clean_after => Reason::BranchGone {
                    branch,
                    age: Some(age(*c)),
                },
                Some(c) => Reason::BranchGoneRecently {
                    branch,
                    age: age(*c),
                },
            })
        }
    }
}

impl Target {
    /// Clean mode's event: a `pull_request` `closed` cleans that pull request, a `push` that
    /// deleted a branch cleans that branch, anything else sweeps.
    pub fn of_event(
        event: &str,
        action: Option<&str>,
        pr: Option<u64>,
        deleted: bool,
        ref_name: Option<&str>,
    ) -> Result<Target, String> {
        match event {
            "pull_request" | "pull_request_target" if action == Some("closed") => {
                pr.filter(|n| *n > 0).map(Target::Pr).ok_or_else(|| {
                    format!("the `{event}` `closed` event has no `pull_request.number`")
                })
            }
            "push" if deleted => ref_name
                .map(|r| {
                    r.strip_prefix("refs/heads/")
                        .or_else(|| r.strip_prefix("refs/tags/"))
                        .unwrap_or(r)
                })
                .filter(|r| !r.is_empty())
                .map(|r| Target::Branch(r.to_string()))
                .ok_or_else(|| "the `push` that deleted a branch names no `ref`".to_string()),
            _ => Ok(Target::Sweep),
        }
    }

    fn pr(&self) -> Option<u64> {
        match self {
            Target::Pr(n) => Some(*n),
            _ => None,
        }
    }
}

/// The pull requests a repository's tags name (for this target): each is asked once.
pub fn prs_named<'a>(
    tags: impl IntoIterator<Item = &'a str>,
    t: &Templates,
    target: &Target,
) -> BTreeSet<u64> {
    tags.into_iter()
        .filter_map(|tag| match recognise(tag, t) {
            Recognised::Pr { number, .. } => Some(number),
            _ => None,
        })
        .filter(|n| target.pr().is_none_or(|p| p == *n) && !matches!(target, Target::Branch(_)))
        .collect()
}

/// A manifest as clean mode needs it: its children (an index's) and its subject (a referrer's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub children: Vec<String>,
    pub subject: Option<String>,
    /// Layers and config, for the bytes a deletion frees.
    pub bytes: u64,
}

/// A tag's fate, with the digest it named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFate {
    pub tag: String,
    pub digest: String,
    pub reason: Reason,
}

/// What a repository's clean-up does, in the order it must be done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub tags: Vec<TagFate>,
    /// Tags removed whose digest stays (something kept still uses it): untagged only.
    pub untag: Vec<String>,
    /// Digests deleted: referrers first, then each image or index, then its unshared children.
    pub delete: Vec<String>,
    /// Bytes of the deleted digests' manifests' content (shared layers counted once per image),
    /// of those whose manifests `nodes` holds: the flow adds untagged children once read.
    pub bytes: u64,
}

/// Turns each tag's reason into the plan: a digest stays when a kept tag names it, a kept index
/// holds it, or a kept image refers to it; otherwise it goes with its referrers and the
/// children no kept index shares. `tags` pairs each tag with its digest; `nodes` has every
/// digest's manifest.
pub fn plan(tags: Vec<(String, String, Reason)>, nodes: &HashMap<String, Node>) -> Plan {
    // referrer tags follow their subject: decide the others first
    let is_ref = |t: &str| referrer_subject(t).is_some();
    let kept_roots = tags
        .iter()
        .filter(|(t, _, r)| !r.removes() && !is_ref(t))
        .map(|(_, d, _)| d.clone());
    let protected = closure(kept_roots, nodes);
    let mut deleted: BTreeSet<String> = tags
        .iter()
        .filter(|(t, d, r)| r.removes() && !is_ref(t) && !protected.contains(d))
        .map(|(_, d, _)| d.clone())
        .collect();
    // an unprotected deleted index takes its children along
    let roots: Vec<String> = deleted.iter().cloned().collect();
    let mut children = Vec::new();
    for d in &roots {
        for c in nodes.get(d).map(|n| n.children.as_slice()).unwrap_or(&[]) {
            if !protected.contains(c) && deleted.insert(c.clone()) {
                children.push(c.clone());
            }
        }
    }
    // referrer tags and their digests go with a deleted subject, unless kept otherwise
    let mut fates = Vec::with_capacity(tags.len());
    let mut untag = Vec::new();
    let mut referrers = Vec::new();
    for (tag, digest, reason) in tags {
        let reason = match referrer_subject(&tag) {
            Some(s) if matches!(reason, Reason::SubjectStays) && deleted.contains(&s) => {
                Reason::SubjectDeleted
            }
            _ => reason,
        };
        if reason.removes() {
            if protected.contains(&digest) {
                untag.push(tag.clone());
            } else if is_ref(&tag) && !deleted.contains(&digest) {
                referrers.push(digest.clone());
            }
        }
        fates.push(TagFate {
            tag,
            digest,
            reason,
        });
    }
    let mut delete = Vec::new();
    let mut seen = HashSet::new();
    for d in referrers.into_iter().chain(roots).chain(children) {
        if seen.insert(d.clone()) {
            delete.push(d);
        }
    }
    let bytes = freed(&delete, nodes);
    Plan {
        tags: fates,
        untag,
        delete,
        bytes,
    }
}

/// Adds the untagged referrers the referrers API listed for digests the plan deletes (`found`:
/// subject, referrer digests): each goes first, before its subject, unless a kept tag names it
/// or the plan deletes it already. Their bytes are not counted (signatures and attestations are
/// small, and their manifests are not read).
pub fn with_referrers(plan: &mut Plan, found: Vec<(String, Vec<String>)>) {
    let kept: HashSet<&str> = plan
        .tags
        .iter()
        .filter(|f| !f.reason.removes())
        .map(|f| f.digest.as_str())
        .collect();
    let mut seen: HashSet<String> = plan.delete.iter().cloned().collect();
    let mut first = Vec::new();
    for (_, referrers) in found {
        for r in referrers {
            if !kept.contains(r.as_str()) && seen.insert(r.clone()) {
                first.push(r);
            }
        }
    }
    first.append(&mut plan.delete);
    plan.delete = first;
}

/// Every digest a kept digest holds on to: its index's children and its subject, transitively.
fn closure(roots: impl Iterator<Item = String>, nodes: &HashMap<String, Node>) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut todo: Vec<String> = roots.collect();
    while let Some(d) = todo.pop() {
        if !seen.insert(d.clone()) {
            continue;
        }
        if let Some(n) = nodes.get(&d) {
            todo.extend(n.children.iter().cloned());
            todo.extend(n.subject.iter().cloned());
        }
    }
    seen
}

/// Tags removed, grouped by reason, for the summary: `(removed, kept)`.
pub fn by_fate(plan: &Plan) -> (Vec<&TagFate>, Vec<&TagFate>) {
    plan.tags.iter().partition(|f| f.reason.removes())
}

/// The kept tags that share each removed-but-untagged tag's digest: `v1.0` shares the digest.
pub fn sharing(plan: &Plan) -> BTreeMap<String, Vec<String>> {
    let kept: Vec<&TagFate> = plan.tags.iter().filter(|f| !f.reason.removes()).collect();
    plan.tags
        .iter()
        .filter(|f| plan.untag.contains(&f.tag))
        .map(|f| {
            let with: Vec<String> = kept
                .iter()
                .filter(|k| k.digest == f.digest)
                .map(|k| k.tag.clone())
                .collect();
            (f.tag.clone(), with)
        })
        .collect()
}

/// What clean mode did (with `dry-run`: would do) in one repository, for the outputs and the
/// summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleaned {
    pub dry_run: bool,
    /// `repository:tag` of each tag removed.
    pub removed: Vec<String>,
    /// Each tag in tag order: removed or kept, and why.
    pub fates: Vec<(String, bool, String)>,
    /// Manifests deleted (images, indexes, children, referrers).
    pub deleted: usize,
    /// Bytes the deleted manifests referred to (layers shared with kept images included).
    pub bytes: u64,
}

impl Cleaned {
    /// The plan's view: each tag's fate, with `v1.0 shares the digest` for a tag removed alone.
    pub fn of(repository: &str, plan: &Plan, dry_run: bool) -> Cleaned {
        let shares = sharing(plan);
        let fates = plan
            .tags
            .iter()
            .map(|f| {
                let mut why = f.reason.to_string();
                if let Some(with) = shares.get(&f.tag).filter(|w| !w.is_empty()) {
                    why.push_str(&format!(
                        "; the digest stays: `{}` shares it",
                        with.join("`, `")
                    ));
                }
                (f.tag.clone(), f.reason.removes(), why)
            })
            .collect();
        Cleaned {
            dry_run,
            removed: plan
                .tags
                .iter()
                .filter(|f| f.reason.removes())
                .map(|f| format!("{repository}:{}", f.tag))
                .collect(),
            fates,
            deleted: plan.delete.len(),
            bytes: plan.bytes,
        }
    }
}

/// The tags of the plan that go with a deleted digest (each removed tag names its own).
pub fn gone_with<'a>(plan: &'a Plan, digest: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    plan.tags
        .iter()
        .filter(move |f| f.reason.removes() && f.digest == digest)
        .map(|f| f.tag.as_str())
}

/// Bytes the deleted digests' manifests refer to, each digest counted once: untagged index
/// children included, once their manifests are among `nodes`.
pub fn freed(delete: &[String], nodes: &HashMap<String, Node>) -> u64 {
    delete
        .iter()
        .collect::<HashSet<_>>()
        .into_iter()
        .filter_map(|d| nodes.get(d))
        .map(|n| n.bytes)
        .sum()
}

/// Tags named in a partial failure's error, at most; the rest are counted.
const MAX_NAMED: usize = 20;

/// What a removal did before it failed, for its error (outputs are not written on failure):
/// `already removed: `repo:a`, `repo:b``, or `nothing removed`.
pub fn so_far(repository: &str, removed: &[String]) -> String {
    if removed.is_empty() {
        return "nothing removed".into();
    }
    let named: Vec<String> = removed
        .iter()
        .take(MAX_NAMED)
        .map(|t| format!("`{repository}:{t}`"))
        .collect();
    let more = match removed.len().saturating_sub(MAX_NAMED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(
        "already removed ({}): {}{more}; run clean again to finish",
        removed.len(),
        named.join(", ")
    )
}

/// A ghcr.io repository as the GitHub Packages API names it: the owner (a user or an
/// organization) and the container package, the path after the owner (`ghcr.io/acme/app/api`
/// is package `app/api` of `acme`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub owner: String,
    pub name: String,
}

impl Package {
    /// The package behind a ghcr.io repository; none elsewhere (there the registry API deletes).
    pub fn of(repository: &str) -> Option<Package> {
        let (owner, name) = repository.strip_prefix("ghcr.io/")?.split_once('/')?;
        (!owner.is_empty() && !name.is_empty()).then(|| Package {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "package `{}` of `{}`", self.name, self.owner)
    }
}

/// One version of a container package: a digest and every tag it carries (deleting the
/// version deletes them all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageVersion {
    pub id: u64,
    pub digest: String,
    pub tags: Vec<String>,
}

/// Each digest to delete with its version's id, in the plan's order; the first digest no
/// version holds is returned instead (the listing and the registry disagree: nothing removed).
pub fn version_ids(
    delete: &[String],
    versions: &[PackageVersion],
) -> Result<Vec<(String, u64)>, String> {
    let ids: HashMap<&str, u64> = versions.iter().map(|v| (v.digest.as_str(), v.id)).collect();
    delete
        .iter()
        .map(|d| {
            ids.get(d.as_str())
                .map(|id| (d.clone(), *id))
                .ok_or_else(|| d.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests;

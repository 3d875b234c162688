//! The step summary (GITHUB_STEP_SUMMARY) as Markdown, from plain data: a one-line verdict a
//! person reads at a glance, then the details. Every value that came from outside (references,
//! labels, errors, notes) goes through `code` or `text`, so it cannot open a link, a tag or a row.

use std::fmt::Write as _;
use std::time::Duration;

/// How the step ended, as the summary's first line says it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outcome {
    #[default]
    Resolved,
    /// Resolved, but something was accepted that a reader must see (a revision mismatch under
    /// `revision-check: warn`, a missing attestation under `attestation: warn`, …).
    Warning,
    /// Nothing to do, by design (e.g. a promotion skipped because the tree differs).
    Skipped,
    Failed,
}

pub use super::outputs::{PromotedTarget, Source, TargetState};

/// What the step was asked to do: the verdict's verb.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kind {
    /// `pull` and `verify`.
    #[default]
    Resolve,
    Promote,
    Compute,
    Clean,
}

/// Compute mode: what was computed for the build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Computed {
    pub tag: String,
    /// `key=value` lines.
    pub labels: Vec<String>,
    /// The `{tree}` value, with `paths`.
    pub tree: Option<String>,
}

/// What the revision check concluded, in the words the summary shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionShown {
    /// The label is the expected commit.
    Matched,
    /// The label is GitHub's test merge commit of the pull request, whose parents include the head.
    MergeCommit,
    /// The label commit's tree equals the expected commit's tree (an image promoted from a PR).
    SameTree,
    /// The label commit's `paths` hold the expected commit's objects (a content-addressed image).
    SamePaths,
    /// The label differs (or is missing), accepted under `revision-check: warn`.
    MismatchAccepted,
    /// The label differs (or is missing), and the step failed for it.
    Mismatch,
    /// `revision-check: off`, or no expected commit.
    NotChecked,
}

/// One image's result; `name` is set with `images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRow {
    pub name: Option<String>,
    /// `repository:tag`, or `repository@sha256:…` when the input was a digest reference.
    pub reference: String,
    /// The input was a full `repository@sha256:…` reference: a resolved pinned image is one line.
    pub pinned: bool,
    pub digest: Option<String>,
    pub image_id: Option<String>,
    pub local_image: Option<String>,
    pub source: Source,
    pub revision: RevisionShown,
    /// The `org.opencontainers.image.revision` label as found (untrusted text).
    pub label: Option<String>,
    pub error: Option<String>,
    pub elapsed: Option<Duration>,
    /// Promote mode: each target and what became of it.
    pub targets: Vec<PromotedTarget>,
    /// Promote mode: why this image was not promoted (`no-image`, …).
    pub promote_skipped: Option<String>,
    /// The notice that says so, in words.
    pub skip_notice: Option<String>,
    /// Clean mode: each tag removed or kept, and why.
    pub cleaned: Option<crate::core::clean::Cleaned>,
    /// Promote mode's dry run: the targets say what would be written.
    pub dry_run: bool,
}

impl ImageRow {
    /// A row with only its reference set; fill in the rest with struct update syntax.
    pub fn new(reference: impl Into<String>) -> ImageRow {
        ImageRow {
            name: None,
            reference: reference.into(),
            pinned: false,
            digest: None,
            image_id: None,
            local_image: None,
            source: Source::None,
            revision: RevisionShown::NotChecked,
            label: None,
            error: None,
            elapsed: None,
            targets: Vec::new(),
            promote_skipped: None,
            skip_notice: None,
            cleaned: None,
            dry_run: false,
        }
    }
}

/// What the links point at. `server_url` is `GITHUB_SERVER_URL` (`https://github.com`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    pub server_url: String,
    /// `owner/name`
    pub repository: String,
    /// The expected commit, 40 hex.
    pub commit: Option<String>,
    pub pr: Option<u64>,
    /// The build run the image (or artifact) came from.
    pub build_run_id: Option<u64>,
    /// A pull request known only by its head (a fork's, before its number was looked up).
    pub pr_head: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub kind: Kind,
    pub outcome: Outcome,
    /// Why, in one line, for a warning, a skip or a failure that no row explains (an input or
    /// event error, a skipped promotion). Shown under the verdict.
    pub reason: Option<String>,
    pub images: Vec<ImageRow>,
    pub notes: Vec<String>,
    pub links: Links,
    /// The images the inputs name, for a failure before any image was planned.
    pub subject: Vec<String>,
    pub computed: Option<Computed>,
}

impl Report {
    /// The outcome shown: never better than the rows say, so a mismatch accepted under `warn`
    /// can never read as a plain success, and a failed image never as a resolved step.
    pub fn shown_outcome(&self) -> Outcome {
        if self.outcome == Outcome::Failed || self.images.iter().any(|r| r.error.is_some()) {
            Outcome::Failed
        } else if self.outcome == Outcome::Skipped {
            Outcome::Skipped
        } else if self.outcome == Outcome::Warning
            || self.partly_promoted()
            || self
                .images
                .iter()
                .any(|r| r.revision == RevisionShown::MismatchAccepted)
        {
            Outcome::Warning
        } else {
            Outcome::Resolved
        }
    }
}

impl Report {
    /// Promote mode, several images, some promoted and some skipped: never a plain success.
    fn partly_promoted(&self) -> bool {
        self.kind == Kind::Promote
            && self.images.iter().any(|r| r.promote_skipped.is_some())
            && self
                .images
                .iter()
                .any(|r| r.promote_skipped.is_none() && r.error.is_none())
    }
}

/// The summary's Markdown.
pub fn render(report: &Report) -> String {
    let outcome = report.shown_outcome();
    let mut s = String::new();
    if let [row] = report.images.as_slice() {
        if row.pinned
            && outcome == Outcome::Resolved
            && report.notes.is_empty()
            && report.kind == Kind::Resolve
        {
            s.push_str(&pinned_line(row));
            s.push('\n');
            return s;
        }
    }
    if report.kind == Kind::Compute && outcome != Outcome::Failed {
        s.push_str(&computed(report));
        return s;
    }
    s.push_str(&verdict_line(report, outcome));
    s.push_str("\n\n");
    if let Some(reason) = &report.reason {
        let _ = write!(s, "> {}\n\n", prose(reason));
    }
    if outcome == Outcome::Warning && report.reason.is_none() {
        for r in report
            .images
            .iter()
            .filter(|r| r.revision == RevisionShown::MismatchAccepted)
        {
            let _ = write!(s, "> {}\n\n", mismatch_sentence(r, &report.links));
        }
    }
    // one image that failed before it was found: the verdict and the error say it all
    let found_nothing =
        matches!(report.images.as_slice(), [r] if r.error.is_some() && r.digest.is_none());
    if !report.images.is_empty() && !found_nothing {
        s.push_str(&table(report));
        s.push('\n');
    }
    if report.kind == Kind::Promote {
        s.push_str(&targets(report));
    }
    if report.kind == Kind::Clean {
        s.push_str(&cleaned(report));
    }
    for r in report.images.iter().filter(|r| r.error.is_some()) {
        let error = prose(r.error.as_deref().unwrap_or_default());
        if report.images.len() == 1 {
            let _ = write!(s, "> ❌ {error}\n\n");
        } else {
            let who = r.name.as_deref().unwrap_or(&r.reference);
            let _ = write!(s, "> ❌ **{}**: {error}\n\n", text(who));
        }
    }
    for n in &report.notes {
        let _ = write!(s, "> {}\n\n", prose(n));
    }
    s.push_str(&details(report));
    s
}

/// Compute mode: the tag, the labels and the tree, for the build that uses them.
fn computed(report: &Report) -> String {
    let Some(c) = &report.computed else {
        return String::new();
    };
    let mut s = format!("✅ **Computed** tag {}", code(&c.tag));
    match report.images.as_slice() {
        [] => {}
        [row] => {
            let _ = write!(s, " for {}", code(repository_of(&row.reference)));
        }
        rows => {
            let _ = write!(s, " for {} images", rows.len());
        }
    }
    if let Some(t) = &c.tree {
        let _ = write!(s, ", tree {}", code(&short_label(t)));
    }
    s.push_str(&link_tail(&report.links));
    s.push_str("\n\n");
    if report.images.len() > 1 {
        for r in &report.images {
            let who = r.name.as_deref().unwrap_or_default();
            let _ = writeln!(s, "- **{}** {}", text(who), code(&r.reference));
        }
        s.push('\n');
    }
    for n in &report.notes {
        let _ = write!(s, "> {}\n\n", prose(n));
    }
    if !c.labels.is_empty() {
        let lines: Vec<String> = c.labels.iter().map(|l| plain(l)).collect();
        let _ = write!(
            s,
            "<details open><summary>Labels ({})</summary>\n\n```text\n{}\n```\n\n</details>\n",
            c.labels.len(),
            lines.join("\n")
        );
    }
    s
}

/// Tags listed per repository and fate; the rest are counted.
const MAX_LISTED: usize = 200;

/// Clean mode: per repository, the tags removed and kept with why, and the bytes freed.
fn cleaned(report: &Report) -> String {
    let mut s = String::new();
    for r in &report.images {
        let Some(c) = &r.cleaned else { continue };
        let who = r.name.as_deref().unwrap_or(&r.reference);
        let verb = if c.dry_run {
            "would be removed"
        } else {
            "removed"
        };
        let removed = c.fates.iter().filter(|f| f.1).count();
        let _ = write!(
            s,
            "**{}**: {removed} tag(s) {verb}, {} kept; {} manifest(s) deleted, {} no longer referenced\n\n",
            text(who),
            c.fates.len() - removed,
            c.deleted,
            super::size::human(c.bytes)
        );
        for (gone, title) in [(true, "Removed"), (false, "Kept")] {
            let list: Vec<&(String, bool, String)> =
                c.fates.iter().filter(|f| f.1 == gone).collect();
            if list.is_empty() {
                continue;
            }
            let _ = write!(
                s,
                "<details{}><summary>{title} ({})</summary>\n\n| tag | why |\n|---|---|\n",
                if gone { " open" } else { "" },
                list.len()
            );
            for (tag, _, why) in list.iter().take(MAX_LISTED) {
                let _ = writeln!(s, "| {} | {} |", code(tag), prose(why));
            }
            if list.len() > MAX_LISTED {
                let _ = writeln!(s, "\n… and {} more", list.len() - MAX_LISTED);
            }
            s.push_str("\n</details>\n\n");
        }
    }
    s
}

/// Promote mode: every target with what became of it, and every image that was skipped.
fn targets(report: &Report) -> String {
    let several = report.images.len() > 1;
    let mut s = String::new();
    let rows: Vec<(&ImageRow, &PromotedTarget)> = report
        .images
        .iter()
        .flat_map(|r| r.targets.iter().map(move |t| (r, t)))
        .collect();
    if !rows.is_empty() {
        s.push_str(if several {
            "| image | target | result |\n|---|---|---|\n"
        } else {
            "| target | result |\n|---|---|\n"
        });
        for (r, t) in rows {
            let target = t
                .reference
                .split_once('@')
                .map_or(t.reference.as_str(), |(r, _)| r);
            let state = match t.state {
                TargetState::Written => "written",
                TargetState::AlreadyThere => "already there",
                TargetState::WouldWrite => "would be written",
            };
            if several {
                let who = r.name.as_deref().unwrap_or(&r.reference);
                let _ = write!(s, "| **{}** ", text(who));
            }
            let _ = writeln!(s, "| {} | {state} |", code(target));
        }
        s.push('\n');
    }
    // a partial promotion: say which image was skipped and why
    if report.partly_promoted() {
        for r in report.images.iter() {
            if let Some(why) = &r.promote_skipped {
                let who = r.name.as_deref().unwrap_or(&r.reference);
                let said = match &r.skip_notice {
                    Some(n) => prose(n),
                    None => format!("not promoted ({})", code(why)),
                };
                let _ = write!(s, "> ⏭️ **{}**: {said}\n\n", text(who));
            }
        }
    }
    s
}

fn pinned_line(row: &ImageRow) -> String {
    let how = match row.source {
        Source::Local => "already present locally",
        Source::Artifact => "loaded from the build's artifact",
        _ => "from the registry",
    };
    let mut s = format!(
        "✅ **Resolved** {} by digest, {how}",
        code(&short_reference(&row.reference))
    );
    if let Some(d) = row.elapsed {
        let _ = write!(s, ", in {}", human_duration(d));
    }
    s
}

fn verdict_line(report: &Report, outcome: Outcome) -> String {
    let promote = report.kind == Kind::Promote;
    let dry = report
        .images
        .iter()
        .any(|r| r.cleaned.as_ref().is_some_and(|c| c.dry_run));
    let promote_dry = report.images.iter().any(|r| r.dry_run);
    let (icon, word) = match outcome {
        Outcome::Resolved if report.kind == Kind::Clean && dry => {
            ("✅", "Clean-up planned (dry run)")
        }
        Outcome::Resolved if report.kind == Kind::Clean => ("✅", "Cleaned"),
        Outcome::Resolved if promote && promote_dry => ("✅", "Promotion planned (dry run)"),
        Outcome::Warning if promote && promote_dry => {
            ("⚠️", "Promotion planned (dry run) with a warning")
        }
        Outcome::Resolved if promote => ("✅", "Promoted"),
        Outcome::Resolved => ("✅", "Resolved"),
        Outcome::Warning if report.partly_promoted() => ("⚠️", "Promoted"),
        Outcome::Warning if promote => ("⚠️", "Promoted with a warning"),
        Outcome::Warning => ("⚠️", "Resolved with a warning"),
        Outcome::Skipped => ("⏭️", "Skipped"),
        Outcome::Failed => ("❌", "Failed"),
    };
    let mut s = format!("{icon} **{word}**");
    let promoted_to = |rows: &[ImageRow]| {
        let n: usize = rows.iter().map(|r| r.targets.len()).sum();
        if n == 1 {
            " to 1 target".to_string()
        } else {
            format!(" to {n} targets")
        }
    };
    match report.images.as_slice() {
        [] => {
            let subject: Vec<String> = report.subject.iter().map(|i| code(i)).collect();
            if !subject.is_empty() {
                let _ = write!(s, " {}", subject.join(", "));
            }
        }
        [row] if promote && matches!(outcome, Outcome::Resolved | Outcome::Warning) => {
            let pinned = match &row.digest {
                Some(d) => format!("{}@{}", repository_of(&row.reference), short_digest(d)),
                None => short_reference(&row.reference),
            };
            let _ = write!(s, " {}{}", code(&pinned), promoted_to(&report.images));
        }
        rows if promote && report.partly_promoted() => {
            let done = rows.iter().filter(|r| r.promote_skipped.is_none()).count();
            let _ = write!(s, " {done} of {} images{}", rows.len(), promoted_to(rows));
        }
        rows if promote
            && rows.len() > 1
            && matches!(outcome, Outcome::Resolved | Outcome::Warning) =>
        {
            let _ = write!(s, " {} images{}", rows.len(), promoted_to(rows));
        }
        [row] => {
            let _ = write!(s, " {}", code(&short_reference(&row.reference)));
            if let Some(from) = source_words(row.source) {
                let _ = write!(s, " {from}");
            }
        }
        rows => {
            let failed = rows.iter().filter(|r| r.error.is_some()).count();
            if failed > 0 {
                let _ = write!(s, ": {failed} of {} images", rows.len());
            } else {
                let _ = write!(s, " {} images", rows.len());
            }
            if let Some(tag) = shared_tag(rows) {
                let _ = write!(s, " tagged {}", code(tag));
            }
        }
    }
    s.push_str(&link_tail(&report.links));
    s
}

/// ` · commit … · PR … · build run`, each a link when the parts are trustworthy.
fn link_tail(links: &Links) -> String {
    let mut parts = Vec::new();
    if let Some(sha) = links.commit.as_deref().filter(|c| is_hex(c)) {
        let short = &sha[..sha.len().min(7)];
        parts.push(match repo_url(links) {
            Some(base) => format!("commit [`{short}`]({base}/commit/{sha})"),
            None => format!("commit `{short}`"),
        });
    }
    if let Some(pr) = links.pr {
        parts.push(match repo_url(links) {
            Some(base) => format!("[PR #{pr}]({base}/pull/{pr})"),
            None => format!("PR #{pr}"),
        });
    }
    if let (None, Some(head)) = (links.pr, &links.pr_head) {
        parts.push(format!("the pull request from {}", code(head)));
    }
    if let (Some(run), Some(base)) = (links.build_run_id, repo_url(links)) {
        parts.push(format!("[build run]({base}/actions/runs/{run})"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" · {}", parts.join(" · "))
    }
}

fn source_words(source: Source) -> Option<&'static str> {
    match source {
        Source::Registry => Some("from the registry"),
        Source::Artifact => Some("from the build's artifact"),
        Source::Local => Some("already in the Docker daemon"),
        Source::None => None,
    }
}

fn mismatch_sentence(r: &ImageRow, links: &Links) -> String {
    let who = r.name.as_deref().unwrap_or(&r.reference);
    let found = match r.label.as_deref() {
        Some(l) if !l.is_empty() => format!("says {}", code(&short_label(l))),
        _ => "is missing".to_string(),
    };
    let expected = links
        .commit
        .as_deref()
        .filter(|c| is_hex(c))
        .map(|c| format!(", not {}", code(&c[..c.len().min(7)])))
        .unwrap_or_default();
    format!(
        "⚠️ {}: the revision label {found}{expected}; accepted because `revision-check: warn`. This image may not be built from this commit.",
        code(who)
    )
}

fn table(report: &Report) -> String {
    let several = report.images.len() > 1;
    let shared = if several {
        shared_tag(&report.images)
    } else {
        None
    };
    let mut s = String::new();
    s.push_str(if several {
        "| | image | source | digest | revision | time |\n|---|---|---|---|---|---|\n"
    } else {
        "| image | source | digest | revision | time |\n|---|---|---|---|---|\n"
    });
    for r in &report.images {
        if several {
            let icon = if r.error.is_some() {
                "❌"
            } else if r.promote_skipped.is_some() {
                "⏭️"
            } else if r.revision == RevisionShown::MismatchAccepted {
                "⚠️"
            } else {
                "✅"
            };
            let _ = write!(s, "| {icon} ");
        }
        let shown = if shared.is_some() {
            repository_of(&r.reference).to_string()
        } else {
            short_reference(&r.reference)
        };
        let image = match &r.name {
            Some(n) => format!("**{}** {}", text(n), code(&shown)),
            None => code(&shown),
        };
        let source = match r.source {
            Source::Registry => "registry",
            Source::Artifact => "artifact",
            Source::Local => "local",
            Source::None => "—",
        };
        let digest = r
            .digest
            .as_deref()
            .map(|d| code(&short_digest(d)))
            .unwrap_or_else(|| "—".into());
        // a no-break space keeps `312 ms` on one line in a narrow column
        let time = r
            .elapsed
            .map(|d| human_duration(d).replace(' ', "\u{a0}"))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            s,
            "| {image} | {source} | {digest} | {} | {time} |",
            revision_cell(r)
        );
    }
    s
}

fn revision_cell(r: &ImageRow) -> String {
    let label = || {
        r.label
            .as_deref()
            .filter(|l| !l.is_empty())
            .map(|l| code(&short_label(l)))
    };
    match r.revision {
        RevisionShown::Matched => "matched".into(),
        RevisionShown::MergeCommit => "matched as a merge commit".into(),
        RevisionShown::SameTree => "matched by tree".into(),
        RevisionShown::SamePaths => "matched by paths".into(),
        RevisionShown::MismatchAccepted => match label() {
            Some(l) => format!("⚠️ mismatch {l} (accepted: warn)"),
            None => "⚠️ label missing (accepted: warn)".into(),
        },
        RevisionShown::Mismatch => match label() {
            Some(l) => format!("❌ mismatch {l}"),
            None => "❌ label missing".into(),
        },
        RevisionShown::NotChecked => "not checked".into(),
    }
}

/// Full values, folded: digests, image IDs, local tags and labels, for copying.
fn details(report: &Report) -> String {
    let mut lines = Vec::new();
    for r in &report.images {
        let prefix = r
            .name
            .as_deref()
            .map(|n| format!("{}: ", plain(n)))
            .unwrap_or_default();
        let repo = repository_of(&r.reference);
        if let Some(d) = &r.digest {
            lines.push(format!("{prefix}{}@{}", plain(repo), plain(d)));
        } else {
            lines.push(format!("{prefix}{}", plain(&r.reference)));
        }
        if let Some(id) = &r.image_id {
            lines.push(format!("{prefix}image ID {}", plain(id)));
        }
        if let Some(t) = &r.local_image {
            lines.push(format!("{prefix}local tag {}", plain(t)));
        }
        if let Some(l) = r.label.as_deref().filter(|l| !l.is_empty()) {
            lines.push(format!("{prefix}revision label {}", plain(l)));
        }
    }
    let anything_found = report.images.iter().any(|r| {
        r.digest.is_some() || r.image_id.is_some() || r.local_image.is_some() || r.label.is_some()
    });
    if !anything_found {
        return String::new();
    }
    format!(
        "<details><summary>Full references</summary>\n\n```text\n{}\n```\n\n</details>\n",
        lines.join("\n")
    )
}

/// Untrusted text for a fenced code block: one line, no backticks (so it cannot close the fence),
/// bounded length.
fn plain(s: &str) -> String {
    bounded(s)
        .chars()
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// Untrusted text as inline code: nothing inside is Markdown or HTML.
pub fn code(s: &str) -> String {
    let v: String = bounded(s)
        .chars()
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    // inside a table a `|` still splits the row, even in a code span
    let v = v.replace('|', "\\|");
    if v.trim().is_empty() {
        "` `".into()
    } else {
        format!("`{v}`")
    }
}

/// Untrusted text as running prose: every ASCII punctuation character backslash-escaped (so no
/// link, emphasis, HTML, table cell or autolink can start), one line.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in bounded(s).chars() {
        match c {
            c if c.is_control() => out.push(' '),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A message in the project's style (values in backticks) as prose: quoted parts become code
/// spans, the rest escaped text. Unbalanced backticks (not our style): all text.
pub fn prose(s: &str) -> String {
    let s = bounded(s);
    if s.matches('`').count() % 2 == 1 {
        return text(s);
    }
    s.split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 0 { text(part) } else { code(part) })
        .collect()
}

/// A server's text can be megabytes; a summary line need not be.
fn bounded(s: &str) -> &str {
    const MAX: usize = 1000;
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `https://github.com/owner/name`, when both parts look like what GitHub sends; else no links
/// (a hostile value must not become a link target).
fn repo_url(l: &Links) -> Option<String> {
    let server = l.server_url.trim_end_matches('/');
    let server_ok = (server.starts_with("https://") || server.starts_with("http://"))
        && server[server.find("://")? + 3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b))
        && server.len() > "https://".len();
    let mut parts = l.repository.split('/');
    let ok_part = |p: Option<&str>| {
        p.is_some_and(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
    };
    let repo_ok = ok_part(parts.next()) && ok_part(parts.next()) && parts.next().is_none();
    (server_ok && repo_ok).then(|| format!("{server}/{}", l.repository))
}

/// `sha256:0123456789ab…`: enough to tell digests apart at a glance.
pub fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}…", &hex[..12]),
        _ => d.to_string(),
    }
}

/// A digest reference with its digest shortened; a tag reference as is.
fn short_reference(r: &str) -> String {
    match r.split_once('@') {
        Some((repo, d)) => format!("{repo}@{}", short_digest(d)),
        None => r.to_string(),
    }
}

/// The tag every row shares (rows with `images` derive one tag), if they do.
fn shared_tag(rows: &[ImageRow]) -> Option<&str> {
    let first = tag_of(&rows.first()?.reference)?;
    rows.iter()
        .all(|r| tag_of(&r.reference) == Some(first))
        .then_some(first)
}

fn tag_of(reference: &str) -> Option<&str> {
    let repo = repository_of(reference);
    (repo.len() < reference.len() && !reference.contains('@')).then(|| &reference[repo.len() + 1..])
}

fn repository_of(r: &str) -> &str {
    if let Some((repo, _)) = r.split_once('@') {
        return repo;
    }
    // a `:` after the last `/` starts the tag (a registry port comes before it)
    match r.rfind(':') {
        Some(i) if !r[i..].contains('/') => &r[..i],
        _ => r,
    }
}

/// A label is shown as a short SHA when it is one, else as (bounded) text.
fn short_label(l: &str) -> String {
    if l.len() == 40 && is_hex(l) {
        l[..7].to_string()
    } else if l.chars().count() > 40 {
        format!("{}…", l.chars().take(40).collect::<String>())
    } else {
        l.to_string()
    }
}

/// `850 ms`, `12.3 s`, `2 min 05 s`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
    const DIGEST: &str = "sha256:3f2a9c1d00112233445566778899aabbccddeeff00112233445566778899aabb";

    fn links() -> Links {
        Links {
            server_url: "https://github.com".into(),
            repository: "acme/charon".into(),
            commit: Some(SHA.into()),
            pr: Some(42),
            build_run_id: Some(987654),
            pr_head: None,
        }
    }

    fn row() -> ImageRow {
        ImageRow {
            digest: Some(DIGEST.into()),
            source: Source::Registry,
            revision: RevisionShown::Matched,
            label: Some(SHA.into()),
            elapsed: Some(Duration::from_millis(1234)),
            ..ImageRow::new("ghcr.io/acme/charon:pr-42-1a2b3c4")
        }
    }

    fn report(outcome: Outcome, images: Vec<ImageRow>) -> Report {
        Report {
            outcome,
            images,
            links: links(),
            ..Default::default()
        }
    }

    /// The verdict: the summary's first line.
    fn first_line(s: &str) -> &str {
        s.lines().next().unwrap()
    }

    #[test]
    fn verdict_lines() {
        let mismatch = ImageRow {
            revision: RevisionShown::MismatchAccepted,
            label: Some("deadbeef".repeat(5)),
            ..row()
        };
        let failed = ImageRow {
            error: Some("no usable image".into()),
            source: Source::None,
            digest: None,
            revision: RevisionShown::NotChecked,
            label: None,
            ..row()
        };
        let tail = "· commit [`1a2b3c4`](https://github.com/acme/charon/commit/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d) · [PR #42](https://github.com/acme/charon/pull/42) · [build run](https://github.com/acme/charon/actions/runs/987654)";
        let cases = [
            (
                report(Outcome::Resolved, vec![row()]),
                format!("✅ **Resolved** `ghcr.io/acme/charon:pr-42-1a2b3c4` from the registry {tail}"),
            ),
            // a mismatch accepted under warn is never a plain success, whatever the caller said
            (
                report(Outcome::Resolved, vec![mismatch.clone()]),
                format!("⚠️ **Resolved with a warning** `ghcr.io/acme/charon:pr-42-1a2b3c4` from the registry {tail}"),
            ),
            (
                Report {
                    reason: Some("the tree differs".into()),
                    ..report(Outcome::Skipped, vec![])
                },
                format!("⏭️ **Skipped** {tail}"),
            ),
            (
                report(Outcome::Resolved, vec![failed.clone()]),
                format!("❌ **Failed** `ghcr.io/acme/charon:pr-42-1a2b3c4` {tail}"),
            ),
            (
                report(Outcome::Failed, vec![row(), failed, row()]),
                format!("❌ **Failed**: 1 of 3 images tagged `pr-42-1a2b3c4` {tail}"),
            ),
            (
                report(Outcome::Resolved, vec![row(), row()]),
                format!("✅ **Resolved** 2 images tagged `pr-42-1a2b3c4` {tail}"),
            ),
        ];
        for (r, want) in cases {
            assert_eq!(first_line(&render(&r)), want);
        }
    }

    fn target(reference: &str, state: TargetState) -> PromotedTarget {
        PromotedTarget {
            reference: format!("{reference}@{DIGEST}"),
            state,
        }
    }

    #[test]
    fn promotions_say_where_the_digest_went() {
        let promoted = ImageRow {
            targets: vec![
                target("ghcr.io/acme/charon:latest", TargetState::Written),
                target("ghcr.io/acme/charon:stable", TargetState::AlreadyThere),
                target("ghcr.io/acme/charon:next", TargetState::WouldWrite),
            ],
            ..row()
        };
        let r = Report {
            kind: Kind::Promote,
            ..report(Outcome::Resolved, vec![promoted.clone()])
        };
        let s = render(&r);
        assert!(first_line(&s).starts_with(
            "✅ **Promoted** `ghcr.io/acme/charon@sha256:3f2a9c1d0011…` to 3 targets · commit"
        ));
        assert!(s.contains("| `ghcr.io/acme/charon:latest` | written |\n| `ghcr.io/acme/charon:stable` | already there |\n| `ghcr.io/acme/charon:next` | would be written |"), "{s}");
        // one image promoted, one skipped: a warning, never a plain success
        let skipped = ImageRow {
            name: Some("web".into()),
            targets: vec![],
            promote_skipped: Some("no-image".into()),
            ..row()
        };
        let r = Report {
            kind: Kind::Promote,
            ..report(
                Outcome::Resolved,
                vec![
                    ImageRow {
                        name: Some("api".into()),
                        ..promoted
                    },
                    skipped,
                ],
            )
        };
        assert_eq!(r.shown_outcome(), Outcome::Warning);
        let s = render(&r);
        assert!(
            first_line(&s).starts_with("⚠️ **Promoted** 1 of 2 images to 3 targets"),
            "{s}"
        );
        assert!(
            s.contains("| ⏭️ | **web**") && s.contains("> ⏭️ **web**: not promoted (`no-image`)"),
            "{s}"
        );
    }

    #[test]
    fn compute_says_what_was_computed() {
        let r = Report {
            kind: Kind::Compute,
            computed: Some(Computed {
                tag: "pr-42-1a2b3c4".into(),
                labels: vec![format!("org.opencontainers.image.revision={SHA}")],
                tree: Some("ab".repeat(20)),
            }),
            ..report(
                Outcome::Resolved,
                vec![ImageRow::new("ghcr.io/acme/charon:pr-42-1a2b3c4")],
            )
        };
        let s = render(&r);
        assert!(first_line(&s).starts_with(
            "✅ **Computed** tag `pr-42-1a2b3c4` for `ghcr.io/acme/charon`, tree `abababa` · commit"
        ), "{s}");
        assert!(
            s.contains(&format!(
                "```text\norg.opencontainers.image.revision={SHA}\n```"
            )),
            "{s}"
        );
        assert!(!s.contains("| image |"), "no empty row: {s}");
    }

    #[test]
    fn a_failure_before_planning_names_the_image_and_the_pull_request() {
        let r = Report {
            reason: Some("refused".into()),
            subject: vec!["ghcr.io/acme/charon".into()],
            links: Links {
                pr: None,
                pr_head: Some("mallory:patch-1".into()),
                build_run_id: None,
                ..links()
            },
            ..report(Outcome::Failed, vec![])
        };
        assert_eq!(
            first_line(&render(&r)),
            "❌ **Failed** `ghcr.io/acme/charon` · commit [`1a2b3c4`](https://github.com/acme/charon/commit/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d) · the pull request from `mallory:patch-1`"
        );
    }

    #[test]
    fn links_need_trustworthy_parts() {
        let mut r = report(Outcome::Resolved, vec![row()]);
        r.links.repository = "acme/charon)[x](javascript:alert(1)".into();
        let s = render(&r);
        assert!(
            !s.contains("](") && s.contains("commit `1a2b3c4` · PR #42"),
            "{s}"
        );
        r.links = Links {
            server_url: "https://github.com".into(),
            repository: "acme/charon".into(),
            commit: Some("not-hex)".into()),
            pr: None,
            build_run_id: None,
            pr_head: None,
        };
        assert_eq!(
            first_line(&render(&r)),
            "✅ **Resolved** `ghcr.io/acme/charon:pr-42-1a2b3c4` from the registry"
        );
    }

    #[test]
    fn a_pinned_shard_is_one_line() {
        let pinned = ImageRow {
            pinned: true,
            source: Source::Local,
            ..ImageRow::new(format!("ghcr.io/acme/charon@{DIGEST}"))
        };
        let pinned = ImageRow {
            elapsed: Some(Duration::from_millis(420)),
            ..pinned
        };
        assert_eq!(
            render(&report(Outcome::Resolved, vec![pinned.clone()])),
            format!("✅ **Resolved** `ghcr.io/acme/charon@sha256:3f2a9c1d0011…` by digest, already present locally, in 420 ms\n")
        );
        // a failure still gets the whole story
        let failed = ImageRow {
            error: Some("boom".into()),
            ..pinned
        };
        assert!(render(&report(Outcome::Failed, vec![failed])).contains("> ❌"));
    }

    #[test]
    fn table_and_details() {
        let s = render(&report(
            Outcome::Resolved,
            vec![ImageRow {
                image_id: Some("sha256:feedface".into()),
                local_image: Some("charon:local".into()),
                ..row()
            }],
        ));
        assert!(s.contains("| image | source | digest | revision | time |\n|---|---|---|---|---|\n| `ghcr.io/acme/charon:pr-42-1a2b3c4` | registry | `sha256:3f2a9c1d0011…` | matched | 1.2\u{a0}s |\n"), "{s}");
        assert!(s.contains(&format!("```text\nghcr.io/acme/charon@{DIGEST}\nimage ID sha256:feedface\nlocal tag charon:local\nrevision label {SHA}\n```")), "{s}");
        let several = render(&report(
            Outcome::Resolved,
            vec![
                ImageRow {
                    name: Some("api".into()),
                    ..row()
                },
                ImageRow {
                    name: Some("web".into()),
                    revision: RevisionShown::MergeCommit,
                    ..row()
                },
            ],
        ));
        assert!(
            several.contains("| ✅ | **api** `ghcr.io/acme/charon` | registry |"),
            "{several}"
        );
        assert!(
            several.contains("| matched as a merge commit |"),
            "{several}"
        );
        assert!(
            several.contains("api: ghcr.io/acme/charon@sha256:"),
            "{several}"
        );
    }

    #[test]
    fn revision_cells() {
        let cases = [
            (RevisionShown::Matched, Some(SHA), "matched"),
            (
                RevisionShown::MergeCommit,
                Some(SHA),
                "matched as a merge commit",
            ),
            (RevisionShown::SameTree, Some(SHA), "matched by tree"),
            (
                RevisionShown::MismatchAccepted,
                Some(SHA),
                "⚠️ mismatch `1a2b3c4` (accepted: warn)",
            ),
            (
                RevisionShown::MismatchAccepted,
                None,
                "⚠️ label missing (accepted: warn)",
            ),
            (
                RevisionShown::Mismatch,
                Some("v1|<b>"),
                "❌ mismatch `v1\\|<b>`",
            ),
            (RevisionShown::Mismatch, Some(""), "❌ label missing"),
            (RevisionShown::NotChecked, None, "not checked"),
        ];
        for (revision, label, want) in cases {
            let r = ImageRow {
                revision,
                label: label.map(String::from),
                ..row()
            };
            assert_eq!(revision_cell(&r), want, "{revision:?}");
        }
    }

    #[test]
    fn warning_says_what_was_accepted() {
        let s = render(&report(
            Outcome::Warning,
            vec![ImageRow {
                revision: RevisionShown::MismatchAccepted,
                label: Some("main".into()),
                ..row()
            }],
        ));
        assert!(s.contains("> ⚠️ `ghcr.io/acme/charon:pr-42-1a2b3c4`: the revision label says `main`, not `1a2b3c4`; accepted because `revision-check: warn`."), "{s}");
    }

    #[test]
    fn untrusted_text_stays_text() {
        let cases = [
            ("a|b", "`a\\|b`"),
            ("a\nb", "`a b`"),
            ("<script>", "`<script>`"),
            ("x`y", "`x'y`"),
            ("", "` `"),
        ];
        for (v, want) in cases {
            assert_eq!(code(v), want, "{v:?}");
        }
        let cases = [
            ("[x](https://evil)", "\\[x\\]\\(https\\:\\/\\/evil\\)"),
            ("<img src=x>", "\\<img src\\=x\\>"),
            ("a\r\n| b |", "a  \\| b \\|"),
            ("*bold* _i_ &amp;", "\\*bold\\* \\_i\\_ \\&amp\\;"),
            ("été", "été"),
        ];
        for (v, want) in cases {
            assert_eq!(text(v), want, "{v:?}");
        }
        assert_eq!(plain("a\n```\nb"), "a ''' b");
        let cases = [
            ("tag `v1` is missing", "tag `v1` is missing"),
            (
                "set `revision-check: warn`.",
                "set `revision-check: warn`\\.",
            ),
            ("odd ` tick", "odd \\` tick"),
            ("`a|b` <b>", "`a\\|b` \\<b\\>"),
        ];
        for (v, want) in cases {
            assert_eq!(prose(v), want, "{v:?}");
        }
        assert_eq!(code(&"x".repeat(5000)).len(), 1002);
    }

    #[test]
    fn hostile_values_cannot_break_the_summary() {
        let evil = "x`|</details>\n\n# heading\n```\n[link](http://evil)";
        let r = Report {
            kind: Kind::Resolve,
            outcome: Outcome::Failed,
            reason: Some(evil.into()),
            images: vec![ImageRow {
                name: Some(evil.into()),
                label: Some(evil.into()),
                error: Some(evil.into()),
                image_id: Some(evil.into()),
                revision: RevisionShown::Mismatch,
                ..row()
            }],
            notes: vec![evil.into()],
            links: links(),
            ..Default::default()
        };
        let s = render(&r);
        // the only fence and the only HTML lines are ours, no line starts a heading
        assert_eq!(s.matches("```").count(), 2, "{s}");
        let html: Vec<&str> = s
            .lines()
            .filter(|l| l.trim_start().starts_with('<'))
            .collect();
        assert_eq!(
            html,
            ["<details><summary>Full references</summary>", "</details>"],
            "{s}"
        );
        assert!(!s.lines().skip(1).any(|l| l.starts_with('#')), "{s}");
        // outside code, the link is escaped text
        let prose: String = s
            .split("```")
            .step_by(2)
            .flat_map(|part| {
                part.replace("\\`", "")
                    .split('`')
                    .step_by(2)
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(
            !prose.contains("](http://evil") && prose.contains("\\]\\(http"),
            "{prose}"
        );
        // the table is two header lines and one row, each with the same number of cells
        let rows: Vec<&str> = s.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 3, "{s}");
        let cells = |l: &str| l.replace("\\|", "").matches('|').count();
        assert!(rows.iter().all(|l| cells(l) == cells(rows[0])), "{s}");
    }

    #[test]
    fn durations_and_references() {
        for (ms, want) in [
            (0, "0 ms"),
            (999, "999 ms"),
            (1000, "1.0 s"),
            (59_949, "59.9 s"),
            (65_000, "1 min 05 s"),
        ] {
            assert_eq!(human_duration(Duration::from_millis(ms)), want);
        }
        for (r, want) in [
            ("ghcr.io/a/b:v1", "ghcr.io/a/b"),
            ("localhost:5000/a/b:v1", "localhost:5000/a/b"),
            ("localhost:5000/a/b", "localhost:5000/a/b"),
            ("a/b@sha256:00", "a/b"),
        ] {
            assert_eq!(repository_of(r), want);
        }
        assert_eq!(short_digest("sha256:abc"), "sha256:abc");
        assert_eq!(short_label(SHA), "1a2b3c4");
    }
}

//! Inputs: read with envy from `INPUT_<NAME>` (hyphens kept), validated into a `Config`.

use crate::core::credentials::Secret;
use crate::core::plan::{ImageSpec, TagPolicy};
use crate::core::platform::Platform;
use crate::core::promote::{check_line, lines};
use crate::core::reference::{is_valid_tag, ImageRef, RefError};
use crate::core::revision::RevisionCheck;
use crate::core::tag::Sanitize;
use crate::core::tree::parse_paths;
use crate::core::Sha;
use serde::Deserialize;
use std::time::Duration;

pub use crate::core::plan::{
    AttestationPolicy as Attestation, AttestationRunner, Fallback, Mode, PromoteSource, Scope,
};

/// Every input of the contract, as the runner names them. action.yml is checked against this list.
pub const INPUT_NAMES: [&str; 38] = [
    "image",
    "images",
    "sha",
    "allow-forks",
    "summary",
    "promote-to",
    "promote-source",
    "promote-username",
    "promote-password",
    "attestation",
    "attestation-workflow",
    "tag",
    "mode",
    "pr-tag",
    "branch-tag",
    "sha-length",
    "sanitize",
    "revision-check",
    "local-tag",
    "registry-username",
    "registry-password",
    "github-token",
    "fallback",
    "artifact-name",
    "artifact-file",
    "run-id",
    "retries",
    "wait-timeout",
    "platform",
    "allow-failed-upstream",
    "attestation-runner",
    "paths",
    "tree-tag",
    "dry-run",
    "clean-after",
    "keep",
    "insecure-registries",
    "pull-with",
];

/// The inputs as strings; an empty value means "not set", as the runner passes unset inputs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawInputs {
    pub image: Option<String>,
    pub images: Option<String>,
    pub sha: Option<String>,
    pub allow_forks: Option<String>,
    pub summary: Option<String>,
    pub promote_to: Option<String>,
    pub promote_source: Option<String>,
    pub promote_username: Option<String>,
    pub promote_password: Option<String>,
    pub attestation: Option<String>,
    pub attestation_workflow: Option<String>,
    pub tag: Option<String>,
    pub mode: Option<String>,
    pub pr_tag: Option<String>,
    pub branch_tag: Option<String>,
    pub sha_length: Option<String>,
    pub sanitize: Option<String>,
    pub revision_check: Option<String>,
    pub local_tag: Option<String>,
    pub registry_username: Option<String>,
    pub registry_password: Option<String>,
    pub github_token: Option<String>,
    pub fallback: Option<String>,
    pub artifact_name: Option<String>,
    pub artifact_file: Option<String>,
    pub run_id: Option<String>,
    pub retries: Option<String>,
    pub wait_timeout: Option<String>,
    pub platform: Option<String>,
    pub allow_failed_upstream: Option<String>,
    pub attestation_runner: Option<String>,
    pub paths: Option<String>,
    pub tree_tag: Option<String>,
    pub dry_run: Option<String>,
    pub clean_after: Option<String>,
    pub keep: Option<String>,
    pub insecure_registries: Option<String>,
    pub pull_with: Option<String>,
}

impl RawInputs {
    /// From `INPUT_*` variables; envy lower-cases names, and serde's kebab-case keeps the hyphens.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<RawInputs, envy::Error> {
        envy::prefixed("INPUT_").from_iter(vars)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub images: Vec<ImageSpec>,
    /// `image` or `images`: every "one image or several" follows this.
    pub scope: Scope,
    pub mode: Mode,
    pub policy: TagPolicy,
    pub revision_check: RevisionCheck,
    pub registry_username: Option<String>,
    pub registry_password: Option<Secret>,
    pub github_token: Option<Secret>,
    pub fallback: Fallback,
    pub run_id: Option<u64>,
    pub retries: u32,
    pub wait_timeout: Duration,
    pub platform: Option<Platform>,
    pub summary: bool,
    pub promote_to: Vec<String>,
    pub promote_source: PromoteSource,
    pub promote_username: Option<String>,
    pub promote_password: Option<Secret>,
    pub attestation: Attestation,
    pub attestation_workflow: Option<String>,
    pub attestation_runner: AttestationRunner,
    /// Clean mode's inputs (their defaults in other modes, where they are refused).
    pub clean: CleanInputs,
    /// What a person should know about how the inputs were read (e.g. a repository lower-cased).
    pub notices: Vec<String>,
    /// Who downloads in pull mode.
    pub pull_with: PullWith,
    /// `host[:port]`s reached over plain HTTP although not on loopback, as the references name them.
    pub insecure_registries: Vec<String>,
}

/// The `pull-with` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullWith {
    /// The client for registries in `insecure-registries`, else the daemon.
    Auto,
    Daemon,
    Client,
}

impl Config {
    /// Whether the action itself fetches the blobs of an image on `registry` (`host[:port]`).
    pub fn pulls_by_client(&self, registry: &str) -> bool {
        match self.pull_with {
            PullWith::Daemon => false,
            PullWith::Client => true,
            PullWith::Auto => self.is_insecure(registry),
        }
    }

    /// Listed in `insecure-registries`: plain HTTP, reached directly.
    pub fn is_insecure(&self, registry: &str) -> bool {
        self.insecure_registries
            .iter()
            .any(|r| r.eq_ignore_ascii_case(registry))
    }
}

/// `insecure-registries`: `host[:port]` words, space- or line-separated, exactly as image
/// references name registries (no scheme, no path).
fn insecure_registries(v: Option<String>) -> Result<Vec<String>, InputError> {
    let Some(v) = set(v) else {
        return Ok(Vec::new());
    };
    let mut out: Vec<String> = Vec::new();
    for word in v.split_whitespace() {
        let (host, port) = match word.strip_prefix('[') {
            // `[::1]:5000`
            Some(rest) => match rest.split_once(']') {
                Some((ip, "")) => (ip, None),
                Some((ip, p)) => (ip, p.strip_prefix(':').or(Some(""))),
                None => ("", None),
            },
            None => match word.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (word, None),
            },
        };
        let ipv6 = word.starts_with('[');
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') || (ipv6 && b == b':')
            });
        let port_ok = port.is_none_or(|p| p.len() <= 5 && p.parse::<u16>().is_ok_and(|n| n > 0));
        if !host_ok || !port_ok {
            let shown: String = word.chars().take(80).collect();
            return Err(bad(
                "insecure-registries",
                format!("`{shown}` is not a `host[:port]`: name each registry as the image reference does, without a scheme or path (e.g. `registry:5000`)"),
            ));
        }
        if !out.iter().any(|r| r.eq_ignore_ascii_case(word)) {
            out.push(word.to_string());
        }
    }
    Ok(out)
}

/// `clean-after` (seconds), `keep` (patterns), `dry-run`, and `tree-tag` (kept by clean mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanInputs {
    pub clean_after: u64,
    pub keep: Vec<String>,
    pub dry_run: bool,
    pub tree_tag: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input `{input}`: {problem}")]
pub struct InputError {
    pub input: &'static str,
    pub problem: String,
}

fn bad(input: &'static str, problem: impl Into<String>) -> InputError {
    InputError {
        input,
        problem: problem.into(),
    }
}

fn set(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

fn choice<T: Copy>(
    input: &'static str,
    v: Option<String>,
    default: T,
    options: &[(&str, T)],
) -> Result<T, InputError> {
    let Some(v) = set(v) else { return Ok(default) };
    let v = v.trim().to_ascii_lowercase();
    options
        .iter()
        .find(|(name, _)| *name == v)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            bad(input, format!("`{v}` is not one of {}", names.join(", ")))
        })
}

fn number(
    input: &'static str,
    v: Option<String>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, InputError> {
    let Some(v) = set(v) else { return Ok(default) };
    let n: u64 = v
        .trim()
        .parse()
        .map_err(|_| bad(input, format!("`{}` is not a whole number", v.trim())))?;
    if !range.contains(&n) {
        return Err(bad(
            input,
            format!("{n} is outside {}..={}", range.start(), range.end()),
        ));
    }
    Ok(n)
}

/// Values go into tags, file names and output files: no line breaks, ever.
fn single_line(input: &'static str, v: Option<String>) -> Result<Option<String>, InputError> {
    match set(v) {
        Some(s) if s.contains(['\n', '\r', '\0']) => {
            Err(bad(input, "contains a line break; it must be one line"))
        }
        Some(s) => Ok(Some(s.trim().to_string())),
        None => Ok(None),
    }
}

/// actions/toolkit's `getBooleanInput`: the YAML 1.2 core schema's six spellings, nothing else.
fn boolean(input: &'static str, v: Option<String>, default: bool) -> Result<bool, InputError> {
    let Some(v) = set(v) else { return Ok(default) };
    match v.trim() {
        "true" | "True" | "TRUE" => Ok(true),
        "false" | "False" | "FALSE" => Ok(false),
        other => Err(bad(
            input,
            format!("`{other}` is not a boolean: use true or false"),
        )),
    }
}

/// Workflow expressions cannot lower-case `github.repository`, so `ghcr.io/${{ github.repository }}`
/// arrives as `ghcr.io/Acme/App`: lower-case the repository (never the tag) and say so.
fn image_ref(
    input: &'static str,
    text: &str,
    notices: &mut Vec<String>,
) -> Result<ImageRef, InputError> {
    match ImageRef::parse(text) {
        Err(RefError::UpperCase(_)) => {
            let (rest, digest) = match text.split_once('@') {
                Some((r, d)) => (r, Some(d)),
                None => (text, None),
            };
            let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
            let at = rest[last_slash..]
                .rfind(':')
                .map(|i| last_slash + i)
                .unwrap_or(rest.len());
            let lowered = format!(
                "{}{}{}",
                rest[..at].to_ascii_lowercase(),
                &rest[at..],
                digest.map(|d| format!("@{d}")).unwrap_or_default()
            );
            let r = ImageRef::parse(&lowered).map_err(|e| bad(input, e.to_string()))?;
            notices.push(format!(
                "input `{input}`: `{}` has upper-case letters; using `{}` (repository names are lower-case)",
                &rest[..at],
                r.repository
            ));
            Ok(r)
        }
        r => r.map_err(|e| bad(input, e.to_string())),
    }
}

fn is_valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// `image`, or `images`' lines (`name=repository` or `repository`, named after its last segment).
fn image_specs(
    image: Option<String>,
    images: Option<String>,
    paths: &[String],
    notices: &mut Vec<String>,
) -> Result<(Vec<ImageSpec>, Scope), InputError> {
    let image = single_line("image", image)?;
    let images = set(images);
    match (image, images) {
        (Some(_), Some(_)) => Err(bad("images", "is set, and so is `image`: set one of them")),
        (None, None) => Err(bad(
            "image",
            "is required (or `images`): the repository, e.g. ghcr.io/acme/app",
        )),
        (Some(text), None) => {
            let image = image_ref("image", &text, notices)?;
            let name = last_segment(&image.repository);
            let paths = paths.to_vec();
            Ok((vec![ImageSpec { name, image, paths }], Scope::One))
        }
        (None, Some(lines)) => {
            let mut specs: Vec<ImageSpec> = Vec::new();
            for line in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
                images_line_shape(line)?;
                let (name, rest) = match line.split_once('=') {
                    Some((n, r)) => (Some(n.trim().to_string()), r.trim()),
                    None => (None, line),
                };
                // the repository, then the line's own paths, if any
                let (text, own) = rest
                    .split_once(char::is_whitespace)
                    .map_or((rest, ""), |(t, p)| (t, p));
                let own = parse_paths(own)
                    .map_err(|e| bad("images", format!("line `{line}`: its paths: {e}")))?;
                let image = image_ref("images", text, notices).map_err(|e| {
                    bad(
                        "images",
                        format!("line `{line}`: {}; {IMAGES_FORM}", e.problem),
                    )
                })?;
                let name = name.unwrap_or_else(|| last_segment(&image.repository));
                if !is_valid_name(&name) {
                    return Err(bad(
                        "images",
                        format!("line `{line}`: name `{name}` may hold only letters, digits, `.`, `_` and `-`; {IMAGES_FORM}"),
                    ));
                }
                if specs.iter().any(|s| s.name == name) {
                    return Err(bad(
                        "images",
                        format!(
                            "name `{name}` is used twice: give each line its own `name=repository`"
                        ),
                    ));
                }
                let paths = if own.is_empty() { paths.to_vec() } else { own };
                specs.push(ImageSpec { name, image, paths });
            }
            if specs.is_empty() {
                return Err(bad("images", "has no image lines"));
            }
            Ok((specs, Scope::Keyed))
        }
    }
}

/// What an `images` line looks like, for every error about one.
const IMAGES_FORM: &str =
    "write one image a line, `name=repository` or `repository` (e.g. `api=ghcr.io/acme/api`)";

/// Lines written for another syntax, told apart before they are read as a repository: a JSON or
/// YAML mapping, docker/metadata-action's `name=…,enable=…`, the documentation's placeholder.
fn images_line_shape(line: &str) -> Result<(), InputError> {
    let problem = if line.starts_with(['{', '[']) {
        "is JSON".to_string()
    } else if line.contains(',') && line.contains('=') {
        "looks like docker/metadata-action's `images` (`name=…,enable=…`), which this input does not read".into()
    } else if line.starts_with("name=") {
        "uses the placeholder `name`: put the image's own name before `=` (e.g. `api=ghcr.io/acme/api`), or the repository alone".into()
    } else if line
        .split_once(':')
        .is_some_and(|(k, v)| (v.starts_with(' ') || v.is_empty()) && !k.contains(['/', '=', '@']))
    {
        "is YAML (`name: repository`)".into()
    } else {
        return Ok(());
    };
    Err(bad(
        "images",
        format!("line `{line}` {problem}; {IMAGES_FORM}"),
    ))
}

fn last_segment(repository: &str) -> String {
    repository
        .rsplit('/')
        .next()
        .unwrap_or(repository)
        .to_string()
}

/// `tag`: a valid tag, and not beside an `image` that already names one.
fn tag(v: Option<String>, image_is_full: bool) -> Result<Option<String>, InputError> {
    let tag = single_line("tag", v)?;
    if let Some(t) = &tag {
        if !is_valid_tag(t) {
            return Err(bad(
                "tag",
                format!("`{t}` is not a valid tag: [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}"),
            ));
        }
        if image_is_full {
            return Err(bad(
                "tag",
                "is set, but `image` already carries a tag or digest: set one of them",
            ));
        }
    }
    Ok(tag)
}

fn sha(v: Option<String>) -> Result<Option<Sha>, InputError> {
    single_line("sha", v)?
        .map(|s| {
            Sha::parse(&s).ok_or_else(|| {
                bad(
                    "sha",
                    format!("`{s}` is not a full commit SHA (40 hex digits)"),
                )
            })
        })
        .transpose()
}

/// `local-tag`: a template with `{name}` when several images share it; a plain name is checked
/// now, a template when it is rendered.
fn local_tag(v: Option<String>, images: usize) -> Result<Option<String>, InputError> {
    let local_tag = single_line("local-tag", v)?;
    if let Some(t) = &local_tag {
        if images > 1 && !t.contains("{name}") {
            return Err(bad(
                "local-tag",
                format!("`{t}` would name every image alike: use `{{name}}` in it, e.g. `{{name}}:local`"),
            ));
        }
        if !t.contains('{') {
            let r = ImageRef::parse(t).map_err(|e| bad("local-tag", e.to_string()))?;
            if r.digest.is_some() {
                return Err(bad(
                    "local-tag",
                    "must be a name and tag such as app:local, not a digest",
                ));
            }
        }
    }
    Ok(local_tag)
}

fn platform(v: Option<String>) -> Result<Option<Platform>, InputError> {
    single_line("platform", v)?
        .map(|s| {
            Platform::parse(&s).ok_or_else(|| {
                bad(
                    "platform",
                    format!("`{s}` is not os/arch[/variant], e.g. linux/amd64"),
                )
            })
        })
        .transpose()
}

/// `promote-to`: one target a line, blank lines ignored, each line's shape checked now (before
/// any network call); required in promote mode.
fn promote_to(
    v: Option<String>,
    mode: Mode,
    source: PromoteSource,
) -> Result<Vec<String>, InputError> {
    let targets = set(v).map(|v| lines(&v)).unwrap_or_default();
    if let Some(line) = targets.iter().find(|l| crate::core::promote::host_only(l)) {
        return Err(bad(
            "promote-to",
            format!("line `{line}` names only a registry host, no repository: write `host[:port]/repository:tag` (as a reference, `{line}` would be a Docker Hub repository)"),
        ));
    }
    // `promote-source: tree` always promotes to this commit's tag: targets are optional there
    if mode == Mode::Promote && targets.is_empty() && source != PromoteSource::Tree {
        return Err(bad(
            "promote-to",
            "is empty, and `mode: promote` needs at least one target reference",
        ));
    }
    for line in &targets {
        check_line(line).map_err(|e| {
            let text = e.to_string();
            bad(
                "promote-to",
                text.strip_prefix("`promote-to` ").unwrap_or(&text),
            )
        })?;
    }
    Ok(targets)
}

/// `tree-tag`: a tag template that names the content, so that two trees never share a tag.
fn tree_tag(v: Option<String>) -> Result<String, InputError> {
    let t = single_line("tree-tag", v)?.unwrap_or_else(|| "tree-{tree}".into());
    if !t.contains("{tree}") {
        return Err(bad(
            "tree-tag",
            format!("`{t}` does not use `{{tree}}`: every content would get the same tag; e.g. `tree-{{tree}}`"),
        ));
    }
    Ok(t)
}

/// Clean mode's own inputs, given in another mode: a workflow that sets them expects a clean-up
/// that would not happen.
fn clean_only(
    clean_after: &Option<String>,
    keep: &Option<String>,
    mode: Mode,
) -> Result<(), InputError> {
    if mode == Mode::Clean {
        return Ok(());
    }
    for (input, value, default) in [
        ("clean-after", clean_after, "24h"),
        ("keep", keep, "latest"),
    ] {
        if let Some(v) = set(value.clone()).filter(|v| v.trim() != default) {
            return Err(bad(
                input,
                format!(
                    "`{}` applies to `mode: clean` only: remove `{input}` here",
                    v.trim()
                ),
            ));
        }
    }
    Ok(())
}

fn clean_inputs(
    clean_after: &Option<String>,
    keep: &Option<String>,
    dry_run: &Option<String>,
    tree_tag: String,
) -> Result<CleanInputs, InputError> {
    use crate::core::clean::{parse_clean_after, parse_keep};
    Ok(CleanInputs {
        clean_after: match set(clean_after.clone()) {
            Some(v) => parse_clean_after(&v).map_err(|e| bad("clean-after", e))?,
            None => 86_400,
        },
        keep: match set(keep.clone()) {
            Some(v) => parse_keep(&v).map_err(|e| bad("keep", e))?,
            None => vec!["latest".into()],
        },
        dry_run: boolean("dry-run", dry_run.clone(), false)?,
        tree_tag,
    })
}

/// Registries clean mode cannot delete from: refused before any work, so nothing is half
/// removed. (ghcr.io deletes through the GitHub Packages API: see flow/clean.rs.)
fn clean_registries(images: &[ImageSpec]) -> Result<(), InputError> {
    for spec in images {
        let host = spec.image.registry();
        let why = match host {
            "docker.io" => {
                "Docker Hub deletes only through its own API, which this version does not use"
            }
            _ => continue,
        };
        return Err(bad(
            "image",
            format!(
                "`{}`: {why}; clean this repository with another tool for now",
                spec.image.repository
            ),
        ));
    }
    Ok(())
}

impl Config {
    pub fn from_raw(raw: RawInputs) -> Result<Config, InputError> {
        let mut notices = Vec::new();
        let paths = set(raw.paths)
            .map(|p| parse_paths(&p).map_err(|e| bad("paths", e)))
            .transpose()?
            .unwrap_or_default();
        let (images, scope) = image_specs(raw.image, raw.images, &paths, &mut notices)?;
        let tree_tag = tree_tag(raw.tree_tag)?;
        let tag = tag(raw.tag, images.iter().any(|i| i.image.is_full()))?;
        let sha = sha(raw.sha)?;
        let local_tag = local_tag(raw.local_tag, images.len())?;
        let platform = platform(raw.platform)?;
        let run_id = match single_line("run-id", raw.run_id)? {
            Some(s) => Some(number("run-id", Some(s), 0, 1..=u64::MAX)?),
            None => None,
        };
        let mode = choice(
            "mode",
            raw.mode,
            Mode::Pull,
            &[
                ("pull", Mode::Pull),
                ("verify", Mode::Verify),
                ("compute", Mode::Compute),
                ("promote", Mode::Promote),
                ("clean", Mode::Clean),
            ],
        )?;
        clean_only(&raw.clean_after, &raw.keep, mode)?;
        let clean = clean_inputs(&raw.clean_after, &raw.keep, &raw.dry_run, tree_tag.clone())?;
        if clean.dry_run && !matches!(mode, Mode::Promote | Mode::Clean) {
            return Err(bad(
                "dry-run",
                "`true` applies to `mode: promote` and `mode: clean` only, where something is written: remove `dry-run` here (or set it to `false`)",
            ));
        }
        if mode == Mode::Clean {
            clean_registries(&images)?;
        }
        let promote_source = choice(
            "promote-source",
            raw.promote_source,
            PromoteSource::Commit,
            &[
                ("commit", PromoteSource::Commit),
                ("merged-pr", PromoteSource::MergedPr),
                ("tree", PromoteSource::Tree),
            ],
        )?;
        if promote_source == PromoteSource::Tree && images.iter().any(|i| i.paths.is_empty()) {
            return Err(bad(
                "promote-source",
                "`tree` finds an image by the files it is built from: set `paths` (or each `images` line's own paths)",
            ));
        }
        let promote_to = promote_to(raw.promote_to, mode, promote_source)?;
        let policy = TagPolicy {
            tag,
            sha,
            pr_tag: single_line("pr-tag", raw.pr_tag)?
                .unwrap_or_else(|| "pr-{pr}-{short_sha}".into()),
            branch_tag: single_line("branch-tag", raw.branch_tag)?
                .unwrap_or_else(|| "{branch}-{short_sha}".into()),
            sha_length: number("sha-length", raw.sha_length, 7, 4..=40)? as usize,
            sanitize: choice(
                "sanitize",
                raw.sanitize,
                Sanitize::Strict,
                &[
                    ("strict", Sanitize::Strict),
                    ("metadata-action", Sanitize::MetadataAction),
                ],
            )?,
            allow_failed_upstream: boolean(
                "allow-failed-upstream",
                raw.allow_failed_upstream,
                false,
            )?,
            allow_forks: boolean("allow-forks", raw.allow_forks, false)?,
            local_tag,
            artifact_name: single_line("artifact-name", raw.artifact_name)?,
            artifact_file: single_line("artifact-file", raw.artifact_file)?,
            tree_tag,
        };
        Ok(Config {
            images,
            scope,
            mode,
            policy,
            revision_check: choice(
                "revision-check",
                raw.revision_check,
                RevisionCheck::Fail,
                &[
                    ("fail", RevisionCheck::Fail),
                    ("warn", RevisionCheck::Warn),
                    ("off", RevisionCheck::Off),
                ],
            )?,
            registry_username: single_line("registry-username", raw.registry_username)?,
            registry_password: set(raw.registry_password).map(Secret::new),
            github_token: set(raw.github_token).map(|t| Secret::new(t.trim())),
            fallback: choice(
                "fallback",
                raw.fallback,
                Fallback::Artifact,
                &[("artifact", Fallback::Artifact), ("none", Fallback::None)],
            )?,
            run_id,
            retries: number("retries", raw.retries, 3, 1..=20)? as u32,
            wait_timeout: Duration::from_secs(number(
                "wait-timeout",
                raw.wait_timeout,
                0,
                0..=6 * 3600,
            )?),
            platform,
            summary: boolean("summary", raw.summary, true)?,
            promote_to,
            promote_source,
            promote_username: single_line("promote-username", raw.promote_username)?,
            promote_password: set(raw.promote_password).map(Secret::new),
            attestation: choice(
                "attestation",
                raw.attestation,
                Attestation::Off,
                &[
                    ("off", Attestation::Off),
                    ("warn", Attestation::Warn),
                    ("fail", Attestation::Fail),
                ],
            )?,
            attestation_workflow: single_line("attestation-workflow", raw.attestation_workflow)?,
            attestation_runner: choice(
                "attestation-runner",
                raw.attestation_runner,
                AttestationRunner::Any,
                &[
                    ("any", AttestationRunner::Any),
                    ("github-hosted", AttestationRunner::GitHubHosted),
                ],
            )?,
            clean,
            notices,
            pull_with: choice(
                "pull-with",
                raw.pull_with,
                PullWith::Auto,
                &[
                    ("auto", PullWith::Auto),
                    ("daemon", PullWith::Daemon),
                    ("client", PullWith::Client),
                ],
            )?,
            insecure_registries: insecure_registries(raw.insecure_registries)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), v.to_string()))
            .collect()
    }

    fn config(pairs: &[(&str, &str)]) -> Result<Config, InputError> {
        Config::from_raw(RawInputs::from_vars(vars(pairs)).unwrap())
    }

    #[test]
    fn every_input_name_reaches_its_field() {
        // hyphens kept, as the runner passes them: INPUT_GITHUB-TOKEN
        let all: Vec<(&str, &str)> = INPUT_NAMES.iter().map(|n| (*n, "x")).collect();
        let raw = RawInputs::from_vars(vars(&all)).unwrap();
        let debug = format!("{raw:?}");
        assert_eq!(
            debug.matches("Some(\"x\")").count(),
            INPUT_NAMES.len(),
            "{debug}"
        );
        assert!(vars(&[("github-token", "t")])[0].0 == "INPUT_GITHUB-TOKEN");
    }

    #[test]
    fn mode_bound_inputs_take_only_their_defaults_elsewhere() {
        let image = ("image", "ghcr.io/acme/charon");
        for (input, default) in [
            ("dry-run", "false"),
            ("clean-after", "24h"),
            ("keep", "latest"),
        ] {
            assert!(
                config(&[image, (input, default)]).is_ok(),
                "{input}: {default}"
            );
        }
        // clean mode on ghcr.io goes through the GitHub Packages API
        assert!(config(&[image, ("mode", "clean")]).is_ok());
        // outside clean mode its inputs stay refused; a dry run is for promote and clean modes
        let e = config(&[image, ("dry-run", "true")]).unwrap_err();
        assert_eq!(e.input, "dry-run");
        assert!(e.problem.contains("`mode: promote`"), "{e}");
        let c = config(&[
            image,
            ("mode", "promote"),
            ("promote-to", "ghcr.io/acme/charon:next"),
            ("dry-run", "true"),
        ])
        .unwrap();
        assert!(c.clean.dry_run);
        let e = config(&[image, ("keep", "v*")]).unwrap_err();
        assert_eq!(e.input, "keep");
        assert!(e.problem.contains("`mode: clean` only"), "{e}");
        let e = config(&[image, ("clean-after", "0")]).unwrap_err();
        assert_eq!(e.input, "clean-after");
        assert!(config(&[
            image,
            ("mode", "clean"),
            ("keep", "v*"),
            ("clean-after", "0")
        ])
        .is_ok());
    }

    #[test]
    fn pull_with_and_insecure_registries() {
        let image = ("image", "registry:5000/acme/app");
        let c = config(&[image]).unwrap();
        assert_eq!(c.pull_with, PullWith::Auto);
        assert!(!c.pulls_by_client("registry:5000"));
        let c = config(&[
            image,
            (
                "insecure-registries",
                "registry:5000\n  mirror.local [::1]:5001 registry:5000",
            ),
        ])
        .unwrap();
        assert_eq!(
            c.insecure_registries,
            ["registry:5000", "mirror.local", "[::1]:5001"]
        );
        // auto: the client for a listed registry only, by the name the reference uses
        assert!(c.pulls_by_client("registry:5000") && c.pulls_by_client("REGISTRY:5000"));
        assert!(!c.pulls_by_client("registry") && !c.pulls_by_client("ghcr.io"));
        let c = config(&[image, ("pull-with", "client")]).unwrap();
        assert!(c.pulls_by_client("ghcr.io"));
        let c = config(&[
            image,
            ("pull-with", "Daemon"),
            ("insecure-registries", "registry:5000"),
        ])
        .unwrap();
        assert!(!c.pulls_by_client("registry:5000") && c.is_insecure("registry:5000"));
        let e = config(&[image, ("pull-with", "fast")]).unwrap_err();
        assert_eq!(e.input, "pull-with");
        assert!(e.problem.contains("daemon, client"), "{e}");
        for word in [
            "http://registry:5000",
            "registry:5000/v2",
            "registry:",
            "registry:99999",
            "a:b:c",
            "[::1",
            ":5000",
        ] {
            let e = config(&[image, ("insecure-registries", word)]).unwrap_err();
            assert_eq!(e.input, "insecure-registries", "{word}");
            assert!(
                e.problem.contains(&format!("`{word}`")) && e.problem.contains("`registry:5000`"),
                "{e}"
            );
        }
    }

    #[test]
    fn clean_mode_reads_its_inputs() {
        let image = ("image", "localhost:5000/acme/charon");
        let c = config(&[
            image,
            ("mode", "clean"),
            ("clean-after", "3d"),
            ("keep", "latest v*"),
            ("dry-run", "true"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::Clean);
        assert_eq!(
            c.clean,
            CleanInputs {
                clean_after: 3 * 86_400,
                keep: vec!["latest".into(), "v*".into()],
                dry_run: true,
                tree_tag: "tree-{tree}".into(),
            }
        );
        let e = config(&[image, ("mode", "clean"), ("clean-after", "1w")]).unwrap_err();
        assert_eq!(e.input, "clean-after");
        assert!(e.problem.starts_with("`1w` is not a duration"), "{e}");
        let e = config(&[image, ("mode", "clean"), ("keep", "a:b")]).unwrap_err();
        assert_eq!(e.input, "keep");
        let e = config(&[("image", "docker.io/acme/x"), ("mode", "clean")]).unwrap_err();
        assert!(e.problem.contains("Docker Hub"), "{e}");
    }

    #[test]
    fn defaults() {
        let c = config(&[("image", "ghcr.io/acme/charon"), ("tag", ""), ("mode", "")]).unwrap();
        assert_eq!(
            (c.mode, c.fallback, c.revision_check, c.policy.sanitize),
            (
                Mode::Pull,
                Fallback::Artifact,
                RevisionCheck::Fail,
                Sanitize::Strict
            )
        );
        let p = &c.policy;
        assert_eq!(
            (p.pr_tag.as_str(), p.branch_tag.as_str()),
            ("pr-{pr}-{short_sha}", "{branch}-{short_sha}")
        );
        assert_eq!(
            (p.sha_length, c.retries, c.wait_timeout),
            (7, 3, Duration::ZERO)
        );
        assert_eq!(
            (
                &p.tag,
                &p.local_tag,
                &c.platform,
                c.run_id,
                p.allow_failed_upstream,
                p.allow_forks
            ),
            (&None, &None, &None, None, false, false)
        );
        assert!(c.summary && c.scope == Scope::One);
        assert_eq!(
            (c.attestation, c.promote_source),
            (Attestation::Off, PromoteSource::Commit)
        );
        assert_eq!(c.images[0].name, "charon");
    }

    #[test]
    fn parses_values() {
        let c = config(&[
            ("image", "127.0.0.1:5000/acme/charon"),
            ("mode", "Verify"),
            ("sha-length", "12"),
            ("sanitize", "metadata-action"),
            ("revision-check", "warn"),
            ("local-tag", "charon:local"),
            ("fallback", "none"),
            ("run-id", "123"),
            ("retries", "5"),
            ("wait-timeout", "30"),
            ("platform", "linux/arm64/v8"),
            ("allow-failed-upstream", "True"),
            ("allow-forks", "TRUE"),
            ("summary", "false"),
            ("sha", "0123456789ABCDEF0123456789abcdef01234567"),
            ("attestation", "warn"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::Verify);
        assert_eq!(c.policy.sha_length, 12);
        assert_eq!(c.policy.local_tag.as_deref(), Some("charon:local"));
        assert_eq!(
            (c.run_id, c.retries, c.wait_timeout.as_secs()),
            (Some(123), 5, 30)
        );
        assert_eq!(c.platform.unwrap().to_string(), "linux/arm64/v8");
        assert!(c.policy.allow_failed_upstream && c.policy.allow_forks && !c.summary);
        assert_eq!(
            c.policy.sha.unwrap().as_str(),
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(c.attestation, Attestation::Warn);
    }

    #[test]
    fn several_images() {
        let c = config(&[(
            "images",
            "\n  api = ghcr.io/acme/api \n\nghcr.io/acme/worker\nmig=ghcr.io/acme/db-migrations:v3\n",
        )])
        .unwrap();
        let names: Vec<(&str, String)> = c
            .images
            .iter()
            .map(|i| (i.name.as_str(), i.image.to_string()))
            .collect();
        assert_eq!(
            names,
            [
                ("api", "ghcr.io/acme/api".to_string()),
                ("worker", "ghcr.io/acme/worker".into()),
                ("mig", "ghcr.io/acme/db-migrations:v3".into())
            ]
        );
        assert_eq!(c.scope, Scope::Keyed);
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                &[("image", "a"), ("images", "b")],
                "images",
                "set one of them",
            ),
            (&[("images", "x=a\nx=b")], "images", "`x` is used twice"),
            (
                &[("images", "a/api\nb/api")],
                "images",
                "`api` is used twice",
            ),
            (&[("images", "a b=c")], "images", "`a b`"),
            (&[("images", "\n \n")], "image", "required"),
            (
                &[("images", "a\nb"), ("local-tag", "app:local")],
                "local-tag",
                "{name}",
            ),
        ];
        for (pairs, input, needle) in cases {
            let e = config(pairs).expect_err(input);
            assert_eq!(e.input, *input, "{e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
        assert!(config(&[("images", "a\nb"), ("local-tag", "{name}:local")]).is_ok());
    }

    #[test]
    fn mixed_case_repositories_are_lower_cased_with_a_notice() {
        let c = config(&[("image", "ghcr.io/Acme/Charon:Feature-X")]).unwrap();
        assert_eq!(
            c.images[0].image.to_string(),
            "ghcr.io/acme/charon:Feature-X"
        );
        assert_eq!(c.notices.len(), 1);
        assert!(
            c.notices[0].contains("`ghcr.io/Acme/Charon`"),
            "{:?}",
            c.notices
        );
        assert!(config(&[("image", "ghcr.io/acme/charon")])
            .unwrap()
            .notices
            .is_empty());
    }

    #[test]
    fn rejects_bad_inputs() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (&[], "image", "required"),
            (&[("image", "ghcr.io/acme/x@sha256:zz")], "image", "digest"),
            (
                &[("image", "a"), ("tag", "bad tag")],
                "tag",
                "not a valid tag",
            ),
            (
                &[("image", "a"), ("tag", "v1\nimage<<EOF")],
                "tag",
                "line break",
            ),
            (
                &[("image", "a:v1"), ("tag", "v2")],
                "tag",
                "already carries",
            ),
            (
                &[("image", "a"), ("local-tag", "app:local\nx")],
                "local-tag",
                "line break",
            ),
            (
                &[("image", "a"), ("mode", "push")],
                "mode",
                "not one of pull, verify, compute, promote",
            ),
            (
                &[("image", "a"), ("mode", "promote")],
                "promote-to",
                "needs at least one",
            ),
            (
                &[("image", "a"), ("sha", "abc")],
                "sha",
                "`abc` is not a full commit SHA",
            ),
            (
                &[("image", "a"), ("allow-forks", "yes")],
                "allow-forks",
                "`yes` is not a boolean",
            ),
            (
                &[("image", "a"), ("sha-length", "3")],
                "sha-length",
                "outside 4..=40",
            ),
            (
                &[("image", "a"), ("sha-length", "seven")],
                "sha-length",
                "not a whole number",
            ),
            (
                &[("image", "a"), ("platform", "amd64")],
                "platform",
                "os/arch",
            ),
            (
                &[("image", "a"), ("allow-failed-upstream", "tRUE")],
                "allow-failed-upstream",
                "not a boolean",
            ),
            (&[("image", "a"), ("run-id", "0")], "run-id", "outside"),
            // a target's shape is checked before any network call
            (
                &[
                    ("image", "a"),
                    ("mode", "promote"),
                    ("promote-to", "a:latest\nb@sha256:00"),
                ],
                "promote-to",
                "input `promote-to`: line `b@sha256:00` names a digest",
            ),
        ];
        for (pairs, input, needle) in cases {
            let e = config(pairs).expect_err(input);
            assert_eq!(e.input, *input, "{e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }

    #[test]
    fn paths_per_image_and_the_tree_source() {
        let c = config(&[
            (
                "images",
                "api=ghcr.io/acme/api services/api libs/common\nghcr.io/acme/web\n",
            ),
            ("paths", "libs/common\nDockerfile"),
            ("tree-tag", "t-{tree}"),
        ])
        .unwrap();
        let paths: Vec<(&str, Vec<&str>)> = c
            .images
            .iter()
            .map(|i| {
                (
                    i.name.as_str(),
                    i.paths.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            paths,
            [
                ("api", vec!["services/api", "libs/common"]),
                ("web", vec!["libs/common", "Dockerfile"])
            ]
        );
        assert_eq!(c.images[0].image.to_string(), "ghcr.io/acme/api");
        assert_eq!(c.policy.tree_tag, "t-{tree}");
        let image = ("image", "ghcr.io/acme/api");
        // promote-to is optional with the tree source, which needs paths
        let c = config(&[
            image,
            ("paths", "a"),
            ("mode", "promote"),
            ("promote-source", "tree"),
        ])
        .unwrap();
        assert_eq!(
            (c.promote_source, c.promote_to.len()),
            (PromoteSource::Tree, 0)
        );
        let e = config(&[image, ("mode", "promote"), ("promote-source", "tree")]).unwrap_err();
        assert_eq!(e.input, "promote-source");
        let e = config(&[image, ("mode", "promote"), ("paths", "a")]).unwrap_err();
        assert_eq!(e.input, "promote-to");
        for (input, value) in [
            ("tree-tag", "fixed"),
            ("paths", "/abs"),
            ("paths", "a/../b"),
            ("paths", "dir/"),
        ] {
            let e = config(&[image, (input, value)]).unwrap_err();
            assert_eq!(e.input, input, "{e}");
        }
        let e = config(&[("images", "api=ghcr.io/acme/api ../x")]).unwrap_err();
        assert!(
            e.problem.contains("line `api=ghcr.io/acme/api ../x`"),
            "{e}"
        );
    }
}

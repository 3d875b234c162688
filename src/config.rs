//! Inputs: read with envy from `INPUT_<NAME>` (hyphens kept), validated into a `Config`.

use crate::core::reference::{is_valid_tag, ImageRef};
use crate::core::revision::RevisionCheck;
use crate::core::tag::Sanitize;
use serde::Deserialize;
use std::time::Duration;

/// Every input of the contract, as the runner names them. action.yml is checked against this list.
pub const INPUT_NAMES: [&str; 20] = [
    "image",
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
];

/// The inputs as strings; an empty value means "not set", as the runner passes unset inputs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RawInputs {
    pub image: Option<String>,
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
}

impl RawInputs {
    /// From `INPUT_*` variables; envy lower-cases names, and serde's kebab-case keeps the hyphens.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<RawInputs, envy::Error> {
        envy::prefixed("INPUT_").from_iter(vars)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pull,
    Verify,
    Compute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Artifact,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub image: ImageRef,
    pub tag: Option<String>,
    pub mode: Mode,
    pub pr_tag: String,
    pub branch_tag: String,
    pub sha_length: usize,
    pub sanitize: Sanitize,
    pub revision_check: RevisionCheck,
    pub local_tag: Option<ImageRef>,
    pub registry_username: Option<String>,
    pub registry_password: Option<String>,
    pub github_token: Option<String>,
    pub fallback: Fallback,
    pub artifact_name: Option<String>,
    pub artifact_file: Option<String>,
    pub run_id: Option<u64>,
    pub retries: u32,
    pub wait_timeout: Duration,
    pub platform: Option<Platform>,
    pub allow_failed_upstream: bool,
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

pub fn parse_platform(s: &str) -> Option<Platform> {
    let parts: Vec<&str> = s.trim().split('/').collect();
    let ok = |p: &&str| {
        !p.is_empty()
            && p.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    };
    match parts.as_slice() {
        [os, arch] if ok(os) && ok(arch) => Some(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: None,
        }),
        [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Some(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: Some(variant.to_string()),
        }),
        _ => None,
    }
}

/// Registry credentials: `registry-username` / `registry-password`; for ghcr.io, GITHUB_ACTOR with
/// `github-token` when none are given (the way docker/login-action is usually fed there).
pub fn registry_credentials(
    cfg: &Config,
    registry: &str,
    actor: Option<&str>,
) -> Option<(String, String)> {
    let ghcr = registry == "ghcr.io";
    match (&cfg.registry_username, &cfg.registry_password) {
        (Some(u), Some(p)) => Some((u.clone(), p.clone())),
        (None, Some(p)) if ghcr => Some((actor?.to_string(), p.clone())),
        (None, None) if ghcr => Some((actor?.to_string(), cfg.github_token.clone()?)),
        _ => None,
    }
}

impl Config {
    pub fn from_raw(raw: RawInputs) -> Result<Config, InputError> {
        let image_text = single_line("image", raw.image)?.ok_or_else(|| {
            bad(
                "image",
                "is required: the repository, e.g. ghcr.io/acme/app",
            )
        })?;
        let image = ImageRef::parse(&image_text).map_err(|e| bad("image", e.to_string()))?;
        let tag = single_line("tag", raw.tag)?;
        if let Some(t) = &tag {
            if !is_valid_tag(t) {
                return Err(bad(
                    "tag",
                    format!("`{t}` is not a valid tag: [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}"),
                ));
            }
            if image.is_full() {
                return Err(bad(
                    "tag",
                    "is set, but `image` already carries a tag or digest: set one of them",
                ));
            }
        }
        let local_tag = match single_line("local-tag", raw.local_tag)? {
            Some(s) => {
                let r = ImageRef::parse(&s).map_err(|e| bad("local-tag", e.to_string()))?;
                if r.digest.is_some() {
                    return Err(bad(
                        "local-tag",
                        "must be a name and tag such as app:local, not a digest",
                    ));
                }
                Some(r)
            }
            None => None,
        };
        let platform = match single_line("platform", raw.platform)? {
            Some(s) => Some(parse_platform(&s).ok_or_else(|| {
                bad(
                    "platform",
                    format!("`{s}` is not os/arch[/variant], e.g. linux/amd64"),
                )
            })?),
            None => None,
        };
        let run_id = match single_line("run-id", raw.run_id)? {
            Some(s) => Some(number("run-id", Some(s), 0, 1..=u64::MAX)?),
            None => None,
        };
        Ok(Config {
            image,
            tag,
            mode: choice(
                "mode",
                raw.mode,
                Mode::Pull,
                &[
                    ("pull", Mode::Pull),
                    ("verify", Mode::Verify),
                    ("compute", Mode::Compute),
                ],
            )?,
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
            local_tag,
            registry_username: single_line("registry-username", raw.registry_username)?,
            registry_password: set(raw.registry_password),
            github_token: set(raw.github_token).map(|t| t.trim().to_string()),
            fallback: choice(
                "fallback",
                raw.fallback,
                Fallback::Artifact,
                &[("artifact", Fallback::Artifact), ("none", Fallback::None)],
            )?,
            artifact_name: single_line("artifact-name", raw.artifact_name)?,
            artifact_file: single_line("artifact-file", raw.artifact_file)?,
            run_id,
            retries: number("retries", raw.retries, 3, 1..=20)? as u32,
            wait_timeout: Duration::from_secs(number(
                "wait-timeout",
                raw.wait_timeout,
                0,
                0..=6 * 3600,
            )?),
            platform,
            allow_failed_upstream: choice(
                "allow-failed-upstream",
                raw.allow_failed_upstream,
                false,
                &[("true", true), ("false", false)],
            )?,
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
    fn defaults() {
        let c = config(&[("image", "ghcr.io/acme/charon"), ("tag", ""), ("mode", "")]).unwrap();
        assert_eq!(
            (c.mode, c.fallback, c.revision_check, c.sanitize),
            (
                Mode::Pull,
                Fallback::Artifact,
                RevisionCheck::Fail,
                Sanitize::Strict
            )
        );
        assert_eq!(
            (c.pr_tag.as_str(), c.branch_tag.as_str()),
            ("pr-{pr}-{short_sha}", "{branch}-{short_sha}")
        );
        assert_eq!(
            (c.sha_length, c.retries, c.wait_timeout),
            (7, 3, Duration::ZERO)
        );
        assert_eq!(
            (
                c.tag,
                c.local_tag,
                c.platform,
                c.run_id,
                c.allow_failed_upstream
            ),
            (None, None, None, None, false)
        );
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
            ("allow-failed-upstream", "true"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::Verify);
        assert_eq!(c.sha_length, 12);
        assert_eq!(c.local_tag.unwrap().to_string(), "charon:local");
        assert_eq!(
            (c.run_id, c.retries, c.wait_timeout.as_secs()),
            (Some(123), 5, 30)
        );
        assert_eq!(c.platform.unwrap().to_string(), "linux/arm64/v8");
        assert!(c.allow_failed_upstream);
    }

    #[test]
    fn registry_credentials_default_to_the_actor_on_ghcr() {
        let creds = |pairs: &[(&str, &str)], registry: &str| {
            registry_credentials(&config(pairs).unwrap(), registry, Some("octocat"))
        };
        let own = [
            ("image", "x"),
            ("registry-username", "me"),
            ("registry-password", "pw"),
            ("github-token", "tok"),
        ];
        assert_eq!(creds(&own, "ghcr.io"), Some(("me".into(), "pw".into())));
        assert_eq!(
            creds(&own, "registry.example.com"),
            Some(("me".into(), "pw".into()))
        );
        let token_only = [("image", "x"), ("github-token", "tok")];
        assert_eq!(
            creds(&token_only, "ghcr.io"),
            Some(("octocat".into(), "tok".into()))
        );
        assert_eq!(
            creds(&token_only, "registry.example.com"),
            None,
            "the GitHub token never goes elsewhere"
        );
        let password_only = [("image", "x"), ("registry-password", "pat")];
        assert_eq!(
            creds(&password_only, "ghcr.io"),
            Some(("octocat".into(), "pat".into()))
        );
        assert_eq!(creds(&[("image", "x")], "ghcr.io"), None);
        assert_eq!(
            registry_credentials(&config(&token_only).unwrap(), "ghcr.io", None),
            None
        );
    }

    #[test]
    fn rejects_bad_inputs() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (&[], "image", "required"),
            (&[("image", "ghcr.io/Acme/x")], "image", "upper-case"),
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
                &[("image", "a"), ("local-tag", "App:local")],
                "local-tag",
                "upper-case",
            ),
            (
                &[("image", "a"), ("mode", "push")],
                "mode",
                "not one of pull, verify, compute",
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
                &[("image", "a"), ("allow-failed-upstream", "yes")],
                "allow-failed-upstream",
                "not one of",
            ),
            (&[("image", "a"), ("run-id", "0")], "run-id", "outside"),
        ];
        for (pairs, input, needle) in cases {
            let e = config(pairs).expect_err(input);
            assert_eq!(e.input, *input, "{e}");
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}

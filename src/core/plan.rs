//! From inputs and event to the one reference to resolve, and what it must have been built from.

use super::event::{EventContext, PrNumber};
use super::reference::ImageRef;
use super::tag::{render, render_name, TagError, Vars};
use super::Sha;
use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `repository:tag`, `repository@digest`, or both.
    pub reference: ImageRef,
    /// The tag resolved; empty for a digest-only reference.
    pub tag: String,
    pub expected: Option<Sha>,
    pub pr: Option<u64>,
    pub vars: Vars,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the `{0}` event names no commit: set the `tag` input (e.g. from a workflow_dispatch input) or pass a full reference repo:tag or repo@sha256:… as `image`")]
    NeedsTag(String),
    #[error("the triggering run `{name}` (id {id}) concluded `{conclusion}`, not success: its image is not trusted; set `allow-failed-upstream: true` to resolve it anyway")]
    UpstreamFailed {
        name: String,
        id: u64,
        conclusion: String,
    },
    #[error("tag: {0}")]
    Tag(#[from] TagError),
}

/// Whether the tag itself needs the PR number (so a fork PR must be looked up before planning).
pub fn tag_needs_pr(cfg: &Config, ctx: &EventContext) -> bool {
    matches!(ctx.pr, PrNumber::Lookup { .. })
        && !cfg.image.is_full()
        && cfg.tag.is_none()
        && cfg.pr_tag.contains("{pr}")
}

pub fn vars(cfg: &Config, ctx: &EventContext, pr: Option<u64>) -> Vars {
    Vars {
        pr,
        branch: ctx.branch.clone(),
        sha: ctx.sha.as_ref().map(|s| s.as_str().to_string()),
        short_sha: ctx
            .sha
            .as_ref()
            .map(|s| s.short(cfg.sha_length).to_string()),
        run_id: ctx.run_id,
        run_number: ctx.run_number,
        run_attempt: ctx.run_attempt,
    }
}

/// `pr` is the PR number once known (from the event, or looked up for a fork).
pub fn plan(cfg: &Config, ctx: &EventContext, pr: Option<u64>) -> Result<Plan, PlanError> {
    if let Some(up) = &ctx.upstream {
        let conclusion = up.conclusion.as_deref().unwrap_or("(none)");
        if conclusion != "success" && !cfg.allow_failed_upstream {
            return Err(PlanError::UpstreamFailed {
                name: up.name.clone().unwrap_or_else(|| "build".into()),
                id: up.id,
                conclusion: conclusion.into(),
            });
        }
    }
    let pr = pr.or(match ctx.pr {
        PrNumber::Known(n) => Some(n),
        _ => None,
    });
    let vars = vars(cfg, ctx, pr);
    let (reference, tag) = if cfg.image.is_full() {
        (cfg.image.clone(), cfg.image.tag.clone().unwrap_or_default())
    } else if let Some(t) = &cfg.tag {
        (cfg.image.with_tag(t), t.clone())
    } else if ctx.sha.is_none() {
        return Err(PlanError::NeedsTag(ctx.event_name.clone()));
    } else {
        let template = if ctx.is_pr_build() {
            &cfg.pr_tag
        } else {
            &cfg.branch_tag
        };
        let t = render(template, &vars, ctx.branch.as_deref(), cfg.sanitize)?;
        (cfg.image.with_tag(&t), t)
    };
    Ok(Plan {
        reference,
        tag,
        expected: ctx.sha.clone(),
        pr,
        vars,
    })
}

/// The artifact that backs this build: `artifact-name`, or `pr-image-{pr}` / `push-image`.
pub fn artifact_name(cfg: &Config, ctx: &EventContext, plan: &Plan) -> Result<String, TagError> {
    let default = if ctx.is_pr_build() {
        "pr-image-{pr}"
    } else {
        "push-image"
    };
    render_name(
        cfg.artifact_name.as_deref().unwrap_or(default),
        &plan.vars,
        ctx.branch.as_deref(),
    )
}

/// OCI labels for the build workflow (compute mode), one `key=value` a line.
pub fn build_labels(plan: &Plan, server_url: &str, repository: &str) -> String {
    let mut lines = Vec::new();
    if let Some(sha) = &plan.expected {
        lines.push(format!("org.opencontainers.image.revision={sha}"));
    }
    if !repository.is_empty() {
        lines.push(format!(
            "org.opencontainers.image.source={}/{repository}",
            server_url.trim_end_matches('/')
        ));
    }
    if !plan.tag.is_empty() {
        lines.push(format!("org.opencontainers.image.version={}", plan.tag));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawInputs;
    use crate::core::event::Upstream;

    const SHA: &str = "abcdef0123456789abcdef0123456789abcdef01";

    fn cfg(pairs: &[(&str, &str)]) -> Config {
        let vars = pairs
            .iter()
            .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), v.to_string()));
        Config::from_raw(RawInputs::from_vars(vars).unwrap()).unwrap()
    }

    fn ctx(event: &str, pr: PrNumber, branch: Option<&str>, sha: Option<&str>) -> EventContext {
        EventContext {
            event_name: event.into(),
            sha: sha.and_then(Sha::parse),
            pr,
            branch: branch.map(Into::into),
            from_fork: false,
            upstream: None,
            run_id: Some(10),
            run_number: Some(11),
            run_attempt: Some(1),
        }
    }

    #[test]
    fn plans() {
        let img = ("image", "ghcr.io/acme/charon");
        let full_sha_ref = format!("ghcr.io/acme/charon:{SHA}");
        let digest = format!("ghcr.io/acme/charon@sha256:{}", "c".repeat(64));
        type Case<'a> = (Vec<(&'a str, &'a str)>, EventContext, &'a str, &'a str);
        let cases: Vec<Case> = vec![
            (
                vec![img],
                ctx(
                    "pull_request",
                    PrNumber::Known(42),
                    Some("feat/x"),
                    Some(SHA),
                ),
                "ghcr.io/acme/charon:pr-42-abcdef0",
                "pr-42-abcdef0",
            ),
            (
                vec![img],
                ctx("push", PrNumber::None, Some("Feat/X"), Some(SHA)),
                "ghcr.io/acme/charon:feat-x-abcdef0",
                "feat-x-abcdef0",
            ),
            (
                vec![img, ("sha-length", "12")],
                ctx("push", PrNumber::None, Some("main"), Some(SHA)),
                "ghcr.io/acme/charon:main-abcdef012345",
                "main-abcdef012345",
            ),
            (
                vec![img, ("branch-tag", "{sha}")],
                ctx("push", PrNumber::None, Some("main"), Some(SHA)),
                &full_sha_ref,
                SHA,
            ),
            (
                vec![img, ("tag", "manual-1")],
                ctx("workflow_dispatch", PrNumber::None, Some("main"), None),
                "ghcr.io/acme/charon:manual-1",
                "manual-1",
            ),
            (
                vec![("image", "ghcr.io/acme/charon:v9")],
                ctx("workflow_dispatch", PrNumber::None, None, None),
                "ghcr.io/acme/charon:v9",
                "v9",
            ),
            (
                vec![("image", &digest)],
                ctx("workflow_dispatch", PrNumber::None, None, None),
                &digest,
                "",
            ),
        ];
        for (inputs, c, reference, tag) in cases {
            let p = plan(&cfg(&inputs), &c, None).unwrap();
            assert_eq!(
                (p.reference.to_string().as_str(), p.tag.as_str()),
                (reference, tag),
                "{inputs:?}"
            );
        }
    }

    #[test]
    fn fork_lookups_and_artifact_names() {
        let c = cfg(&[("image", "ghcr.io/acme/charon")]);
        let fork = ctx(
            "workflow_run",
            PrNumber::Lookup {
                head_owner: "m".into(),
                head_branch: "b".into(),
            },
            Some("b"),
            Some(SHA),
        );
        assert!(tag_needs_pr(&c, &fork));
        assert!(plan(&c, &fork, None).is_err(), "no PR number, no tag");
        let p = plan(&c, &fork, Some(77)).unwrap();
        assert_eq!(p.tag, "pr-77-abcdef0");
        assert_eq!(artifact_name(&c, &fork, &p).unwrap(), "pr-image-77");
        let push = ctx("push", PrNumber::None, Some("main"), Some(SHA));
        assert!(!tag_needs_pr(&c, &push));
        let p = plan(&c, &push, None).unwrap();
        assert_eq!(artifact_name(&c, &push, &p).unwrap(), "push-image");
        let named = cfg(&[
            ("image", "ghcr.io/acme/charon"),
            ("artifact-name", "img-{run_id}"),
        ]);
        assert_eq!(artifact_name(&named, &push, &p).unwrap(), "img-10");
    }

    #[test]
    fn refusals() {
        let c = cfg(&[("image", "ghcr.io/acme/charon")]);
        let e = plan(
            &c,
            &ctx("workflow_dispatch", PrNumber::None, Some("main"), None),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("set the `tag` input"), "{e}");
        let mut failed = ctx("workflow_run", PrNumber::None, Some("main"), Some(SHA));
        failed.upstream = Some(Upstream {
            id: 5,
            run_number: None,
            run_attempt: None,
            conclusion: Some("failure".into()),
            event: "push".into(),
            name: Some("build".into()),
        });
        let e = plan(&c, &failed, None).unwrap_err();
        assert!(
            matches!(e, PlanError::UpstreamFailed { .. })
                && e.to_string().contains("allow-failed-upstream"),
            "{e}"
        );
        let allowed = cfg(&[
            ("image", "ghcr.io/acme/charon"),
            ("allow-failed-upstream", "true"),
        ]);
        assert!(plan(&allowed, &failed, None).is_ok());
    }

    #[test]
    fn labels_for_the_build() {
        let c = cfg(&[("image", "ghcr.io/acme/charon")]);
        let p = plan(
            &c,
            &ctx("pull_request", PrNumber::Known(3), Some("x"), Some(SHA)),
            None,
        )
        .unwrap();
        assert_eq!(
            build_labels(&p, "https://github.com/", "acme/charon"),
            format!("org.opencontainers.image.revision={SHA}\norg.opencontainers.image.source=https://github.com/acme/charon\norg.opencontainers.image.version=pr-3-abcdef0")
        );
    }
}

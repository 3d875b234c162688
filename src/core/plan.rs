//! From the inputs' policy and the event to what to resolve: one tag and commit for the event,
//! one reference per image. Also the pure decisions the flow takes later (fallback).

use super::event::{EventContext, PrNumber};
use super::platform::Platform;
use super::promote::PromoteTarget;
use super::reference::ImageRef;
use super::revision::RevisionCheck;
use super::tag::{render, render_name, Sanitize, TagError, Vars};
pub use super::tree::Content;
use super::Sha;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pull,
    Verify,
    Compute,
    Promote,
    Clean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Artifact,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromoteSource {
    Commit,
    MergedPr,
    /// The image at `tree-tag`, built from the same files (`paths`).
    Tree,
}

/// The `attestation` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationPolicy {
    Off,
    Warn,
    Fail,
}

/// The `attestation-runner` input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationRunner {
    Any,
    /// An attestation made on a self-hosted runner is invalid.
    GitHubHosted,
}

/// One image or several: `image`, or `images` (whatever its number of lines). Decided once, when
/// the inputs are read; the outputs, the summary, the log and the artifact names all follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    One,
    Keyed,
}

impl Scope {
    pub fn keyed(self) -> bool {
        self == Scope::Keyed
    }
}

/// What the steps need of the event, copied out of it once, at planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub event: String,
    pub pr_build: bool,
    pub from_fork: bool,
    /// The PR's base head, when the payload names it.
    pub base_sha: Option<Sha>,
    /// The event the image was built on: the upstream run's for `workflow_run`.
    pub build_event: String,
    /// The run that built the image (`workflow_run`), for its artifact and the summary's link.
    pub build_run: Option<u64>,
}

impl Facts {
    pub fn of(ctx: &EventContext) -> Facts {
        Facts {
            event: ctx.event_name.clone(),
            pr_build: ctx.is_pr_build(),
            from_fork: ctx.from_fork,
            base_sha: ctx.base_sha.clone(),
            build_event: ctx
                .upstream
                .as_ref()
                .map(|u| u.event.clone())
                .unwrap_or_else(|| ctx.event_name.clone()),
            build_run: ctx.upstream.as_ref().map(|u| u.id),
        }
    }
}

/// How every image is checked: the same for all, read from the inputs once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checks {
    pub revision: RevisionCheck,
    pub attestation: AttestationPolicy,
    pub attestation_workflow: Option<String>,
    pub attestation_runner: AttestationRunner,
    /// `owner/name` (GITHUB_REPOSITORY): attestations must name it.
    pub repository: String,
    /// `GITHUB_SERVER_URL`: the attestation's certificate names this server.
    pub server_url: String,
    /// `GITHUB_API_URL`: where the attestations are asked for (the summary cites it).
    pub api_url: String,
    /// A `github-token` is set: the merge-commit and same-tree look-ups may run.
    pub api: bool,
    pub wait: Duration,
    pub platform: Option<Platform>,
}

/// The inputs that decide tags and what is admitted: plain data, built by config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPolicy {
    pub tag: Option<String>,
    /// The `sha` input: the expected commit of a manual run.
    pub sha: Option<Sha>,
    pub pr_tag: String,
    pub branch_tag: String,
    pub sha_length: usize,
    pub sanitize: Sanitize,
    pub allow_failed_upstream: bool,
    pub allow_forks: bool,
    /// Templates that may use `{name}` and the tag variables.
    pub local_tag: Option<String>,
    pub artifact_name: Option<String>,
    pub artifact_file: Option<String>,
    /// `tree-tag`: the content-addressed tag template (with `paths`).
    pub tree_tag: String,
}

/// One image to resolve: `images`' `name=repository` line, or `image` named after its last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub name: String,
    pub image: ImageRef,
    /// What it is built from: its `images` line's own paths, else `paths`; empty without.
    pub paths: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The tag derived from the event; empty when every image is a full reference.
    pub tag: String,
    pub expected: Option<Sha>,
    pub pr: Option<u64>,
    pub vars: Vars,
    pub images: Vec<ImagePlan>,
    pub facts: Facts,
    pub scope: Scope,
}

/// The artifact that backs one image, should the registry have no usable image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactPlan {
    pub run_id: u64,
    pub name: String,
    pub file: Option<String>,
}

/// `mode: pull`: each image's artifact is known (or why there is none) before anything is asked.
#[derive(Debug, Clone)]
pub struct PullPlan {
    pub base: Plan,
    pub checks: Checks,
    pub fallback: Fallback,
    /// Per image, in plan order; the error is the fallback's, said only if it is tried.
    pub artifacts: Vec<Result<ArtifactPlan, String>>,
}

#[derive(Debug, Clone)]
pub struct VerifyPlan {
    pub base: Plan,
    pub checks: Checks,
}

#[derive(Debug, Clone)]
pub struct ComputePlan {
    pub base: Plan,
    /// The OCI labels for the build.
    pub labels: String,
}

/// Where the promoted image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteFrom {
    /// The image of this commit (`promote-source: commit`).
    Commit,
    /// The image of the pull request `number` that the pushed commit merged.
    MergedPr { number: u64, pushed: Sha },
    /// `promote-source: merged-pr`, and the pushed commit merged none: every image is skipped.
    NothingMerged { pushed: Sha },
    /// `promote-source: tree`: each image at its `tree-tag`, promoted to this commit's tag.
    Tree,
}

#[derive(Debug, Clone)]
pub struct PromotePlan {
    pub base: Plan,
    pub checks: Checks,
    pub from: PromoteFrom,
    /// Per image, in plan order: `promote-to` rendered for it.
    pub targets: Vec<Vec<PromoteTarget>>,
    /// `dry-run: true`: resolve and verify, write nothing, say what each target would receive.
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePlan {
    pub name: String,
    /// `repository:tag`, `repository@digest`, or both.
    pub reference: ImageRef,
    /// The tag resolved; empty for a digest-only reference.
    pub tag: String,
    /// `local-tag`, rendered for this image.
    pub local: Option<ImageRef>,
    /// `paths` for this image; empty without.
    pub paths: Vec<String>,
    /// `{tree}` of `paths` at the expected commit, and `tree-tag` rendered: filled at planning
    /// (it takes the GitHub API), none without `paths` or an expected commit.
    pub content: Option<Content>,
}

impl ImagePlan {
    /// `repository:tag`, or `repository@digest` for a digest-only reference.
    pub fn display(&self) -> String {
        self.reference.shown()
    }

    /// The same image under its `tree-tag`, when it has one.
    pub fn at_tree_tag(&self) -> Option<ImagePlan> {
        let c = self.content.as_ref()?;
        Some(ImagePlan {
            reference: ImageRef {
                repository: self.reference.repository.clone(),
                tag: Some(c.tag.clone()),
                digest: None,
            },
            tag: c.tag.clone(),
            ..self.clone()
        })
    }
}

/// `local-tag` rendered: a name and tag, never a digest.
fn local_ref(template: &str, vars: &Vars, raw_branch: Option<&str>) -> Result<ImageRef, PlanError> {
    let text = render_name(template, vars, raw_branch)?;
    let r = ImageRef::parse(&text).map_err(|_| PlanError::LocalTag(text.clone()))?;
    if r.digest.is_some() {
        return Err(PlanError::LocalTag(text));
    }
    Ok(r)
}

/// One image's content, once its objects are known: `{tree}`, `tree-tag` rendered with it (and
/// the image's name), and a `local-tag` that uses `{tree}`.
pub fn content(
    policy: &TagPolicy,
    vars: &Vars,
    raw_branch: Option<&str>,
    img: &mut ImagePlan,
    objects: Vec<super::tree::Object>,
) -> Result<(), PlanError> {
    let value = super::tree::tree_value(&objects);
    let v = Vars {
        tree: Some(value.clone()),
        name: Some(img.name.clone()),
        ..vars.clone()
    };
    let tag = render(&policy.tree_tag, &v, raw_branch, policy.sanitize)?;
    if let Some(t) = policy.local_tag.as_deref().filter(|t| t.contains("{tree}")) {
        img.local = Some(local_ref(t, &v, raw_branch)?);
    }
    img.content = Some(Content {
        value,
        tag,
        objects,
    });
    Ok(())
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
    #[error("the triggering run `{name}` (id {id}) concluded `{conclusion}`, not success: compute mode derives nothing for a failed build; set `allow-failed-upstream: true` to compute anyway")]
    UpstreamFailedCompute {
        name: String,
        id: u64,
        conclusion: String,
    },
    #[error("the image was built from a fork's pull request (`{head}`): it is the fork's code and would run with this repository's permissions; set `allow-forks: true` only in a job that holds no secrets and a read-only token")]
    Fork { head: String },
    #[error(transparent)]
    Tag(#[from] TagError),
    #[error("input `local-tag`: `{0}` is not a name and tag such as app:local")]
    LocalTag(String),
}

/// Who asks: the build itself (compute mode), or a step that uses the image it built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    Build,
    User,
}

/// Whether this event may be resolved at all: a failed upstream build, a fork's image.
pub fn admit(policy: &TagPolicy, asker: Asker, ctx: &EventContext) -> Result<(), PlanError> {
    if let Some(up) = &ctx.upstream {
        let conclusion = up.conclusion.as_deref().unwrap_or("(none)");
        if conclusion != "success" && !policy.allow_failed_upstream {
            let (name, id, conclusion) = (
                up.name.clone().unwrap_or_else(|| "build".into()),
                up.id,
                conclusion.to_string(),
            );
            return Err(if asker == Asker::Build {
                PlanError::UpstreamFailedCompute {
                    name,
                    id,
                    conclusion,
                }
            } else {
                PlanError::UpstreamFailed {
                    name,
                    id,
                    conclusion,
                }
            });
        }
    }
    // compute mode runs in the build itself, where a fork's PR is built but not run with secrets
    if ctx.from_fork && !policy.allow_forks && asker == Asker::User {
        return Err(PlanError::Fork {
            head: ctx
                .head_repository
                .clone()
                .unwrap_or_else(|| "a deleted fork".into()),
        });
    }
    Ok(())
}

fn derives_tag(policy: &TagPolicy, images: &[ImageSpec]) -> bool {
    policy.tag.is_none() && images.iter().any(|i| !i.image.is_full())
}

/// Whether the tag itself needs the PR number (so a fork PR must be looked up before planning).
pub fn tag_needs_pr(policy: &TagPolicy, images: &[ImageSpec], ctx: &EventContext) -> bool {
    matches!(ctx.pr, PrNumber::Lookup { .. })
        && derives_tag(policy, images)
        && policy.pr_tag.contains("{pr}")
}

/// `sha` input first; a manual run that names its image by `tag` or full reference checks only
/// against an explicit `sha` (GITHUB_SHA is the branch head, not necessarily what was built).
fn expected(policy: &TagPolicy, images: &[ImageSpec], ctx: &EventContext) -> Option<Sha> {
    match &policy.sha {
        Some(s) => Some(s.clone()),
        None if ctx.manual && !derives_tag(policy, images) => None,
        None => ctx.sha.clone(),
    }
}

fn vars(policy: &TagPolicy, ctx: &EventContext, sha: Option<&Sha>, pr: Option<u64>) -> Vars {
    Vars {
        pr,
        branch: ctx.branch.clone(),
        sha: sha.map(|s| s.as_str().to_string()),
        short_sha: sha.map(|s| s.short(policy.sha_length).to_string()),
        run_id: ctx.run_id,
        run_number: ctx.run_number,
        run_attempt: ctx.run_attempt,
        name: None,
        tree: None,
    }
}

/// The template variables of this event, with `pr` as given (a merged pull request's number
/// beside the push's commit and branch, for `promote-to`).
pub fn event_vars(
    policy: &TagPolicy,
    images: &[ImageSpec],
    ctx: &EventContext,
    pr: Option<u64>,
) -> Vars {
    vars(policy, ctx, expected(policy, images, ctx).as_ref(), pr)
}

/// Why the step says what it says, for every image: a fork's content, an unchecked revision.
pub fn notes(plan: &Plan) -> Vec<String> {
    let mut notes = Vec::new();
    if plan.facts.from_fork {
        notes.push(
            "The image was built from a fork: its content is controlled by the fork's author."
                .into(),
        );
    }
    if plan.expected.is_none() {
        notes.push(format!(
            "No expected commit for a `{}` event: the revision was not checked.",
            plan.facts.event
        ));
    }
    notes
}

/// `pr` is the PR number once known (from the event, or looked up for a fork).
pub fn plan(
    policy: &TagPolicy,
    images: &[ImageSpec],
    scope: Scope,
    ctx: &EventContext,
    pr: Option<u64>,
) -> Result<Plan, PlanError> {
    let pr = pr.or(match ctx.pr {
        PrNumber::Known(n) => Some(n),
        _ => None,
    });
    let expected = expected(policy, images, ctx);
    let vars = event_vars(policy, images, ctx, pr);
    let tag = match (&policy.tag, derives_tag(policy, images)) {
        (Some(t), _) => t.clone(),
        (None, false) => String::new(),
        (None, true) if vars.sha.is_none() => {
            return Err(PlanError::NeedsTag(ctx.event_name.clone()))
        }
        (None, true) => {
            let template = if ctx.is_pr_build() {
                &policy.pr_tag
            } else {
                &policy.branch_tag
            };
            render(template, &vars, ctx.branch.as_deref(), policy.sanitize)?
        }
    };
    let images = images
        .iter()
        .map(|spec| image_plan(policy, spec, &tag, &vars, ctx))
        .collect::<Result<_, _>>()?;
    Ok(Plan {
        tag,
        expected,
        pr,
        vars,
        images,
        facts: Facts::of(ctx),
        scope,
    })
}

fn image_plan(
    policy: &TagPolicy,
    spec: &ImageSpec,
    tag: &str,
    vars: &Vars,
    ctx: &EventContext,
) -> Result<ImagePlan, PlanError> {
    let (reference, tag) = if spec.image.is_full() {
        (
            spec.image.clone(),
            spec.image.tag.clone().unwrap_or_default(),
        )
    } else {
        (spec.image.with_tag(tag), tag.to_string())
    };
    let named = Vars {
        name: Some(spec.name.clone()),
        ..vars.clone()
    };
    let local = match &policy.local_tag {
        // `{tree}` is known once the trees are walked: rendered then (`content`)
        Some(t) if t.contains("{tree}") && !spec.paths.is_empty() => None,
        Some(t) => Some(local_ref(t, &named, ctx.branch.as_deref())?),
        None => None,
    };
    Ok(ImagePlan {
        name: spec.name.clone(),
        reference,
        tag,
        local,
        paths: spec.paths.clone(),
        content: None,
    })
}

/// The artifact that backs one image: `artifact-name`, or `pr-image-{pr}` / `push-image`, with
/// `-{name}` appended with `images`.
pub fn artifact_name(
    policy: &TagPolicy,
    ctx: &EventContext,
    vars: &Vars,
    name: &str,
    scope: Scope,
) -> Result<String, TagError> {
    let default = match (ctx.is_pr_build(), scope.keyed()) {
        (true, false) => "pr-image-{pr}",
        (true, true) => "pr-image-{pr}-{name}",
        (false, false) => "push-image",
        (false, true) => "push-image-{name}",
    };
    let named = Vars {
        name: Some(name.to_string()),
        ..vars.clone()
    };
    render_name(
        policy.artifact_name.as_deref().unwrap_or(default),
        &named,
        ctx.branch.as_deref(),
    )
}

/// `artifact-file` for one image (it may use `{name}`).
pub fn artifact_file(
    policy: &TagPolicy,
    ctx: &EventContext,
    vars: &Vars,
    name: &str,
) -> Result<Option<String>, TagError> {
    let named = Vars {
        name: Some(name.to_string()),
        ..vars.clone()
    };
    policy
        .artifact_file
        .as_deref()
        .map(|t| render_name(t, &named, ctx.branch.as_deref()))
        .transpose()
}

/// OCI labels for the build workflow (compute mode), one `key=value` a line.
/// `commit` is the event's own (`GITHUB_SHA` on a manual run): labelled when the plan expects no
/// commit, as a dispatch with an explicit `tag` does, since the build is still of that commit.
pub fn build_labels(
    plan: &Plan,
    commit: Option<&Sha>,
    server_url: &str,
    repository: &str,
) -> String {
    let mut lines = Vec::new();
    if let Some(sha) = plan.expected.as_ref().or(commit) {
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

/// Why the registry gave no usable image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// The tag (or repository) is not there, also after `wait-timeout`.
    NotFound,
    /// Still unreachable after `retries`.
    Unreachable,
    /// The revision check failed under `revision-check: fail`.
    Revision,
    /// Anything else (credentials, integrity, a protocol error): never a reason to fall back,
    /// because the artifact would hide a problem that needs fixing.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    TryArtifact,
    Fail,
}

/// The contract's fallback rule (pull mode: no other command loads artifacts): only for a tag,
/// and only when the registry has "no usable image".
pub fn after_miss(fallback: Fallback, by_digest: bool, miss: Miss) -> Next {
    let usable_miss = matches!(miss, Miss::NotFound | Miss::Unreachable | Miss::Revision);
    if fallback == Fallback::Artifact && !by_digest && usable_miss {
        Next::TryArtifact
    } else {
        Next::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::Upstream;

    const SHA: &str = "abcdef0123456789abcdef0123456789abcdef01";

    fn policy() -> TagPolicy {
        TagPolicy {
            tag: None,
            sha: None,
            pr_tag: "pr-{pr}-{short_sha}".into(),
            branch_tag: "{branch}-{short_sha}".into(),
            sha_length: 7,
            sanitize: Sanitize::Strict,
            allow_failed_upstream: false,
            allow_forks: false,
            local_tag: None,
            artifact_name: None,
            artifact_file: None,
            tree_tag: "tree-{tree}".into(),
        }
    }

    fn one(image: &str) -> Vec<ImageSpec> {
        vec![ImageSpec {
            name: "charon".into(),
            image: ImageRef::parse(image).unwrap(),
            paths: vec![],
        }]
    }

    fn ctx(event: &str, pr: PrNumber, branch: Option<&str>, sha: Option<&str>) -> EventContext {
        EventContext {
            event_name: event.into(),
            sha: sha.and_then(Sha::parse),
            pr,
            branch: branch.map(Into::into),
            from_fork: false,
            head_repository: None,
            base_sha: None,
            manual: event == "workflow_dispatch",
            upstream: None,
            run_id: Some(10),
            run_number: Some(11),
            run_attempt: Some(1),
        }
    }

    #[test]
    fn plans() {
        let img = "ghcr.io/acme/charon";
        let full_sha_ref = format!("ghcr.io/acme/charon:{SHA}");
        let digest = format!("ghcr.io/acme/charon@sha256:{}", "c".repeat(64));
        let other = "1234567890123456789012345678901234567890";
        type Case<'a> = (
            TagPolicy,
            &'a str,
            EventContext,
            &'a str,
            &'a str,
            Option<&'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                policy(),
                img,
                ctx(
                    "pull_request",
                    PrNumber::Known(42),
                    Some("feat/x"),
                    Some(SHA),
                ),
                "ghcr.io/acme/charon:pr-42-abcdef0",
                "pr-42-abcdef0",
                Some(SHA),
            ),
            (
                policy(),
                img,
                ctx("push", PrNumber::None, Some("Feat/X"), Some(SHA)),
                "ghcr.io/acme/charon:feat-x-abcdef0",
                "feat-x-abcdef0",
                Some(SHA),
            ),
            (
                TagPolicy {
                    sha_length: 12,
                    ..policy()
                },
                img,
                ctx("push", PrNumber::None, Some("main"), Some(SHA)),
                "ghcr.io/acme/charon:main-abcdef012345",
                "main-abcdef012345",
                Some(SHA),
            ),
            (
                TagPolicy {
                    branch_tag: "{sha}".into(),
                    ..policy()
                },
                img,
                ctx("push", PrNumber::None, Some("main"), Some(SHA)),
                &full_sha_ref,
                SHA,
                Some(SHA),
            ),
            // a manual run: the branch tag from GITHUB_REF_NAME and GITHUB_SHA, checked
            (
                policy(),
                img,
                ctx("workflow_dispatch", PrNumber::None, Some("main"), Some(SHA)),
                "ghcr.io/acme/charon:main-abcdef0",
                "main-abcdef0",
                Some(SHA),
            ),
            // ... or the `sha` input
            (
                TagPolicy {
                    sha: Sha::parse(other),
                    ..policy()
                },
                img,
                ctx("workflow_dispatch", PrNumber::None, Some("main"), Some(SHA)),
                "ghcr.io/acme/charon:main-1234567",
                "main-1234567",
                Some(other),
            ),
            // a named tag: only reported, unless `sha` says what it must be
            (
                TagPolicy {
                    tag: Some("manual-1".into()),
                    ..policy()
                },
                img,
                ctx("workflow_dispatch", PrNumber::None, Some("main"), Some(SHA)),
                "ghcr.io/acme/charon:manual-1",
                "manual-1",
                None,
            ),
            (
                TagPolicy {
                    tag: Some("manual-1".into()),
                    sha: Sha::parse(other),
                    ..policy()
                },
                img,
                ctx("workflow_dispatch", PrNumber::None, Some("main"), Some(SHA)),
                "ghcr.io/acme/charon:manual-1",
                "manual-1",
                Some(other),
            ),
            (
                policy(),
                "ghcr.io/acme/charon:v9",
                ctx("workflow_dispatch", PrNumber::None, None, None),
                "ghcr.io/acme/charon:v9",
                "v9",
                None,
            ),
            (
                policy(),
                &digest,
                ctx("workflow_dispatch", PrNumber::None, None, None),
                &digest,
                "",
                None,
            ),
        ];
        for (p, image, c, reference, tag, sha) in cases {
            let plan = plan(&p, &one(image), Scope::One, &c, None).unwrap();
            let i = &plan.images[0];
            assert_eq!(
                (i.reference.to_string().as_str(), i.tag.as_str()),
                (reference, tag),
                "{p:?} {c:?}"
            );
            assert_eq!(plan.expected.as_ref().map(Sha::as_str), sha, "{c:?}");
        }
    }

    #[test]
    fn several_images_share_the_tag_and_render_names() {
        let specs = vec![
            ImageSpec {
                name: "api".into(),
                image: ImageRef::parse("ghcr.io/acme/api").unwrap(),
                paths: vec![],
            },
            ImageSpec {
                name: "worker".into(),
                image: ImageRef::parse("ghcr.io/acme/worker").unwrap(),
                paths: vec![],
            },
        ];
        let p = TagPolicy {
            local_tag: Some("{name}:under-test".into()),
            ..policy()
        };
        let c = ctx("pull_request", PrNumber::Known(42), Some("x"), Some(SHA));
        let plan = plan(&p, &specs, Scope::One, &c, None).unwrap();
        let refs: Vec<String> = plan
            .images
            .iter()
            .map(|i| i.reference.to_string())
            .collect();
        assert_eq!(
            refs,
            [
                "ghcr.io/acme/api:pr-42-abcdef0",
                "ghcr.io/acme/worker:pr-42-abcdef0"
            ]
        );
        assert_eq!(
            plan.images[1].local.as_ref().unwrap().to_string(),
            "worker:under-test"
        );
        assert_eq!(
            artifact_name(&p, &c, &plan.vars, "api", Scope::Keyed).unwrap(),
            "pr-image-42-api"
        );
        assert_eq!(
            artifact_name(&p, &c, &plan.vars, "api", Scope::One).unwrap(),
            "pr-image-42"
        );
        let files = TagPolicy {
            artifact_file: Some("{name}.tar".into()),
            ..policy()
        };
        assert_eq!(
            artifact_file(&files, &c, &plan.vars, "worker").unwrap(),
            Some("worker.tar".into())
        );
    }

    #[test]
    fn fork_lookups_and_artifact_names() {
        let p = policy();
        let specs = one("ghcr.io/acme/charon");
        let fork = ctx(
            "workflow_run",
            PrNumber::Lookup {
                head_owner: "m".into(),
                head_branch: "b".into(),
            },
            Some("b"),
            Some(SHA),
        );
        assert!(tag_needs_pr(&p, &specs, &fork));
        assert!(
            plan(&p, &specs, Scope::One, &fork, None).is_err(),
            "no PR number, no tag"
        );
        let pl = plan(&p, &specs, Scope::One, &fork, Some(77)).unwrap();
        assert_eq!(pl.tag, "pr-77-abcdef0");
        assert_eq!(
            artifact_name(&p, &fork, &pl.vars, "charon", Scope::One).unwrap(),
            "pr-image-77"
        );
        let push = ctx("push", PrNumber::None, Some("main"), Some(SHA));
        assert!(!tag_needs_pr(&p, &specs, &push));
        let pl = plan(&p, &specs, Scope::One, &push, None).unwrap();
        assert_eq!(
            artifact_name(&p, &push, &pl.vars, "charon", Scope::One).unwrap(),
            "push-image"
        );
        let named = TagPolicy {
            artifact_name: Some("img-{run_id}".into()),
            ..policy()
        };
        assert_eq!(
            artifact_name(&named, &push, &pl.vars, "charon", Scope::One).unwrap(),
            "img-10"
        );
    }

    #[test]
    fn refusals() {
        let p = policy();
        let specs = one("ghcr.io/acme/charon");
        let e = plan(
            &p,
            &specs,
            Scope::One,
            &ctx("schedule", PrNumber::None, Some("main"), None),
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
        let e = admit(&p, Asker::User, &failed).unwrap_err();
        assert!(
            matches!(e, PlanError::UpstreamFailed { .. })
                && e.to_string().contains("allow-failed-upstream"),
            "{e}"
        );
        let e = admit(&p, Asker::Build, &failed).unwrap_err();
        assert!(
            e.to_string().contains("compute mode derives nothing"),
            "{e}"
        );
        let allowed = TagPolicy {
            allow_failed_upstream: true,
            ..policy()
        };
        assert!(admit(&allowed, Asker::User, &failed).is_ok());

        let mut fork = ctx(
            "pull_request",
            PrNumber::Known(3),
            Some("patch-1"),
            Some(SHA),
        );
        fork.from_fork = true;
        fork.head_repository = Some("mallory/charon".into());
        let e = admit(&p, Asker::User, &fork).unwrap_err();
        assert!(
            e.to_string().contains("`mallory/charon`")
                && e.to_string().contains("allow-forks: true"),
            "{e}"
        );
        assert!(admit(&p, Asker::Build, &fork).is_ok(), "the build itself");
        let forks_ok = TagPolicy {
            allow_forks: true,
            ..policy()
        };
        assert!(admit(&forks_ok, Asker::User, &fork).is_ok());
    }

    #[test]
    fn fallback_rule() {
        use Miss::*;
        use Next::*;
        // only the pull command asks (verify and promote never fall back: see their commands)
        let cases = [
            (Fallback::Artifact, false, NotFound, TryArtifact),
            (Fallback::Artifact, false, Unreachable, TryArtifact),
            (Fallback::Artifact, false, Revision, TryArtifact),
            (Fallback::Artifact, false, Other, Fail),
            (Fallback::Artifact, true, NotFound, Fail),
            (Fallback::None, false, NotFound, Fail),
        ];
        for (fallback, by_digest, miss, want) in cases {
            assert_eq!(
                after_miss(fallback, by_digest, miss),
                want,
                "{fallback:?} {by_digest} {miss:?}"
            );
        }
    }

    #[test]
    fn labels_for_the_build() {
        let c = ctx("pull_request", PrNumber::Known(3), Some("x"), Some(SHA));
        let p = plan(&policy(), &one("ghcr.io/acme/charon"), Scope::One, &c, None).unwrap();
        assert_eq!(
            build_labels(&p, c.sha.as_ref(), "https://github.com/", "acme/charon"),
            format!("org.opencontainers.image.revision={SHA}\norg.opencontainers.image.source=https://github.com/acme/charon\norg.opencontainers.image.version=pr-3-abcdef0")
        );
    }

    #[test]
    fn a_dispatch_with_an_explicit_tag_labels_its_commit() {
        let c = ctx("workflow_dispatch", PrNumber::None, Some("main"), Some(SHA));
        let manual = TagPolicy {
            tag: Some("manual-1".into()),
            ..policy()
        };
        let p = plan(&manual, &one("ghcr.io/acme/charon"), Scope::One, &c, None).unwrap();
        assert_eq!(p.expected, None, "nothing to check against");
        let labels = build_labels(&p, c.sha.as_ref(), "https://github.com", "acme/charon");
        assert!(
            labels.starts_with(&format!("org.opencontainers.image.revision={SHA}\n")),
            "{labels}"
        );
        // the `sha` input wins over GITHUB_SHA
        let other = "0123456789012345678901234567890123456789";
        let p = plan(
            &TagPolicy {
                sha: Sha::parse(other),
                ..manual
            },
            &one("ghcr.io/acme/charon"),
            Scope::One,
            &c,
            None,
        )
        .unwrap();
        let labels = build_labels(&p, c.sha.as_ref(), "https://github.com", "acme/charon");
        assert!(
            labels.contains(&format!("image.revision={other}\n")),
            "{labels}"
        );
    }

    #[test]
    fn content_renders_tree_tag_and_a_local_tag_that_uses_tree() {
        let p = TagPolicy {
            local_tag: Some("{name}:{tree}".into()),
            tree_tag: "{branch}-tree-{tree}".into(),
            ..policy()
        };
        let specs = vec![ImageSpec {
            paths: vec!["services/api".into()],
            ..one("ghcr.io/acme/charon").remove(0)
        }];
        let c = ctx("push", PrNumber::None, Some("Feat/X"), Some(SHA));
        let mut plan = plan(&p, &specs, Scope::One, &c, None).unwrap();
        let img = &mut plan.images[0];
        assert_eq!(
            (img.local.as_ref(), img.content.as_ref()),
            (None, None),
            "not yet"
        );
        let objects = vec![("services/api".to_string(), Some("a".repeat(40)))];
        let value = super::super::tree::tree_value(&objects);
        content(&p, &plan.vars, c.branch.as_deref(), img, objects).unwrap();
        assert_eq!(
            img.local.as_ref().unwrap().to_string(),
            format!("charon:{value}")
        );
        let at = img.at_tree_tag().unwrap();
        assert_eq!(
            (at.reference.to_string(), at.tag.clone()),
            (
                format!("ghcr.io/acme/charon:feat-x-tree-{value}"),
                format!("feat-x-tree-{value}")
            )
        );
        // without paths, `{tree}` is not there to render
        assert!(plan_fails_without_paths(&p, &c));
    }

    fn plan_fails_without_paths(p: &TagPolicy, c: &EventContext) -> bool {
        plan(p, &one("ghcr.io/acme/charon"), Scope::One, c, None).is_err()
    }
}

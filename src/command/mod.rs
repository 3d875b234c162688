//! One command per mode, as just's subcommands: `run` matches the mode once and calls that
//! command's `execute`, which plans — a final plan, holding every event-derived value its steps
//! need — and then runs its steps (src/flow/) over the shared ports. After planning nothing
//! reads the event again. A new mode is one file here and one arm in `run`.

pub mod clean;
pub mod compute;
pub mod promote;
pub mod pull;
#[cfg(test)]
mod tests;
pub mod verify;

use crate::config::Config;
use crate::core::event::{EventContext, PrNumber};
use crate::core::plan::{
    admit, content, notes, plan, tag_needs_pr, Asker, Checks, ImagePlan, Plan,
};
use crate::core::result::{Done, Failed};
use crate::core::revision::Expect;
use crate::core::summary::Kind;
use crate::core::Sha;
use crate::flow::log::Log;
use crate::flow::ports::{GitHubApi, World};
use crate::flow::{objects_at, Ports};
use anyhow::{anyhow, bail, Result};

/// What a command is asked: the inputs, the event, and the runner's repository and server.
pub struct Request<'a> {
    pub cfg: &'a Config,
    pub event: &'a EventContext,
    /// `owner/name` (GITHUB_REPOSITORY).
    pub repository: &'a str,
    pub server_url: &'a str,
    /// `GITHUB_API_URL`.
    pub api_url: &'a str,
}

/// What every command hands back, for the outputs and the summary.
#[derive(Debug)]
pub struct Finished {
    pub plan: Plan,
    /// Compute mode's OCI labels; empty otherwise.
    pub labels: String,
    pub images: Vec<Result<Done, Failed>>,
    /// What the summary calls the step.
    pub kind: Kind,
    /// The commit the summary links: the expected one, or the push a merged pull request's
    /// image is promoted for.
    pub commit: Option<Sha>,
}

impl Finished {
    fn of(plan: Plan, kind: Kind, images: Vec<Result<Done, Failed>>) -> Finished {
        Finished {
            commit: plan.expected.clone(),
            plan,
            labels: String::new(),
            images,
            kind,
        }
    }
}

/// Admits the event, looks up the PR number when the tag needs it, and derives the plan.
async fn derive<W: World>(req: &Request<'_>, p: &Ports<'_, W>, asker: Asker) -> Result<Plan> {
    let (cfg, ctx) = (req.cfg, req.event);
    admit(&cfg.policy, asker, ctx)?;
    let pr = if tag_needs_pr(&cfg.policy, &cfg.images, ctx) {
        Some(pr_number(p, ctx).await?)
    } else {
        None
    };
    let plan = plan(&cfg.policy, &cfg.images, cfg.scope, ctx, pr)?;
    let plan = with_content(req, p, plan).await?;
    p.kit.debug(&describe(cfg, &plan));
    Ok(plan)
}

/// Each image's `{tree}` at the expected commit and its `tree-tag` (with `paths`): the trees
/// are walked once, shared by every image.
async fn with_content<W: World>(
    req: &Request<'_>,
    p: &Ports<'_, W>,
    mut plan: Plan,
) -> Result<Plan> {
    let Some(expected) = plan.expected.clone() else {
        return Ok(plan);
    };
    for img in plan.images.iter_mut().filter(|i| !i.paths.is_empty()) {
        let objects = objects_at(p, &expected, &img.paths).await?;
        let branch = req.event.branch.as_deref();
        content(&req.cfg.policy, &plan.vars, branch, img, objects)?;
        let c = img.content.as_ref().expect("just filled");
        p.kit.debug(&format!(
            "{}: {{tree}} of {} at {expected} is {}: {}",
            img.name,
            img.paths.join(" "),
            c.value,
            c.objects
                .iter()
                .map(|(path, o)| format!("{path}={}", o.as_deref().unwrap_or("-")))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    Ok(plan)
}

/// The PR number of a `workflow_run` whose payload had none (forks).
async fn pr_number<W: World>(p: &Ports<'_, W>, ctx: &EventContext) -> Result<u64> {
    let PrNumber::Lookup {
        head_owner,
        head_branch,
    } = &ctx.pr
    else {
        bail!("no PR to look up")
    };
    let sha = ctx
        .sha
        .as_ref()
        .ok_or_else(|| anyhow!("no head SHA to match a PR against"))?;
    let n = p
        .github
        .find_pull_request(head_owner, head_branch, sha.as_str())
        .await?
        .ok_or_else(|| anyhow!("no pull request of `{head_owner}:{head_branch}` has head `{sha}`: the PR may have been updated since the build; re-run the build, or pass `tag`"))?;
    p.kit.info(&format!(
        "Pull request #{n} found through the API (head {head_owner}:{head_branch})"
    ));
    Ok(n)
}

fn checks(req: &Request<'_>) -> Checks {
    let cfg = req.cfg;
    Checks {
        revision: cfg.revision_check,
        attestation: cfg.attestation,
        attestation_workflow: cfg.attestation_workflow.clone(),
        attestation_runner: cfg.attestation_runner,
        repository: req.repository.to_string(),
        server_url: req.server_url.to_string(),
        api_url: req.api_url.to_string(),
        api: cfg.github_token.is_some(),
        wait: cfg.wait_timeout,
        platform: cfg.platform.clone(),
    }
}

fn expect<'a>(plan: &'a Plan, checks: &Checks) -> Expect<'a> {
    Expect {
        expected: plan.expected.as_ref(),
        policy: checks.revision,
        pr_build: plan.facts.pr_build,
        api: checks.api,
        build_event: &plan.facts.build_event,
        base_sha: plan.facts.base_sha.as_ref(),
        content: None,
    }
}

/// The expectation for one image: with `paths`, a label commit with its `{tree}` passes.
fn expect_for<'a>(plan: &'a Plan, checks: &Checks, img: &'a ImagePlan) -> Expect<'a> {
    Expect {
        content: img.content.as_ref(),
        ..expect(plan, checks)
    }
}

/// The image as planned, with the notes every found image carries.
fn planned(plan: &Plan, img: &ImagePlan) -> Done {
    Done {
        notes: notes(plan),
        ..Done::planned(img)
    }
}

/// The first line of an image's log.
fn resolving(log: &Log, plan: &Plan, img: &ImagePlan) {
    log.info(&format!(
        "Resolving {} ({} event{})",
        img.reference,
        plan.facts.event,
        plan.pr.map(|n| format!(", PR #{n}")).unwrap_or_default()
    ));
}

/// The templates as rendered, for `RUNNER_DEBUG=1`.
fn describe(cfg: &Config, plan: &Plan) -> String {
    let p = &cfg.policy;
    let template = match &p.tag {
        Some(_) => "the `tag` input".to_string(),
        None if plan.pr.is_some() => format!("`pr-tag` `{}`", p.pr_tag),
        None => format!("`branch-tag` `{}`", p.branch_tag),
    };
    let images: Vec<String> = plan
        .images
        .iter()
        .map(|i| i.reference.to_string())
        .collect();
    format!(
        "tag `{}` from {template}; expected commit {}; images: {}",
        plan.tag,
        plan.expected
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| "none".into()),
        images.join(", ")
    )
}

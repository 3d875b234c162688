//! `mode: promote`: the verified digest written under every `promote-to` target, by digest;
//! with `promote-source: merged-pr`, the image of the pull request the push merged, when its
//! tree is the pushed commit's.

use super::{derive, describe, expect, planned, resolving, Finished, Request};
use crate::core::event::{EventContext, PrNumber};
use crate::core::outputs::Source;
use crate::core::plan::{
    admit, event_vars, plan as derive_plan, Asker, Facts, ImagePlan, Miss, Plan, PromoteFrom,
    PromotePlan, PromoteSource,
};
use crate::core::platform::Platform;
use crate::core::promote::{parse_targets, Skip, TargetVars};
use crate::core::result::{Done, Failed, Promotion};
use crate::core::revision::REVISION_LABEL;
use crate::core::summary::Kind;
use crate::core::Sha;
use crate::flow::log::Log;
use crate::flow::ports::{GitHubApi, World};
use crate::flow::{attest, each_image, look_up, promote, same_source, Ports};
use anyhow::{anyhow, bail, Result};

pub async fn execute<W: World>(req: &Request<'_>, p: &Ports<'_, W>) -> Result<Finished> {
    let plan = plan(req, p).await?;
    let images = run(&plan, p).await;
    // a merged pull request's image is promoted for the pushed commit: the summary links that one
    let pushed = match &plan.from {
        PromoteFrom::MergedPr { pushed, .. } | PromoteFrom::NothingMerged { pushed } => {
            Some(pushed.clone())
        }
        PromoteFrom::Commit => None,
    };
    let finished = Finished::of(plan.base, Kind::Promote, images);
    Ok(Finished {
        commit: pushed.or(finished.commit.clone()),
        ..finished
    })
}

/// The source's plan, and every image's targets rendered: `{sha}`, `{short_sha}` and `{branch}`
/// are the pushed commit's, `{pr}` the merged pull request's.
pub async fn plan<W: World>(req: &Request<'_>, p: &Ports<'_, W>) -> Result<PromotePlan> {
    let (cfg, ctx) = (req.cfg, req.event);
    let (base, from) = match cfg.promote_source {
        PromoteSource::Commit => (derive(req, p, Asker::User).await?, PromoteFrom::Commit),
        PromoteSource::MergedPr => merged_pr(req, p).await?,
    };
    let targets = match &from {
        // every image is skipped: nothing to render
        PromoteFrom::NothingMerged { .. } => vec![Vec::new(); base.images.len()],
        PromoteFrom::Commit | PromoteFrom::MergedPr { .. } => {
            let pr = match &from {
                PromoteFrom::MergedPr { number, .. } => Some(*number),
                _ => base.pr,
            };
            let vars = event_vars(&cfg.policy, &cfg.images, ctx, pr);
            base.images
                .iter()
                .map(|img| {
                    let v = TargetVars {
                        vars: &vars,
                        raw_branch: ctx.branch.as_deref(),
                        sanitize: cfg.policy.sanitize,
                        source_tag: (!img.tag.is_empty()).then_some(img.tag.as_str()),
                        name: &img.name,
                    };
                    parse_targets(&cfg.promote_to, &v)
                })
                .collect::<Result<_, _>>()?
        }
    };
    Ok(PromotePlan {
        checks: super::checks(req),
        from,
        targets,
        base,
    })
}

/// `promote-source: merged-pr`: the plan of the pull request this push merged (its number, head
/// and `pr-tag`), or the push's own plan when it merged none (every image is skipped).
async fn merged_pr<W: World>(req: &Request<'_>, p: &Ports<'_, W>) -> Result<(Plan, PromoteFrom)> {
    let (cfg, ctx) = (req.cfg, req.event);
    admit(&cfg.policy, Asker::User, ctx)?;
    if ctx.is_pr_build() {
        bail!("`promote-source: merged-pr` promotes on a `push` (or a `workflow_run` of one) that merged a pull request, not on a pull-request build: use `promote-source: commit` here");
    }
    let sha = ctx.sha.clone().ok_or_else(|| {
        anyhow!(
            "a `{}` event names no pushed commit: `promote-source: merged-pr` needs a push",
            ctx.event_name
        )
    })?;
    let Some(m) = p.github.merged_pull_request(sha.as_str()).await? else {
        let base = derive_plan(&cfg.policy, &cfg.images, cfg.scope, ctx, None)?;
        p.kit.debug(&describe(cfg, &base));
        return Ok((base, PromoteFrom::NothingMerged { pushed: sha }));
    };
    let head = Sha::parse(&m.head_sha)
        .ok_or_else(|| anyhow!("pull request #{} has no 40-hex head SHA", m.number))?;
    p.kit.info(&format!(
        "{sha} merged pull request #{} (head {head}): promoting its image",
        m.number
    ));
    let pr_ctx = EventContext {
        sha: Some(head),
        pr: PrNumber::Known(m.number),
        branch: m.head_ref.clone().or(ctx.branch.clone()),
        ..ctx.clone()
    };
    let base = Plan {
        // the steps judge the push that asked, not the pull request's event
        facts: Facts::of(ctx),
        ..derive_plan(&cfg.policy, &cfg.images, cfg.scope, &pr_ctx, Some(m.number))?
    };
    p.kit.debug(&describe(cfg, &base));
    let from = PromoteFrom::MergedPr {
        number: m.number,
        pushed: sha,
    };
    Ok((base, from))
}

pub async fn run<W: World>(plan: &PromotePlan, p: &Ports<'_, W>) -> Vec<Result<Done, Failed>> {
    each_image(
        p.kit,
        plan.base.scope,
        &plan.base.images,
        |i, img, log| async move { one(plan, p, (i, img), &log).await },
    )
    .await
}

async fn one<W: World>(
    plan: &PromotePlan,
    p: &Ports<'_, W>,
    (i, img): (usize, &ImagePlan),
    log: &Log,
) -> Result<Done> {
    let merged = match &plan.from {
        PromoteFrom::NothingMerged { pushed } => {
            return Ok(skipped(
                Done::planned(img),
                Skip::NoMergedPr,
                (pushed, None),
                log,
            ))
        }
        PromoteFrom::MergedPr { number, pushed } => Some((*number, pushed)),
        PromoteFrom::Commit => None,
    };
    resolving(log, &plan.base, img);
    let mut done = planned(&plan.base, img);
    let expect = expect(&plan.base, &plan.checks);
    let platform = Platform::choose(plan.checks.platform.as_ref(), None);
    log.group("Registry");
    let found = look_up(p, img, &platform, plan.checks.wait, &expect, log).await;
    log.end_group();
    let (remote, revision) = match (found, merged) {
        (Ok(found), _) => found,
        // the merged pull request's image is not there: build instead
        (Err((Miss::NotFound, _)), Some((number, pushed))) => {
            let planned = Done::planned(img);
            return Ok(skipped(planned, Skip::NoImage, (pushed, Some(number)), log));
        }
        (Err((_, e)), _) => return Err(e),
    };
    done.digest = Some(remote.digest.clone());
    done.source = Source::Registry;
    done.label = remote.labels.get(REVISION_LABEL).cloned();
    done.revision = revision;
    // provenance before anything is promoted
    let (attestation, note) = attest(p, &plan.checks, &remote.digest, log).await?;
    done.attestation = attestation;
    done.notes.extend(note);
    if let Some((number, pushed)) = merged {
        let label = done.label.as_deref();
        if let Some(skip) = same_source(p, (number, pushed), &done.revision, label, log).await? {
            return Ok(skipped(done, skip, (pushed, Some(number)), log));
        }
    }
    let repository = &img.reference.repository;
    let targets = &plan.targets[i];
    let written = promote(p, repository, &remote.digest, targets, log).await?;
    done.promotion = Promotion::Promoted(written);
    Ok(done)
}

/// Nothing promoted, and why: the step still succeeds, and says to build instead. An image
/// skipped after its revision check keeps how it was judged; the notice is its last note.
fn skipped(mut done: Done, skip: Skip, (pushed, pr): (&Sha, Option<u64>), log: &Log) -> Done {
    let notice = skip.notice(pushed.as_str(), pr);
    log.notice_titled("image-resolver: Promotion skipped", &notice);
    done.promotion = Promotion::Skipped(skip);
    done.source = Source::None;
    done.notes.push(notice);
    done
}

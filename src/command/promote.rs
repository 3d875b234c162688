//! `mode: promote`: the verified digest written under every `promote-to` target, by digest;
//! with `promote-source: merged-pr`, the image of the pull request the push merged, when its
//! tree is the pushed commit's.

use super::{
    derive, describe, expect, expect_for, planned, resolving, with_content, Finished, Request,
};
use crate::core::event::{EventContext, PrNumber};
use crate::core::outputs::Source;
use crate::core::plan::{
    admit, event_vars, plan as derive_plan, Asker, Facts, ImagePlan, Miss, Plan, PromoteFrom,
    PromotePlan, PromoteSource,
};
use crate::core::platform::Platform;
use crate::core::promote::{parse_targets, PromoteTarget, Skip, TargetVars};
use crate::core::result::{Done, Failed, Promotion};
use crate::core::summary::Kind;
use crate::core::tag::Vars;
use crate::core::Sha;
use crate::flow::log::Log;
use crate::flow::ports::{GitHubApi, World};
use crate::flow::{each_image, found_in_registry, look_up, promote, same_source, Ports};
use anyhow::{anyhow, bail, Result};

pub async fn execute<W: World>(req: &Request<'_>, p: &Ports<'_, W>) -> Result<Finished> {
    let plan = plan(req, p).await?;
    let images = run(&plan, p).await;
    // a merged pull request's image is promoted for the pushed commit: the summary links that one
    let pushed = match &plan.from {
        PromoteFrom::MergedPr { pushed, .. } | PromoteFrom::NothingMerged { pushed } => {
            Some(pushed.clone())
        }
        PromoteFrom::Commit | PromoteFrom::Tree => None,
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
        PromoteSource::Tree => (derive(req, p, Asker::User).await?, PromoteFrom::Tree),
    };
    if from == PromoteFrom::Tree {
        let targets = tree_targets(req, &base)?;
        return Ok(PromotePlan {
            checks: super::checks(req),
            from,
            targets,
            base,
            // one `dry-run` input for promote and clean modes
            dry_run: cfg.clean.dry_run,
        });
    }
    let targets = match &from {
        // every image is skipped: nothing to render
        PromoteFrom::NothingMerged { .. } => vec![Vec::new(); base.images.len()],
        PromoteFrom::Commit | PromoteFrom::MergedPr { .. } | PromoteFrom::Tree => {
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
        dry_run: cfg.clean.dry_run,
    })
}

/// `promote-source: tree`: each image's targets are this commit's tag, then `promote-to`'s
/// lines (optional here), where `{tree}` is the image's.
fn tree_targets(req: &Request<'_>, base: &Plan) -> Result<Vec<Vec<PromoteTarget>>> {
    let (cfg, ctx) = (req.cfg, req.event);
    let mut all = Vec::with_capacity(base.images.len());
    for img in &base.images {
        let Some(content) = &img.content else {
            bail!("`promote-source: tree` needs this commit to compute `{}`'s {{tree}}, and a `{}` event names none: pass `sha`", img.name, base.facts.event);
        };
        if img.tag.is_empty() || img.reference.digest.is_some() {
            bail!("`promote-source: tree` promotes to this commit's tag, and `{}` names a digest: name the repository alone", img.display());
        }
        let mut targets = vec![PromoteTarget {
            repository: img.reference.repository.clone(),
            tag: img.tag.clone(),
        }];
        if !cfg.promote_to.is_empty() {
            let vars = Vars {
                tree: Some(content.value.clone()),
                ..base.vars.clone()
            };
            let v = TargetVars {
                vars: &vars,
                raw_branch: ctx.branch.as_deref(),
                sanitize: cfg.policy.sanitize,
                source_tag: Some(img.tag.as_str()),
                name: &img.name,
            };
            for t in parse_targets(&cfg.promote_to, &v)? {
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
        }
        all.push(targets);
    }
    Ok(all)
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
        let base = with_content(req, p, base).await?;
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
    let base = with_content(req, p, base).await?;
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
            let notice = Skip::NoMergedPr.notice(pushed.as_str(), None);
            return Ok(skipped(Done::planned(img), Skip::NoMergedPr, notice, log));
        }
        PromoteFrom::MergedPr { number, pushed } => Some((*number, pushed)),
        PromoteFrom::Tree => return from_tree(plan, p, (i, img), log).await,
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
            let notice = Skip::NoImage.notice(pushed.as_str(), Some(number));
            return Ok(skipped(Done::planned(img), Skip::NoImage, notice, log));
        }
        (Err((_, e)), _) => return Err(e),
    };
    // provenance before anything is promoted
    let repository = &img.reference.repository;
    let found = (&remote, revision);
    found_in_registry(p, &plan.checks, &mut done, found, repository, log).await?;
    if let Some((number, pushed)) = merged {
        let label = done.label.as_deref();
        if let Some(skip) = same_source(p, (number, pushed), &done.revision, label, log).await? {
            let notice = skip.notice(pushed.as_str(), Some(number));
            return Ok(skipped(done, skip, notice, log));
        }
    }
    let repository = &img.reference.repository;
    let targets = &plan.targets[i];
    let dry = plan.dry_run;
    let (written, lines) = promote(p, repository, &remote.digest, targets, dry, log).await?;
    done.promotion = Promotion::of(written, dry);
    done.notes.extend(lines);
    Ok(done)
}

/// `promote-source: tree`: the image at `tree-tag`, revision-checked by paths, promoted to this
/// commit's tag (same repository: one manifest write); none there is a skip that says to build.
async fn from_tree<W: World>(
    plan: &PromotePlan,
    p: &Ports<'_, W>,
    (i, img): (usize, &ImagePlan),
    log: &Log,
) -> Result<Done> {
    let at = img
        .at_tree_tag()
        .ok_or_else(|| anyhow!("`{}` has no {{tree}} to look up", img.name))?;
    resolving(log, &plan.base, &at);
    let expect = expect_for(&plan.base, &plan.checks, img);
    let platform = Platform::choose(plan.checks.platform.as_ref(), None);
    log.group("Registry");
    let found = look_up(p, &at, &platform, plan.checks.wait, &expect, log).await;
    log.end_group();
    let (remote, revision) = match found {
        Ok(found) => found,
        Err((Miss::NotFound, _)) => {
            let notice = tree_notice(&at, plan.base.expected.as_ref());
            return Ok(skipped(
                planned(&plan.base, img),
                Skip::NoImage,
                notice,
                log,
            ));
        }
        Err((_, e)) => return Err(e),
    };
    let mut done = planned(&plan.base, &at);
    let repository = &img.reference.repository;
    let found = (&remote, revision);
    found_in_registry(p, &plan.checks, &mut done, found, repository, log).await?;
    let dry = plan.dry_run;
    let targets = &plan.targets[i];
    let (written, lines) = promote(p, repository, &remote.digest, targets, dry, log).await?;
    done.promotion = Promotion::of(written, dry);
    done.notes.extend(lines);
    Ok(done)
}

/// No image at `tree-tag`: what to build.
fn tree_notice(at: &ImagePlan, commit: Option<&Sha>) -> String {
    format!(
        "nothing promoted: no image of these files at `{}` yet; build and push {} as `image` and `tree-image` (`promote-skipped` is `{}`)",
        at.display(),
        commit.map_or("this commit".into(), |c| format!("`{c}`")),
        Skip::NoImage.as_str()
    )
}

/// Nothing promoted, and why: the step still succeeds, and says to build instead. An image
/// skipped after its revision check keeps how it was judged; the notice is its last note.
fn skipped(mut done: Done, skip: Skip, notice: String, log: &Log) -> Done {
    log.notice_titled("image-resolver: Promotion skipped", &notice);
    done.promotion = Promotion::Skipped(skip);
    done.source = Source::None;
    done.notes.push(notice);
    done
}

//! `mode: pull`: look the image up, check its revision and attestation, pull it by digest and
//! tag it; when the registry has no usable image, load the build's artifact instead.

use super::{derive, expect, planned, pr_number, resolving, Finished, Request};
use crate::config::Config;
use crate::core::plan::{
    after_miss, artifact_file, artifact_name, ArtifactPlan, Asker, Fallback, ImagePlan, Miss, Next,
    PullPlan,
};
use crate::core::platform::Platform;
use crate::core::result::Done;
use crate::core::revision::Expect;
use crate::core::summary::Kind;
use crate::core::tag::Vars;
use crate::flow::log::Log;
use crate::flow::ports::{Daemon, World};
use crate::flow::{
    apply_tags, each_image, found_in_registry, load_artifact, look_up_either, materialize, Ports,
    PullBy, ResolveError,
};
use anyhow::{anyhow, Result};

pub async fn execute<W: World>(
    req: &Request<'_>,
    p: &Ports<'_, W>,
    daemon: &W::Daemon,
) -> Result<Finished> {
    let plan = plan(req, p).await?;
    let images = run(&plan, p, daemon, req.cfg).await;
    Ok(Finished::of(plan.base, Kind::Resolve, images))
}

/// The shared plan, and each image's artifact: its run, name and file, rendered now.
pub async fn plan<W: World>(req: &Request<'_>, p: &Ports<'_, W>) -> Result<PullPlan> {
    let (cfg, ctx) = (req.cfg, req.event);
    let base = derive(req, p, Asker::User).await?;
    let run_id = cfg.run_id.or(base.facts.build_run).ok_or_else(|| {
        format!(
            "no run holds an artifact for a `{}` event: set `run-id`",
            base.facts.event
        )
    });
    // the PR number an artifact name needs, when nothing asked for it yet (a fork's PR)
    let may_fall_back = cfg.fallback == Fallback::Artifact
        && base.images.iter().any(|i| i.reference.digest.is_none());
    let pr = match base.pr {
        None if ctx.is_pr_build() && may_fall_back && run_id.is_ok() => pr_number(p, ctx)
            .await
            .map(Some)
            .map_err(|e| format!("{e:#}")),
        pr => Ok(pr),
    };
    let artifacts = base
        .images
        .iter()
        .map(|img| {
            let vars = Vars {
                pr: pr.clone()?,
                ..base.vars.clone()
            };
            let rendered =
                artifact_name(&cfg.policy, ctx, &vars, &img.name, base.scope).and_then(|name| {
                    let file = artifact_file(&cfg.policy, ctx, &vars, &img.name)?;
                    Ok((name, file))
                });
            let (name, file) = rendered.map_err(|e| format!("{:#}", anyhow::Error::new(e)))?;
            Ok(ArtifactPlan {
                run_id: run_id.clone()?,
                name,
                file,
            })
        })
        .collect();
    Ok(PullPlan {
        checks: super::checks(req),
        fallback: cfg.fallback,
        artifacts,
        base,
    })
}

pub async fn run<W: World>(
    plan: &PullPlan,
    p: &Ports<'_, W>,
    d: &W::Daemon,
    cfg: &Config,
) -> Vec<Result<Done, crate::core::result::Failed>> {
    let expect = expect(&plan.base, &plan.checks);
    let platform = Platform::choose(plan.checks.platform.as_ref(), Some(d.platform()));
    let (expect, platform) = (&expect, &platform);
    each_image(
        p.kit,
        plan.base.scope,
        &plan.base.images,
        |i, img, log| async move {
            // `pull-with`, with `auto` resolved by the image's registry
            let by = match cfg.pulls_by_client(img.reference.registry()) {
                true => PullBy::Client,
                false => PullBy::Daemon,
            };
            one(plan, p, d, (i, img), (expect, platform, by), &log).await
        },
    )
    .await
}

async fn one<W: World>(
    plan: &PullPlan,
    p: &Ports<'_, W>,
    d: &W::Daemon,
    (i, img): (usize, &ImagePlan),
    (expect, platform, by): (&Expect<'_>, &Platform, PullBy),
    log: &Log,
) -> Result<Done> {
    resolving(log, &plan.base, img);
    // with `paths`, a label commit with the same `{tree}` passes
    let expect = &Expect {
        content: img.content.as_ref(),
        ..*expect
    };
    let done = planned(&plan.base, img);
    log.group("Registry");
    let found = look_up_either(p, img, platform, plan.checks.wait, expect, log).await;
    log.end_group();
    let (at, remote, revision) = match found {
        Ok(found) => found,
        Err((kind, failure)) => {
            let artifact = &plan.artifacts[i];
            return fall_back(
                plan,
                p,
                d,
                img,
                (kind, failure),
                artifact,
                expect,
                done,
                log,
            )
            .await;
        }
    };
    // named by what was found: the commit's tag, or `tree-tag`
    let img = &at;
    let mut done = planned(&plan.base, img);
    let repository = &img.reference.repository;
    let found = (&remote, revision);
    found_in_registry(p, &plan.checks, &mut done, found, repository, log).await?;
    let checks_platform = plan.checks.platform.as_ref();
    let (source, local, note) = materialize(p, d, img, &remote, (checks_platform, by), log).await?;
    done.notes.extend(note);
    done.local_image = apply_tags(d, img, &local.id).await?;
    done.image_id = Some(local.id);
    done.source = source;
    Ok(done)
}

/// No usable image in the registry: the artifact, or an error that says why not.
#[allow(clippy::too_many_arguments)]
async fn fall_back<W: World>(
    plan: &PullPlan,
    p: &Ports<'_, W>,
    d: &W::Daemon,
    img: &ImagePlan,
    (kind, failure): (Miss, anyhow::Error),
    artifact: &Result<ArtifactPlan, String>,
    expect: &Expect<'_>,
    done: Done,
    log: &Log,
) -> Result<Done> {
    let by_digest = img.reference.digest.is_some();
    match after_miss(plan.fallback, by_digest, kind) {
        Next::TryArtifact => {
            // said once: as a warning when the artifact saves the day, else in the error
            let reason = format!("{failure:#}");
            log.info(&format!(
                "The registry has no usable {}: trying the build's artifact",
                img.reference
            ));
            log.group("Artifact");
            let r = match artifact {
                Ok(art) => load_artifact(p, d, img, art, (expect, &plan.checks), done, log).await,
                Err(e) => Err(anyhow!("{e}")),
            };
            log.end_group();
            if r.is_ok() {
                log.warning_titled(
                    "image-resolver: Loaded from the artifact",
                    &format!("{reason}; the build's artifact was loaded instead"),
                );
            }
            r.map_err(|artifact| {
                ResolveError::BothFailed {
                    reason,
                    artifact: format!("{artifact:#}"),
                    miss: kind,
                }
                .into()
            })
        }
        // pull promised an image: say why nothing else was tried
        Next::Fail if kind != Miss::Other => {
            let why_not = if by_digest {
                "a digest reference has no artifact to fall back on"
            } else {
                "with `fallback: none` nothing else is tried (`fallback: artifact` loads the build's artifact)"
            };
            Err(ResolveError::NoUsableImage {
                reason: format!("{failure:#}"),
                why_not,
                miss: kind,
            }
            .into())
        }
        Next::Fail => Err(failure),
    }
}

//! `mode: verify`: look the image up, check its revision and attestation; nothing is pulled.

use super::{derive, expect_for, planned, resolving, Finished, Request};
use crate::core::plan::{Asker, VerifyPlan};
use crate::core::platform::Platform;
use crate::core::result::{Done, Failed};
use crate::core::summary::Kind;
use crate::flow::ports::World;
use crate::flow::{each_image, found_in_registry, look_up_either, Ports};
use anyhow::Result;

pub async fn execute<W: World>(req: &Request<'_>, p: &Ports<'_, W>) -> Result<Finished> {
    let plan = VerifyPlan {
        base: derive(req, p, Asker::User).await?,
        checks: super::checks(req),
    };
    let images = run(&plan, p).await;
    Ok(Finished::of(plan.base, Kind::Resolve, images))
}

pub async fn run<W: World>(plan: &VerifyPlan, p: &Ports<'_, W>) -> Vec<Result<Done, Failed>> {
    let platform = &Platform::choose(plan.checks.platform.as_ref(), None);
    each_image(
        p.kit,
        plan.base.scope,
        &plan.base.images,
        |_, img, log| async move {
            resolving(&log, &plan.base, img);
            let expect = &expect_for(&plan.base, &plan.checks, img);
            log.group("Registry");
            let found = look_up_either(p, img, platform, plan.checks.wait, expect, &log).await;
            log.end_group();
            let (at, remote, revision) = found.map_err(|(_, e)| e)?;
            // named by what was found: the commit's tag, or `tree-tag`
            let mut done = planned(&plan.base, &at);
            let repository = &at.reference.repository;
            let found = (&remote, revision);
            found_in_registry(p, &plan.checks, &mut done, found, repository, &log).await?;
            Ok(done)
        },
    )
    .await
}

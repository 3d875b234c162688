//! `mode: compute`: the build's own names and labels, derived from the event; nothing is asked
//! of any registry.

use super::{derive, Finished, Request};
use crate::core::plan::{build_labels, Asker, ComputePlan};
use crate::core::result::{Done, Failed};
use crate::core::summary::Kind;
use crate::flow::ports::World;
use crate::flow::{each_image, Ports};
use anyhow::Result;

pub async fn execute<W: World>(req: &Request<'_>, p: &Ports<'_, W>) -> Result<Finished> {
    let base = derive(req, p, Asker::Build).await?;
    let plan = ComputePlan {
        // the event's own commit too: a dispatch with an explicit `tag` expects none
        labels: build_labels(
            &base,
            req.event.sha.as_ref(),
            req.server_url,
            req.repository,
        ),
        base,
    };
    let images = run(&plan, p).await;
    Ok(Finished {
        labels: plan.labels,
        ..Finished::of(plan.base, Kind::Compute, images)
    })
}

pub async fn run<W: World>(plan: &ComputePlan, p: &Ports<'_, W>) -> Vec<Result<Done, Failed>> {
    each_image(
        p.kit,
        plan.base.scope,
        &plan.base.images,
        |_, img, _| async move { Ok(Done::planned(img)) },
    )
    .await
}

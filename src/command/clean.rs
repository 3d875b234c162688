//! `mode: clean`: remove the tags of closed pull requests and deleted branches from every image
//! listed, never a digest something kept still uses (see core/clean.rs for the rules).

use super::{Finished, Request};
use crate::core::clean::{Target, Templates};
use crate::core::plan::{Facts, ImagePlan, Plan};
use crate::core::result::Done;
use crate::core::summary::Kind;
use crate::core::tag::Vars;
use crate::flow::clean::{clean, Answers, CleanPlan};
use crate::flow::ports::World;
use crate::flow::{each_image, Ports};
use anyhow::Result;

pub async fn execute<W: World>(
    req: &Request<'_>,
    p: &Ports<'_, W>,
    target: &Target,
) -> Result<Finished> {
    let (base, plan) = planned(req, target);
    let answers = Answers::default();
    let images = each_image(p.kit, base.scope, &base.images, |_, img, log| {
        let (plan, answers) = (&plan, &answers);
        async move {
            let repository = &img.reference.repository;
            log.info(&format!(
                "Cleaning {repository} ({}{})",
                describe(&plan.target),
                if plan.dry_run { ", dry run" } else { "" }
            ));
            let cleaned = clean(p, plan, answers, repository, &log).await?;
            Ok(Done {
                cleaned: Some(cleaned),
                ..Done::planned(img)
            })
        }
    })
    .await;
    Ok(Finished {
        commit: None,
        ..Finished::of(base, Kind::Clean, images)
    })
}

/// The shared plan (no tag is derived: every image is a repository) and clean mode's own.
fn planned(req: &Request<'_>, target: &Target) -> (Plan, CleanPlan) {
    let cfg = req.cfg;
    let images = cfg
        .images
        .iter()
        .map(|s| ImagePlan {
            name: s.name.clone(),
            reference: crate::core::reference::ImageRef {
                repository: s.image.repository.clone(),
                tag: None,
                digest: None,
            },
            tag: String::new(),
            local: None,
            // clean mode walks no tree: `tree-tag` tags are recognised by their shape
            paths: Vec::new(),
            content: None,
        })
        .collect();
    let base = Plan {
        tag: String::new(),
        expected: None,
        pr: match target {
            Target::Pr(n) => Some(*n),
            _ => None,
        },
        vars: Vars::default(),
        images,
        facts: Facts::of(req.event),
        scope: cfg.scope,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let plan = CleanPlan {
        target: target.clone(),
        templates: Templates {
            pr_tag: cfg.policy.pr_tag.clone(),
            branch_tag: cfg.policy.branch_tag.clone(),
            tree_tag: cfg.clean.tree_tag.clone(),
            sha_length: cfg.policy.sha_length,
            sanitize: cfg.policy.sanitize,
        },
        clean_after: cfg.clean.clean_after,
        keep: cfg.clean.keep.clone(),
        dry_run: cfg.clean.dry_run,
        now,
    };
    (base, plan)
}

fn describe(t: &Target) -> String {
    match t {
        Target::Pr(n) => format!("pull request #{n} closed: its tags only"),
        Target::Branch(b) => format!("branch `{b}` deleted: its tags only"),
        Target::Sweep => "a sweep of every tag".into(),
    }
}

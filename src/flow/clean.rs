//! Clean mode's step over the ports, one repository at a time: list its tags, learn what
//! GitHub says of the pull requests and branches they name, read the manifests a removal could
//! touch, plan (core), and remove — or, dry, only report. Anything unreadable fails the
//! repository before the first removal.

use super::log::Log;
use super::ports::{Cleaner, GitHubApi, World};
use super::Ports;
use crate::core::clean::{
    decide, plan as plan_digests, prs_named, recognise, Cleaned, Facts, Node, PrState, Reason,
    Recognised, Target, Templates,
};
use anyhow::{anyhow, Context, Result};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Manifests read at once from one registry.
const READS: usize = 8;
/// Pull requests asked at once: few, as GitHub asks of API clients.
const ASKS: usize = 4;

/// What this run cleans, as planned once for every image.
#[derive(Debug, Clone)]
pub struct CleanPlan {
    pub target: Target,
    pub templates: Templates,
    pub clean_after: u64,
    pub keep: Vec<String>,
    pub dry_run: bool,
    /// Unix seconds, taken once.
    pub now: i64,
}

/// GitHub's answers, shared by every image: open pull requests and branches listed once per
/// step, each other pull request asked once.
#[derive(Default)]
pub struct Answers {
    open: OnceCell<HashSet<u64>>,
    branches: OnceCell<HashSet<String>>,
    asked: std::sync::Mutex<HashMap<u64, Arc<OnceCell<PrState>>>>,
}

impl Answers {
    async fn state<G: GitHubApi>(&self, github: &G, target: &Target, n: u64) -> Result<PrState> {
        // the close event names its pull request: only that one is asked, never the list
        if !matches!(target, Target::Pr(_)) {
            let open = self
                .open
                .get_or_try_init(|| async {
                    let list = github.open_pull_requests().await?;
                    Ok::<_, anyhow::Error>(list.into_iter().collect::<HashSet<u64>>())
                })
                .await?;
            if open.contains(&n) {
                return Ok(PrState::Open);
            }
        }
        let cell = self
            .asked
            .lock()
            .expect("pull request states")
            .entry(n)
            .or_default()
            .clone();
        let state = cell
            .get_or_try_init(|| github.pull_request_state(n))
            .await?;
        Ok(*state)
    }

    async fn branches<G: GitHubApi>(&self, github: &G, t: &Templates) -> Result<&HashSet<String>> {
        self.branches
            .get_or_try_init(|| async {
                let names = github.branches().await?;
                Ok(names
                    .iter()
                    .map(|b| crate::core::tag::sanitize_branch(b, t.sanitize))
                    .collect())
            })
            .await
    }
}

/// Cleans one repository as planned; the result says what was (or would be) removed.
pub async fn clean<W: World>(
    p: &Ports<'_, W>,
    plan: &CleanPlan,
    answers: &Answers,
    repository: &str,
    log: &Log,
) -> Result<Cleaned> {
    let t = &plan.templates;
    log.group("Tags");
    let tags = p.registry.tags(repository, log).await;
    log.end_group();
    let tags =
        tags.with_context(|| format!("listing the tags of `{repository}`: nothing removed"))?;
    log.info(&format!("{repository}: {} tag(s)", tags.len()));
    // each pull request asked once (shared by every image), a few at a time
    let numbers = prs_named(tags.iter().map(String::as_str), t, &plan.target);
    let mut asks = futures_util::stream::iter(numbers)
        .map(|n| async move { (n, answers.state(p.github, &plan.target, n).await) })
        .buffer_unordered(ASKS);
    let mut prs = HashMap::new();
    while let Some((n, state)) = asks.next().await {
        let state = state.with_context(|| {
            format!("reading the state of pull request #{n} for `{repository}`: nothing removed")
        })?;
        prs.insert(n, state);
    }
    drop(asks);
    let wants_branches = !matches!(plan.target, Target::Pr(_))
        && tags
            .iter()
            .any(|tag| matches!(recognise(tag, t), Recognised::Branch { .. }));
    let empty = HashSet::new();
    let branches = if wants_branches {
        answers
            .branches(p.github, t)
            .await
            .with_context(|| format!("listing the branches for `{repository}`: nothing removed"))?
    } else {
        &empty
    };
    let mut created = HashMap::new();
    let mut reasons = decide_all(&tags, plan, &prs, branches, &created)?;
    if !reasons.iter().any(Reason::removes)
        && !reasons.iter().any(|r| matches!(r, Reason::AgeUnknown(_)))
    {
        log.info(&format!("{repository}: nothing to remove"));
        return Ok(Cleaned::of(
            repository,
            &plan_of(&tags, reasons, &HashMap::new())?,
            plan.dry_run,
        ));
    }
    // every tag's manifest: what a removal shares is only known from all of them
    let facts = read_all(p, repository, &tags, log).await?;
    // a deleted branch's image: its age from its config
    for (tag, r) in tags.iter().zip(&reasons) {
        if let (Reason::AgeUnknown(_), Some(config)) = (r, &facts[tag].config) {
            let c = p
                .registry
                .created(repository, config, log)
                .await
                .with_context(|| {
                    format!("reading the creation time of `{repository}:{tag}`: nothing removed")
                })?;
            if let Some(c) = c {
                created.insert(tag.clone(), c);
            }
        }
    }
    reasons = decide_all(&tags, plan, &prs, branches, &created)?;
    let nodes: HashMap<String, Node> = facts
        .values()
        .map(|f| (f.digest.clone(), f.node.clone()))
        .collect();
    let digests: HashMap<&String, String> =
        tags.iter().map(|t| (t, facts[t].digest.clone())).collect();
    drop(facts);
    let triples = tags
        .iter()
        .zip(reasons)
        .map(|(t, r)| (t.clone(), digests[t].clone(), r))
        .collect();
    let planned = plan_digests(triples, &nodes);
    let cleaned = Cleaned::of(repository, &planned, plan.dry_run);
    if plan.dry_run {
        log.info(&format!(
            "dry run: {} tag(s) of `{repository}` would be removed, {} manifest(s) deleted",
            cleaned.removed.len(),
            planned.delete.len()
        ));
        return Ok(cleaned);
    }
    // a registry that refuses deletes (HTTP 405) fails here, before anything changed: a
    // digest no manifest has is asked to go, which such a registry refuses and others ignore
    if !(planned.delete.is_empty() && planned.untag.is_empty()) {
        let probe = format!("sha256:{}", "0".repeat(64));
        p.registry
            .delete(repository, &probe, log)
            .await
            .with_context(|| format!("`{repository}` cannot delete: nothing removed"))?;
    }
    for digest in &planned.delete {
        p.registry
            .delete(repository, digest, log)
            .await
            .with_context(|| format!("deleting `{repository}@{digest}`"))?;
        log.info(&format!("deleted `{repository}@{digest}`"));
    }
    for tag in &planned.untag {
        p.registry
            .untag(repository, tag, log)
            .await
            .with_context(|| format!("removing `{repository}:{tag}`"))?;
        log.info(&format!("removed `{repository}:{tag}` (its digest stays)"));
    }
    Ok(cleaned)
}

/// Each tag's reason; a pull request whose state is unknown fails the repository.
fn decide_all(
    tags: &[String],
    plan: &CleanPlan,
    prs: &HashMap<u64, PrState>,
    branches: &HashSet<String>,
    created: &HashMap<String, i64>,
) -> Result<Vec<Reason>> {
    let facts = Facts {
        now: plan.now,
        clean_after: plan.clean_after,
        keep: &plan.keep,
        target: &plan.target,
        prs,
        branches,
        created,
    };
    tags.iter()
        .map(|tag| {
            decide(tag, &plan.templates, &facts).map_err(|e| anyhow!("{e}: nothing removed"))
        })
        .collect()
}

/// A plan with nothing to remove (no digest read).
fn plan_of(
    tags: &[String],
    reasons: Vec<Reason>,
    nodes: &HashMap<String, Node>,
) -> Result<crate::core::clean::Plan> {
    let triples = tags
        .iter()
        .zip(reasons)
        .map(|(t, r)| (t.clone(), String::new(), r))
        .collect();
    Ok(plan_digests(triples, nodes))
}

/// Every tag's manifest facts, a few at a time; any unreadable fails the repository.
async fn read_all<W: World>(
    p: &Ports<'_, W>,
    repository: &str,
    tags: &[String],
    log: &Log,
) -> Result<HashMap<String, crate::model::ManifestFacts>> {
    let mut out = HashMap::with_capacity(tags.len());
    let mut reads = futures_util::stream::iter(tags)
        .map(|tag| async move { (tag, p.registry.facts(repository, tag, log).await) })
        .buffer_unordered(READS);
    while let Some((tag, r)) = reads.next().await {
        let f = r.with_context(|| {
            format!("reading the manifest of `{repository}:{tag}`: nothing removed")
        })?;
        out.insert(tag.clone(), f);
    }
    Ok(out)
}

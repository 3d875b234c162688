//! Clean mode's step over the ports, one repository at a time: list its tags, learn what
//! GitHub says of the pull requests and branches they name, read the manifests a removal could
//! touch, plan (core), and remove — or, dry, only report. Anything unreadable fails the
//! repository before the first removal.

use super::log::Log;
use super::ports::{Cleaner, GitHubApi, World};
use super::Ports;
use crate::core::clean::{
    decide, freed, gone_with, plan as plan_digests, prs_named, recognise, so_far, version_ids,
    with_referrers, Cleaned, Facts, Node, Package, Plan, PrState, Reason, Recognised, Target,
    Templates,
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
    /// ghcr.io: each package owner's kind (organization or user), asked once.
    owners: std::sync::Mutex<HashMap<String, Arc<OnceCell<bool>>>>,
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

    async fn org<G: GitHubApi>(&self, github: &G, owner: &str) -> Result<bool> {
        let cell = self
            .owners
            .lock()
            .expect("package owners")
            .entry(owner.to_string())
            .or_default()
            .clone();
        Ok(*cell.get_or_try_init(|| github.owner_is_org(owner)).await?)
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
    let mut nodes: HashMap<String, Node> = facts
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
    let mut planned = plan_digests(triples, &nodes);
    // an index's children have no tag: read them now, for the bytes their deletion frees
    let gone = read_children(p, repository, &planned.delete, &mut nodes, log).await?;
    planned.delete.retain(|d| !gone.contains(d));
    planned.bytes = freed(&planned.delete, &nodes);
    drop(nodes);
    // untagged referrers (signatures, attestations) go before their subject, where the registry
    // lists them through the referrers API; the tag schemes' are in the tag list already
    let found = referrers_of(p, repository, &planned.delete, log).await?;
    with_referrers(&mut planned, found);
    let cleaned = Cleaned::of(repository, &planned, plan.dry_run);
    let work = !(planned.delete.is_empty() && planned.untag.is_empty());
    // on ghcr.io every digest to delete must be a package version, dry or not
    let versions = match Package::of(repository).filter(|_| work) {
        Some(package) => Some(versions_of(p, answers, package, repository, &planned).await?),
        None => None,
    };
    if plan.dry_run {
        log.info(&format!(
            "dry run: {} tag(s) of `{repository}` would be removed, {} manifest(s) deleted",
            cleaned.removed.len(),
            planned.delete.len()
        ));
        return Ok(cleaned);
    }
    if !work {
        return Ok(cleaned);
    }
    let mut done = Vec::new();
    let removal = match versions {
        Some(v) => remove_versions(p, repository, &planned, v, &mut done, log).await,
        None => remove_manifests(p, repository, &planned, &mut done, log).await,
    };
    // a failure midway names what is already gone: outputs are not written on failure
    removal.map_err(|(what, e)| anyhow!("{what}: {e:#}; {}", so_far(repository, &done)))?;
    Ok(cleaned)
}

/// A step of a removal that failed, and why.
type Failure = (String, anyhow::Error);

/// Distribution and its kin: deletes by digest, and a tag alone through a placeholder.
async fn remove_manifests<W: World>(
    p: &Ports<'_, W>,
    repository: &str,
    planned: &Plan,
    done: &mut Vec<String>,
    log: &Log,
) -> Result<(), Failure> {
    // a registry that refuses deletes (HTTP 405) fails here, before anything changed: a
    // digest no manifest has is asked to go, which such a registry refuses and others ignore
    let probe = format!("sha256:{}", "0".repeat(64));
    p.registry
        .delete(repository, &probe, log)
        .await
        .map_err(|e| (format!("`{repository}` cannot delete"), e.into()))?;
    for digest in &planned.delete {
        p.registry
            .delete(repository, digest, log)
            .await
            .map_err(|e| (format!("deleting `{repository}@{digest}`"), e.into()))?;
        done.extend(gone_with(planned, digest).map(String::from));
        log.info(&format!("deleted `{repository}@{digest}`"));
    }
    for tag in &planned.untag {
        p.registry
            .untag(repository, tag, log)
            .await
            .map_err(|e| (format!("removing `{repository}:{tag}`"), e.into()))?;
        done.push(tag.clone());
        log.info(&format!("removed `{repository}:{tag}` (its digest stays)"));
    }
    Ok(())
}

/// A ghcr.io repository's package, whose owner kind is known, and the versions to delete.
struct Versions {
    package: Package,
    org: bool,
    ids: Vec<(String, u64)>,
}

/// The package versions a ghcr.io removal deletes, read before anything changes: the owner's
/// kind, the versions listed, and each digest to delete among them.
async fn versions_of<W: World>(
    p: &Ports<'_, W>,
    answers: &Answers,
    package: Package,
    repository: &str,
    planned: &Plan,
) -> Result<Versions> {
    let org = answers
        .org(p.github, &package.owner)
        .await
        .with_context(|| {
            format!("looking up the owner of {package} for `{repository}`: nothing removed")
        })?;
    let listed = p
        .github
        .package_versions(&package, org)
        .await
        .with_context(|| {
            format!("listing the versions of {package} for `{repository}`: nothing removed")
        })?;
    let ids = version_ids(&planned.delete, &listed).map_err(|d| {
        anyhow!("`{repository}@{d}` is not among the versions of {package} (the registry and the Packages API disagree): nothing removed")
    })?;
    Ok(Versions { package, org, ids })
}

/// ghcr.io: the registry API deletes nothing, so versions go through the Packages API; a tag
/// alone moves to a placeholder (a new version), which is then deleted as a version.
async fn remove_versions<W: World>(
    p: &Ports<'_, W>,
    repository: &str,
    planned: &Plan,
    v: Versions,
    done: &mut Vec<String>,
    log: &Log,
) -> Result<(), Failure> {
    let Versions { package, org, ids } = v;
    for (digest, id) in &ids {
        p.github
            .delete_package_version(&package, org, *id)
            .await
            .map_err(|e| (format!("deleting `{repository}@{digest}`"), e))?;
        done.extend(gone_with(planned, digest).map(String::from));
        log.info(&format!("deleted `{repository}@{digest}` (version {id})"));
    }
    if planned.untag.is_empty() {
        return Ok(());
    }
    let mut placed = Vec::with_capacity(planned.untag.len());
    for tag in &planned.untag {
        let digest = p.registry.place(repository, tag, log).await.map_err(|e| {
            (
                format!("moving `{repository}:{tag}` to a placeholder"),
                e.into(),
            )
        })?;
        placed.push((tag, digest));
    }
    // the placeholders are new versions: listed once more for their ids
    let listed = p
        .github
        .package_versions(&package, org)
        .await
        .map_err(|e| {
            (
                format!("listing the versions of {package} for the placeholders of `{repository}`"),
                e,
            )
        })?;
    let digests: Vec<String> = placed.iter().map(|(_, d)| d.clone()).collect();
    let ids = version_ids(&digests, &listed).map_err(|d| {
        (
            format!("deleting the placeholder `{repository}@{d}`"),
            anyhow!("it is not among the versions of {package} yet (its tag names it now)"),
        )
    })?;
    for ((tag, _), (_, id)) in placed.into_iter().zip(ids) {
        p.github
            .delete_package_version(&package, org, id)
            .await
            .map_err(|e| {
                (
                    format!("deleting the placeholder of `{repository}:{tag}`"),
                    e,
                )
            })?;
        done.push(tag.clone());
        log.info(&format!("removed `{repository}:{tag}` (its digest stays)"));
    }
    Ok(())
}

/// The referrers the referrers API lists for each digest to delete; none asked past the first
/// when the registry has no such API. Unreadable: nothing removed.
async fn referrers_of<W: World>(
    p: &Ports<'_, W>,
    repository: &str,
    delete: &[String],
    log: &Log,
) -> Result<Vec<(String, Vec<String>)>> {
    let mut found = Vec::new();
    for d in delete {
        let listed = p
            .registry
            .listed_referrers(repository, d, log)
            .await
            .with_context(|| {
                format!("reading the referrers of `{repository}@{d}`: nothing removed")
            })?;
        match listed {
            None => break,
            Some(list) if list.is_empty() => {}
            Some(list) => {
                log.info(&format!(
                    "`{repository}@{d}`: {} referrer(s) listed, deleted with it",
                    list.len()
                ));
                found.push((d.clone(), list));
            }
        }
    }
    Ok(found)
}

/// Reads the manifests of digests to delete that no tag named (an index's children) into
/// `nodes`; those already gone are returned (nothing left to delete).
async fn read_children<W: World>(
    p: &Ports<'_, W>,
    repository: &str,
    delete: &[String],
    nodes: &mut HashMap<String, Node>,
    log: &Log,
) -> Result<HashSet<String>> {
    let missing: Vec<&String> = delete.iter().filter(|d| !nodes.contains_key(*d)).collect();
    let mut reads = futures_util::stream::iter(missing)
        .map(|d| async move { (d, p.registry.facts(repository, d, log).await) })
        .buffer_unordered(READS);
    let mut gone = HashSet::new();
    while let Some((d, r)) = reads.next().await {
        match r {
            Ok(f) => {
                nodes.insert(d.clone(), f.node);
            }
            Err(crate::model::RegistryError::NotFound { .. }) => {
                log.info(&format!("`{repository}@{d}` is already gone"));
                gone.insert(d.clone());
            }
            Err(e) => {
                return Err(anyhow::Error::from(e).context(format!(
                    "reading the manifest of `{repository}@{d}`: nothing removed"
                )))
            }
        }
    }
    Ok(gone)
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

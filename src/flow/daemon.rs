//! The Docker daemon's part: the verified digest made present (already there, pulled by digest,
//! or with `pull-with: client` fetched by the action and loaded), then tagged.

use super::log::Log;
use super::ports::{Daemon, Login, Registry, World};
use super::Ports;
use crate::core::outputs::Source;
use crate::core::plan::ImagePlan;
use crate::core::platform::Platform;
use crate::core::reference::ImageRef;
use crate::core::revision::REVISION_LABEL;
use crate::core::size::human;
use crate::model::{LocalImage, RemoteImage};
use anyhow::{anyhow, bail, Result};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Who downloads the image's blobs (the `pull-with` input, `auto` resolved per registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullBy {
    Daemon,
    Client,
}

/// Makes the verified digest present in the daemon: already there, pulled by digest, or fetched
/// by the action and loaded; with a note for the summary when the client pulled.
pub async fn materialize<W: World>(
    p: &Ports<'_, W>,
    d: &W::Daemon,
    img: &ImagePlan,
    remote: &RemoteImage,
    (platform, by): (Option<&Platform>, PullBy),
    log: &Log,
) -> Result<(Source, LocalImage, Option<String>)> {
    let repo = &img.reference.repository;
    let pinned = format!("{repo}@{}", remote.digest);
    let held = match d.image(&pinned).await? {
        // a client pull records no repository digest: the image ID (the config's digest) names it
        None if by == PullBy::Client => d.image(&remote.config_digest).await?,
        held => held,
    };
    let mut note = None;
    let (source, image) = match held {
        Some(held) => {
            log.info(&format!(
                "The daemon already holds {pinned}: nothing to pull"
            ));
            (Source::Local, held)
        }
        None if by == PullBy::Client => {
            log.group(&format!("Pull {pinned} (by the action)"));
            let r = pull_by_client(p, d, img, remote, log).await;
            log.end_group();
            let (held, line) = r?;
            note = Some(line);
            (Source::Registry, held)
        }
        None => {
            log.group(&format!("Pull {pinned}"));
            let auth = p.login.login(img.reference.registry()).await;
            // by digest: what we checked is exactly what we pull, even if the tag moves meanwhile
            let r = match auth {
                Ok(auth) => d
                    .pull(repo, &remote.digest, platform, auth.as_ref(), log)
                    .await
                    .map_err(anyhow::Error::from),
                Err(e) => Err(e),
            };
            log.end_group();
            r?;
            let held = d
                .image(&pinned)
                .await?
                .ok_or_else(|| anyhow!("`{pinned}` is not in the daemon after the pull"))?;
            (Source::Registry, held)
        }
    };
    // the daemon's view must agree with the registry's
    if image.labels.get(REVISION_LABEL) != remote.labels.get(REVISION_LABEL) {
        bail!("`{pinned}`: the pulled image's revision label differs from the registry's config");
    }
    Ok((source, image, note))
}

/// `pull-with: client`: the platform's manifest's blobs fetched by the action and streamed into
/// the daemon's load; the daemon must report the config's digest as the image ID, or what it
/// loaded is removed again. A failed fetch aborts the load, so nothing is loaded or tagged.
async fn pull_by_client<W: World>(
    p: &Ports<'_, W>,
    d: &W::Daemon,
    img: &ImagePlan,
    remote: &RemoteImage,
    log: &Log,
) -> Result<(LocalImage, String)> {
    let repo = &img.reference.repository;
    // the platform's own manifest: the one `inspect` chose, as the daemon would
    let manifest = ImageRef {
        repository: repo.clone(),
        tag: None,
        digest: Some(remote.manifest_digest.clone()),
    };
    let started = Instant::now();
    let blobs = p.registry.blobs(&manifest, log).await?;
    let (failure, stats) = (blobs.failure.clone(), blobs.stats.clone());
    let loaded = d.load_blobs(blobs, log).await;
    for line in stats
        .retries
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        log.info(line);
    }
    let id = match (loaded, failure.take()) {
        (loaded, Some(fetch)) => {
            if let Ok(id) = loaded {
                d.remove_unused(&id).await;
            }
            return Err(
                anyhow::Error::new(fetch).context("pulling by the action; nothing was loaded")
            );
        }
        (Err(e), None) => return Err(e.into()),
        (Ok(id), None) => id,
    };
    if id != remote.config_digest {
        let gone = if d.remove_unused(&id).await {
            "it was removed again"
        } else {
            "it is left in place: something else uses it"
        };
        bail!(
            "`{manifest}`: the daemon loaded `{id}`, not the image `{}` the registry's manifest names; {gone}",
            remote.config_digest
        );
    }
    let held = d
        .image(&id)
        .await?
        .ok_or_else(|| anyhow!("`{id}` is not in the daemon after loading `{manifest}`"))?;
    let took = started.elapsed();
    let bytes = stats.bytes.load(Ordering::Relaxed);
    let (ranged, ranges, whole) = (
        stats.ranged_blobs.load(Ordering::Relaxed),
        stats.ranges.load(Ordering::Relaxed),
        stats.whole_blobs.load(Ordering::Relaxed),
    );
    let last_byte = stats.last_byte_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    log.info(&format!(
        "Loaded {id}: {} in {:.1}s, the last byte fetched after {last_byte:.1}s ({ranged} blob(s) in {ranges} ranges, {whole} whole)",
        human(bytes),
        took.as_secs_f64()
    ));
    let line = format!(
        "pulled by: client — `{manifest}` ({} layer(s), {}) was fetched by the action and loaded; the daemon records no repository digest for it: run it by tag or `local-image`",
        remote.layers,
        human(bytes)
    );
    Ok((held, line))
}

/// The image's own tag and `local-tag`; the local tag applied, if any.
pub async fn apply_tags<D: Daemon>(d: &D, img: &ImagePlan, id: &str) -> Result<Option<String>> {
    if !img.tag.is_empty() {
        d.tag(id, &img.reference.repository, &img.tag).await?;
    }
    match &img.local {
        Some(local) => {
            let tag = local.tag.as_deref().unwrap_or("latest");
            d.tag(id, &local.repository, tag).await?;
            Ok(Some(format!("{}:{tag}", local.repository)))
        }
        None => Ok(None),
    }
}

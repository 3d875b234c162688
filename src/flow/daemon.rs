//! The Docker daemon's part: the verified digest made present (already there, or pulled by
//! digest), then tagged.

use super::log::Log;
use super::ports::{Daemon, Login, World};
use super::Ports;
use crate::core::outputs::Source;
use crate::core::plan::ImagePlan;
use crate::core::platform::Platform;
use crate::core::revision::REVISION_LABEL;
use crate::model::{LocalImage, RemoteImage};
use anyhow::{anyhow, bail, Result};

/// Makes the verified digest present in the daemon: already there, or pulled by digest.
pub async fn materialize<W: World>(
    p: &Ports<'_, W>,
    d: &W::Daemon,
    img: &ImagePlan,
    remote: &RemoteImage,
    platform: Option<&Platform>,
    log: &Log,
) -> Result<(Source, LocalImage)> {
    let repo = &img.reference.repository;
    let pinned = format!("{repo}@{}", remote.digest);
    let (source, image) = match d.image(&pinned).await? {
        Some(held) => {
            log.info(&format!(
                "The daemon already holds {pinned}: nothing to pull"
            ));
            (Source::Local, held)
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
    Ok((source, image))
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

//! Finding the image in its registry (waiting for it when asked), and the revision check of what
//! was found: one group of the log, "Registry".

use super::log::Log;
use super::ports::{Registry, World};
use super::{check_revision, Ports};
use crate::core::plan::{ImagePlan, Miss};
use crate::core::platform::Platform;
use crate::core::reference::ImageRef;
use crate::core::revision::{Expect, Outcome, REVISION_LABEL};
use crate::core::size::human;
use crate::model::{RegistryError, RemoteImage};
use std::time::{Duration, Instant};

/// Locate, then check the revision; a miss says what kind it is, for the fallback rule.
pub async fn look_up<W: World>(
    p: &Ports<'_, W>,
    img: &ImagePlan,
    platform: &Platform,
    wait: Duration,
    expect: &Expect<'_>,
    log: &Log,
) -> Result<(RemoteImage, Outcome), (Miss, anyhow::Error)> {
    let phase = Instant::now();
    // the group's first line, whatever follows: the error itself is printed once, at the end
    log.info(&format!("Looking up {} for {platform}", img.reference));
    let remote = locate(p, &img.reference, platform, wait, log)
        .await
        .map_err(|e| (miss_kind(&e), anyhow::Error::new(e)))?;
    log.info(&format!(
        "{} is {} ({}, {} layer(s), {})",
        img.reference,
        remote.digest,
        remote.platform,
        remote.layers,
        human(remote.size)
    ));
    log.debug(&format!(
        "{} manifest {}, config {}",
        remote.platform, remote.manifest_digest, remote.config_digest
    ));
    let what = img.reference.to_string();
    let label = remote.labels.get(REVISION_LABEL).map(String::as_str);
    let outcome = check_revision(p, label, expect, &what, log)
        .await
        .map_err(|e| (Miss::Revision, e));
    log.debug(&format!(
        "registry phase: {} ms",
        phase.elapsed().as_millis()
    ));
    Ok((remote, outcome?))
}

/// `look_up` of the commit's tag; when it is missing and the image has `paths`, of its
/// `tree-tag`: the image of the same files. Also the plan of the reference it was found under.
pub async fn look_up_either<W: World>(
    p: &Ports<'_, W>,
    img: &ImagePlan,
    platform: &Platform,
    wait: Duration,
    expect: &Expect<'_>,
    log: &Log,
) -> Result<(ImagePlan, RemoteImage, Outcome), (Miss, anyhow::Error)> {
    let first = look_up(p, img, platform, wait, expect, log).await;
    let at = match (first, img.at_tree_tag()) {
        (Ok((remote, outcome)), _) => return Ok((img.clone(), remote, outcome)),
        (Err((Miss::NotFound, e)), Some(at)) => (e, at),
        (Err(e), _) => return Err(e),
    };
    let (missed, at) = at;
    log.info(&format!(
        "{} is not there: looking up the image of the same files, {}",
        img.reference, at.reference
    ));
    // the tag waited for was the commit's: the content's is there already, or not at all
    match look_up(p, &at, platform, Duration::ZERO, expect, log).await {
        Ok((remote, outcome)) => Ok((at, remote, outcome)),
        Err((Miss::NotFound, _)) => Err((
            Miss::NotFound,
            missed.context(format!(
                "neither this commit's tag nor `tree-tag` (`{}`) is in the registry",
                at.reference
            )),
        )),
        Err(e) => Err(e),
    }
}

/// The manifest and labels, polling until `wait` is over while the tag is missing.
pub async fn locate<W: World>(
    p: &Ports<'_, W>,
    reference: &ImageRef,
    platform: &Platform,
    wait_timeout: Duration,
    log: &Log,
) -> Result<RemoteImage, RegistryError> {
    // tokio's clock: the same that the naps run on
    let deadline = tokio::time::Instant::now() + wait_timeout;
    let mut wait = Duration::from_secs(1);
    loop {
        match p.registry.inspect(reference, platform, log).await {
            Err(e) if e.is_not_found() && !wait_timeout.is_zero() => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    return Err(RegistryError::NotFound {
                        reference: format!("{reference} (waited {}s)", wait_timeout.as_secs()),
                    });
                }
                // the last nap ends at the deadline, for one more look
                let nap = wait.min(left);
                log.info(&format!(
                    "{reference} is not there yet; looking again in {:.0}s ({}s left)",
                    nap.as_secs_f64().ceil(),
                    left.as_secs()
                ));
                tokio::time::sleep(nap).await;
                wait = (wait * 2).min(Duration::from_secs(15));
            }
            other => return other,
        }
    }
}

fn miss_kind(e: &RegistryError) -> Miss {
    match e {
        RegistryError::NotFound { .. } | RegistryError::NoRepository { .. } => Miss::NotFound,
        RegistryError::Unreachable { .. } => Miss::Unreachable,
        _ => Miss::Other,
    }
}

//! The artifact fallback: the build's artifact, loaded untagged, checked, then tagged or removed.

use super::log::Log;
use super::ports::{Daemon, GitHubApi, Loaded, World};
use super::{apply_tags, attest, check_revision, Ports};
use crate::core::outputs::Source;
use crate::core::plan::{ArtifactPlan, AttestationPolicy, Checks, ImagePlan};
use crate::core::result::Done;
use crate::core::revision::{Expect, REVISION_LABEL};
use crate::core::size::human;
use anyhow::{anyhow, bail, Result};

/// The planned artifact, loaded untagged, then checked, then tagged; what fails is removed again.
pub async fn load_artifact<W: World>(
    p: &Ports<'_, W>,
    d: &W::Daemon,
    img: &ImagePlan,
    art: &ArtifactPlan,
    (expect, checks): (&Expect<'_>, &Checks),
    mut done: Done,
    log: &Log,
) -> Result<Done> {
    let (run_id, name) = (art.run_id, &art.name);
    let found = p.github.find_artifact(run_id, name).await?;
    log.info(&format!(
        "Artifact `{name}` (id {}, {}) of run {run_id}",
        found.id,
        human(found.size)
    ));
    let url = p.github.download_url(found.id).await?;
    let loaded = d
        .load_artifact(&url, &found, art.file.as_deref(), log)
        .await?;
    // nothing is tagged until the loaded image passed; what fails is removed again
    if let Err(e) = check_loaded(p, d, name, &loaded, (expect, checks), &mut done, log).await {
        let what = if d.remove_unused(&loaded.id).await {
            "removed again"
        } else {
            "left in place: something else uses it"
        };
        return Err(e.context(format!("the loaded image `{}` was {what}", loaded.id)));
    }
    done.local_image = apply_tags(d, img, &loaded.id).await?;
    done.image_id = Some(loaded.id);
    done.source = Source::Artifact;
    done.label = loaded.revision;
    Ok(done)
}

/// The revision of a loaded artifact, the daemon's agreement on which config it loaded, and
/// the attestation of the tar.
async fn check_loaded<W: World>(
    p: &Ports<'_, W>,
    d: &W::Daemon,
    name: &str,
    loaded: &Loaded,
    (expect, checks): (&Expect<'_>, &Checks),
    done: &mut Done,
    log: &Log,
) -> Result<()> {
    let what = format!("artifact `{name}`");
    done.revision = check_revision(p, loaded.revision.as_deref(), expect, &what, log).await?;
    let image = d
        .image(&loaded.id)
        .await?
        .ok_or_else(|| anyhow!("loaded image `{}` is not in the daemon", loaded.id))?;
    if image.labels.get(REVISION_LABEL) != loaded.revision.as_ref() {
        bail!(
            "loaded image `{}`: its revision label differs from the one in the artifact's config",
            loaded.id
        );
    }
    if checks.attestation != AttestationPolicy::Off {
        let digest = loaded.tar_digest.as_deref().ok_or_else(|| {
            anyhow!("artifact `{name}`: the image tar's digest is unknown, so its attestation cannot be checked")
        })?;
        let (attestation, note) =
            attest(p, checks, digest, loaded.revision.as_deref(), log).await?;
        done.attestation = attestation;
        done.notes.extend(note);
    }
    Ok(())
}

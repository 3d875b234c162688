//! The registry path: look the image up (waiting for it when asked), use what passed — attest,
//! pull by digest, tag, promote — or decide what a miss means.

use super::*;

impl<R: Registry, G: GitHubApi, D: Daemon> Flow<'_, R, G, D> {
    /// Locate and verify, inside the Registry group; a miss says what kind it is.
    pub(super) async fn look_up(
        &self,
        plan: &Plan,
        img: &ImagePlan,
        platform: &Platform,
        log: &Log,
    ) -> Result<(RemoteImage, Outcome), (Miss, anyhow::Error)> {
        let phase = Instant::now();
        // the group's first line, whatever follows: the error itself is printed once, at the end
        log.info(&format!("Looking up {} for {platform}", img.reference));
        let remote = self
            .locate(img, platform, log)
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
        let outcome = self
            .verify(plan, remote.labels.get(REVISION_LABEL), &what, log)
            .await
            .map_err(|e| (Miss::Revision, e));
        log.debug(&format!(
            "registry phase: {} ms",
            phase.elapsed().as_millis()
        ));
        Ok((remote, outcome?))
    }

    /// A verified registry image: attested, then (pull mode) made present and tagged.
    pub(super) async fn use_remote(
        &self,
        plan: &Plan,
        img: &ImagePlan,
        remote: RemoteImage,
        outcome: Outcome,
        mut base: ImageResult,
        log: &Log,
    ) -> Result<Resolved> {
        base.digest = remote.digest.clone();
        base.r#ref = format!("{}@{}", img.reference.repository, remote.digest);
        base.source = Source::Registry;
        base.revision_label = remote.labels.get(REVISION_LABEL).cloned();
        // provenance before anything is pulled, tagged or promoted
        let mut notes = self.notes(plan);
        self.attest(&remote.digest, &mut base, &mut notes, log)
            .await?;
        if self.cfg.mode == Mode::Promote {
            let verified = resolved(base, outcome, notes);
            return self.promote(plan, img, &remote.digest, verified, log).await;
        }
        if let Some(d) = self.daemon {
            let (source, local) = self.materialize(d, img, &remote, log).await?;
            self.apply_tags(d, img, &local.id, &mut base).await?;
            base.source = source;
        }
        Ok(resolved(base, outcome, notes))
    }

    /// No usable image in the registry: the artifact, or an error that says why not.
    pub(super) async fn after_miss(
        &self,
        plan: &Plan,
        img: &ImagePlan,
        (kind, registry_failure): (Miss, anyhow::Error),
        base: ImageResult,
        log: &Log,
    ) -> Result<Resolved> {
        // the merged pull request's image is not there: build instead
        if self.merged_pr_source() && kind == Miss::NotFound {
            return Ok(self.skipped(base, Skip::NoImage, log));
        }
        let by_digest = img.reference.digest.is_some();
        let next = after_miss(self.cfg.mode, self.cfg.fallback, by_digest, kind);
        match (next, self.daemon) {
            (Next::TryArtifact, Some(d)) => {
                // said once: as a warning when the artifact saves the day, else in the error
                let reason = format!("{registry_failure:#}");
                log.info(&format!(
                    "The registry has no usable {}: trying the build's artifact",
                    img.reference
                ));
                log.group("Artifact");
                let r = self.load_artifact(d, plan, img, base, log).await;
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
            // pull mode promised an image: say why nothing else was tried
            _ if self.cfg.mode == Mode::Pull && kind != Miss::Other => {
                let why_not = if by_digest {
                    "a digest reference has no artifact to fall back on"
                } else {
                    "with `fallback: none` nothing else is tried (`fallback: artifact` loads the build's artifact)"
                };
                Err(ResolveError::NoUsableImage {
                    reason: format!("{registry_failure:#}"),
                    why_not,
                    miss: kind,
                }
                .into())
            }
            _ => Err(registry_failure),
        }
    }

    /// The manifest and labels, polling until `wait-timeout` while the tag is missing.
    pub(super) async fn locate(
        &self,
        img: &ImagePlan,
        platform: &Platform,
        log: &Log,
    ) -> Result<RemoteImage, RegistryError> {
        let wait_timeout = self.cfg.wait_timeout;
        // tokio's clock: the same that the naps run on
        let deadline = tokio::time::Instant::now() + wait_timeout;
        let mut wait = Duration::from_secs(1);
        loop {
            match self.registry.inspect(&img.reference, platform, log).await {
                Err(e) if e.is_not_found() && !wait_timeout.is_zero() => {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if left.is_zero() {
                        return Err(RegistryError::NotFound {
                            reference: format!(
                                "{} (waited {}s)",
                                img.reference,
                                wait_timeout.as_secs()
                            ),
                        });
                    }
                    // the last nap ends at the deadline, for one more look
                    let nap = wait.min(left);
                    log.info(&format!(
                        "{} is not there yet; looking again in {:.0}s ({}s left)",
                        img.reference,
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

    /// Makes the verified digest present in the daemon: already there, or pulled by digest.
    pub(super) async fn materialize(
        &self,
        d: &D,
        img: &ImagePlan,
        remote: &RemoteImage,
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
                let creds = self.registry.credentials(img.reference.registry());
                // by digest: what we checked is exactly what we pull, even if the tag moves meanwhile
                let r = d
                    .pull(
                        repo,
                        &remote.digest,
                        self.cfg.platform.as_ref(),
                        creds.as_ref(),
                        log,
                    )
                    .await;
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
            bail!(
                "`{pinned}`: the pulled image's revision label differs from the registry's config"
            );
        }
        Ok((source, image))
    }

    pub(super) async fn apply_tags(
        &self,
        d: &D,
        img: &ImagePlan,
        id: &str,
        out: &mut ImageResult,
    ) -> Result<()> {
        if !img.tag.is_empty() {
            d.tag(id, &img.reference.repository, &img.tag).await?;
        }
        if let Some(local) = &img.local {
            let tag = local.tag.as_deref().unwrap_or("latest");
            d.tag(id, &local.repository, tag).await?;
            out.local_image = format!("{}:{tag}", local.repository);
        }
        out.image_id = id.to_string();
        Ok(())
    }
}

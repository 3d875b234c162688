//! The artifact fallback: the build's artifact, loaded untagged, checked, then tagged or removed.

use super::*;

impl<R: Registry, G: GitHubApi, D: Daemon> Flow<'_, R, G, D> {
    /// The build's artifact, loaded untagged, then checked, then tagged.
    pub(super) async fn load_artifact(
        &self,
        d: &D,
        plan: &Plan,
        img: &ImagePlan,
        mut out: ImageResult,
        log: &Log,
    ) -> Result<Resolved> {
        let ctx = self.ctx;
        let run_id = self
            .cfg
            .run_id
            .or(ctx.upstream.as_ref().map(|u| u.id))
            .ok_or_else(|| {
                anyhow!(
                    "no run holds an artifact for a `{}` event: set `run-id`",
                    ctx.event_name
                )
            })?;
        let mut vars = plan.vars.clone();
        if ctx.is_pr_build() && vars.pr.is_none() {
            vars.pr = Some(self.pr_number().await?);
        }
        let several = plan.images.len() > 1;
        let name = artifact_name(&self.cfg.policy, ctx, &vars, &img.name, several)?;
        let file = artifact_file(&self.cfg.policy, ctx, &vars, &img.name)?;
        let found = self.github.find_artifact(run_id, &name).await?;
        log.info(&format!(
            "Artifact `{name}` (id {}, {}) of run {run_id}",
            found.id,
            human(found.size)
        ));
        let url = self.github.download_url(found.id).await?;
        let loaded = d.load_artifact(&url, &found, file.as_deref(), log).await?;
        // nothing is tagged until the loaded image passed; what fails is removed again
        let mut notes = self.notes(plan);
        let checked = self
            .check_loaded(d, plan, &name, &loaded, &mut out, &mut notes, log)
            .await;
        let outcome = match checked {
            Ok(o) => o,
            Err(e) => {
                let gone = d.remove_unused(&loaded.id).await;
                let what = if gone {
                    "removed again"
                } else {
                    "left in place: something else uses it"
                };
                return Err(e.context(format!("the loaded image `{}` was {what}", loaded.id)));
            }
        };
        self.apply_tags(d, img, &loaded.id, &mut out).await?;
        out.source = Source::Artifact;
        out.revision_label = loaded.revision;
        Ok(resolved(out, outcome, notes))
    }

    /// The revision of a loaded artifact, and the daemon's agreement on which config it loaded.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn check_loaded(
        &self,
        d: &D,
        plan: &Plan,
        name: &str,
        loaded: &ports::Loaded,
        out: &mut ImageResult,
        notes: &mut Vec<String>,
        log: &Log,
    ) -> Result<Outcome> {
        let what = format!("artifact `{name}`");
        let outcome = self
            .verify(plan, loaded.revision.as_ref(), &what, log)
            .await?;
        let image = d
            .image(&loaded.id)
            .await?
            .ok_or_else(|| anyhow!("loaded image `{}` is not in the daemon", loaded.id))?;
        if image.labels.get(REVISION_LABEL) != loaded.revision.as_ref() {
            bail!("loaded image `{}`: its revision label differs from the one in the artifact's config", loaded.id);
        }
        if self.cfg.attestation != Attestation::Off {
            let digest = loaded.tar_digest.as_deref().ok_or_else(|| {
                anyhow!("artifact `{name}`: the image tar's digest is unknown, so its attestation cannot be checked")
            })?;
            self.attest(digest, out, notes, log).await?;
        }
        Ok(outcome)
    }
}

//! Promotion: the verified digest under every target; from a merged pull request only when the
//! trees match.

use super::*;

impl<R: Registry, G: GitHubApi, D: Daemon> Flow<'_, R, G, D> {
    pub(super) fn merged_pr_source(&self) -> bool {
        self.cfg.mode == Mode::Promote && self.cfg.promote_source == PromoteSource::MergedPr
    }

    /// `promote-source: merged-pr`: the plan of the pull request this push merged (its number,
    /// head and `pr-tag`), or the push's own plan when it merged none (every image is skipped).
    pub(super) async fn plan_merged_pr(&self) -> Result<Plan> {
        let (cfg, ctx) = (self.cfg, self.ctx);
        if ctx.is_pr_build() {
            bail!("`promote-source: merged-pr` promotes on a `push` (or a `workflow_run` of one) that merged a pull request, not on a pull-request build: use `promote-source: commit` here");
        }
        let sha = ctx.sha.as_ref().ok_or_else(|| {
            anyhow!(
                "a `{}` event names no pushed commit: `promote-source: merged-pr` needs a push",
                ctx.event_name
            )
        })?;
        let merged = self
            .merged
            .get_or_try_init(|| self.github.merged_pull_request(sha.as_str()))
            .await?;
        let Some(m) = merged else {
            return Ok(plan(&cfg.policy, &cfg.images, ctx, None)?);
        };
        let head = Sha::parse(&m.head_sha)
            .ok_or_else(|| anyhow!("pull request #{} has no 40-hex head SHA", m.number))?;
        self.kit.info(&format!(
            "{sha} merged pull request #{} (head {head}): promoting its image",
            m.number
        ));
        let pr_ctx = EventContext {
            sha: Some(head),
            pr: PrNumber::Known(m.number),
            branch: m.head_ref.clone().or(ctx.branch.clone()),
            ..ctx.clone()
        };
        Ok(plan(&cfg.policy, &cfg.images, &pr_ctx, Some(m.number))?)
    }

    /// Writes the verified digest under every `promote-to` target. From a merged pull request,
    /// only when the tree its image was built from is the pushed commit's tree.
    pub(super) async fn promote(
        &self,
        plan_: &Plan,
        img: &ImagePlan,
        digest: &str,
        mut r: Resolved,
        log: &Log,
    ) -> Result<Resolved> {
        let merged = self.merged.get().cloned().flatten();
        // `{sha}`, `{short_sha}` and `{branch}` are the pushed commit's; `{pr}` the merged PR's
        let vars = match &merged {
            Some(m) => plan(&self.cfg.policy, &self.cfg.images, self.ctx, Some(m.number))?.vars,
            None => plan_.vars.clone(),
        };
        if let Some(m) = &merged {
            let pushed = self
                .ctx
                .sha
                .as_ref()
                .ok_or_else(|| anyhow!("no pushed commit"))?;
            let label = match &r.revision {
                Outcome::MergeCommit(c) | Outcome::SameTree(c) => Some(c.to_string()),
                _ => Sha::parse(&r.result.revision()).map(|s| s.to_string()),
            };
            let Some(label) = label else {
                return Ok(self.skipped_judged(r, Skip::TreeDiffers, log));
            };
            let built = self.tree_of(&label).await?;
            let here = self.tree_of(pushed.as_str()).await?;
            if same_tree(&built, &here).is_err() {
                return Ok(self.skipped_judged(r, Skip::TreeDiffers, log));
            }
            log.info(&format!(
                "The image of pull request #{} was built from {label}, whose tree {built} is the tree of {pushed}: the same source",
                m.number
            ));
        }
        let source_tag = (!img.tag.is_empty()).then_some(img.tag.as_str());
        let targets = parse_targets(
            &self.cfg.promote_to.join("\n"),
            &TargetVars {
                vars: &vars,
                raw_branch: self.ctx.branch.as_deref(),
                sanitize: self.cfg.policy.sanitize,
                source_tag,
                name: &img.name,
            },
        )?;
        let source = ImageRef {
            repository: img.reference.repository.clone(),
            tag: None,
            digest: Some(digest.to_string()),
        };
        log.group("Promote");
        let done = self.registry.promote(&source, &targets, log).await;
        log.end_group();
        r.result.promoted = done?
            .into_iter()
            .map(|p| PromotedTarget {
                state: if p.written {
                    TargetState::Written
                } else {
                    TargetState::AlreadyThere
                },
                reference: p.reference,
            })
            .collect();
        Ok(r)
    }

    /// Skipped after the revision check: the summary shows the revision as it was judged.
    fn skipped_judged(&self, r: Resolved, skip: Skip, log: &Log) -> Resolved {
        let mut notes = r.notes;
        let skipped = self.skipped(r.result, skip, log);
        notes.extend(skipped.notes);
        Resolved {
            revision: r.revision,
            notes,
            ..skipped
        }
    }

    /// Nothing promoted, and why: the step still succeeds, and says to build instead.
    pub(super) fn skipped(&self, mut base: ImageResult, skip: Skip, log: &Log) -> Resolved {
        let sha = self
            .ctx
            .sha
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let pr = self.merged.get().cloned().flatten().map(|m| m.number);
        let notice = skip.notice(&sha, pr);
        log.notice_titled("image-resolver: Promotion skipped", &notice);
        base.promote_skipped = skip.as_str().into();
        base.source = Source::None;
        resolved(base, Outcome::NotChecked, vec![notice])
    }
}

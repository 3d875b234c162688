//! Is the image what we expect? The revision label against the expected commit (merge commits and
//! same trees included), and the GitHub attestation of its digest.

use super::*;

impl<R: Registry, G: GitHubApi, D: Daemon> Flow<'_, R, G, D> {
    /// The revision label against the expected commit; an error when the image is not usable
    /// under `revision-check: fail`.
    pub(super) async fn verify(
        &self,
        plan: &Plan,
        label: Option<&String>,
        what: &str,
        log: &Log,
    ) -> Result<Outcome> {
        let label = label.map(String::as_str);
        let Some(expected) = &plan.expected else {
            return Ok(Outcome::NotChecked);
        };
        if self.cfg.revision_check == RevisionCheck::Off {
            return Ok(Outcome::Off);
        }
        let mut parents = None;
        let outcome = match compare(label, expected) {
            Verdict::Match => Some(Outcome::Match),
            Verdict::OtherCommit(merge)
                if self.ctx.is_pr_build() && self.cfg.github_token.is_some() =>
            {
                let found: Vec<Sha> = self
                    .github
                    .commit_parents(merge.as_str())
                    .await?
                    .iter()
                    .filter_map(|p| Sha::parse(p))
                    .collect();
                let is_merge = found.contains(expected);
                if is_merge {
                    log.info(&format!("{what} is labelled with {merge}, a merge commit whose parents include {expected}"));
                }
                parents = Some(found);
                is_merge.then_some(Outcome::MergeCommit(merge))
            }
            // an image promoted from the pull request it was tested on carries that PR's commit:
            // the same tree is the same source (two API calls, only when the plain compare failed)
            Verdict::OtherCommit(other) if self.cfg.github_token.is_some() => {
                match self.same_tree(&other, expected).await {
                    Ok(true) => {
                        log.info(&format!("{what} is labelled with {other}, whose tree is the tree of {expected}: matched by tree"));
                        Some(Outcome::SameTree(other))
                    }
                    Ok(false) => None,
                    // fail closed: an unanswered look-up leaves the mismatch standing
                    Err(e) => {
                        log.info(&format!(
                            "comparing the trees of {other} and {expected}: {e:#}"
                        ));
                        None
                    }
                }
            }
            _ => None,
        };
        if let Some(o) = outcome {
            return Ok(o);
        }
        // the producer's mistake and its fix, before any advice to look away
        let event = self
            .ctx
            .upstream
            .as_ref()
            .map(|u| u.event.as_str())
            .unwrap_or(&self.ctx.event_name);
        let known = mismatch::Known {
            event,
            pr_base_head: self.ctx.base_sha.as_ref(),
            label_parents: parents.as_deref(),
            build_sha: None,
        };
        let advice = mismatch::classify(expected, label, &known).advice;
        let shown = shown_label(label);
        if self.cfg.revision_check == RevisionCheck::Warn {
            log.warning(&format!(
                "`{what}` was built from {shown}, not `{expected}`, accepted under `revision-check: warn`: {advice}"
            ));
            return Ok(Outcome::Accepted { found: shown });
        }
        Err(ResolveError::RevisionMismatch {
            reference: what.into(),
            expected: expected.to_string(),
            found: shown,
            advice,
        }
        .into())
    }

    pub(super) async fn same_tree(&self, a: &Sha, b: &Sha) -> Result<bool> {
        let ta = self.tree_of(a.as_str()).await?;
        let tb = self.tree_of(b.as_str()).await?;
        Ok(same_tree(&ta, &tb).is_ok())
    }

    /// A commit's tree, asked of the API once per step whoever asks.
    pub(super) async fn tree_of(&self, sha: &str) -> Result<String> {
        let cell = self
            .trees
            .lock()
            .expect("trees")
            .entry(sha.to_ascii_lowercase())
            .or_default()
            .clone();
        let tree = cell
            .get_or_try_init(|| self.github.commit_tree(sha))
            .await?;
        Ok(tree.clone())
    }

    /// The GitHub artifact attestation of `digest`: `verified`, or under `attestation: fail` an
    /// error before anything is tagged or promoted, under `warn` a warning.
    pub(super) async fn attest(
        &self,
        digest: &str,
        out: &mut ImageResult,
        notes: &mut Vec<String>,
        log: &Log,
    ) -> Result<()> {
        if self.cfg.attestation == Attestation::Off {
            return Ok(());
        }
        let policy = provenance::Policy {
            repository: self.repository.clone(),
            workflow: self.cfg.attestation_workflow.clone(),
        };
        // one bundle at a time: each is judged and dropped before the next is fetched
        let mut verdict = provenance::Verdict::new(digest, &policy);
        self.github
            .attestations(digest, &mut |b| verdict.offer(b))
            .await?;
        let problem = match verdict.finish() {
            Ok(v) => {
                let place = match v.log_index {
                    Some(i) => format!("transparency log index {i}"),
                    None => "timestamped by GitHub".into(),
                };
                let commit = v.commit.as_deref().unwrap_or("an unnamed commit");
                log.info(&format!(
                    "attestation of {digest} verified: signed by {} from {commit} ({place})",
                    v.signer
                ));
                notes.push(format!(
                    "Attestation verified: signed by `{}`, built from `{commit}` ({place}).",
                    v.signer
                ));
                out.attestation = "verified".into();
                out.attestation_signer = v.signer;
                return Ok(());
            }
            Err(provenance::Unproven::Missing) => {
                out.attestation = "missing".into();
                format!("no attestation of `{digest}` in `{}`: attest the build with actions/attest-build-provenance (`push-to-registry: true`), and give this job `attestations: read`", self.repository)
            }
            Err(e @ provenance::Unproven::Invalid { .. }) => {
                out.attestation = "invalid".into();
                format!("the attestation of `{digest}` is invalid: {e}")
            }
        };
        if self.cfg.attestation == Attestation::Fail {
            bail!("{problem}");
        }
        log.warning(&format!("{problem} (attestation: warn)"));
        notes.push(format!("Attestation {}: {problem}.", out.attestation));
        Ok(())
    }
}

//! The GitHub attestation of a digest, before anything is pulled, tagged or promoted.

use super::log::Log;
use super::ports::{GitHubApi, World};
use super::Ports;
use crate::core::plan::{AttestationPolicy, AttestationRunner, Checks};
use crate::core::result::{Attestation, Evidence};
use crate::core::Sha;
use crate::provenance;
use anyhow::{bail, Result};

/// `verified`, or under `attestation: fail` an error, under `warn` a warning; with the note the
/// summary shows. `label` is the image's revision label, as judged by the revision check: the
/// attestation must say it was built from that commit.
pub async fn attest<W: World>(
    p: &Ports<'_, W>,
    checks: &Checks,
    digest: &str,
    label: Option<&str>,
    log: &Log,
) -> Result<(Attestation, Option<String>)> {
    if checks.attestation == AttestationPolicy::Off {
        return Ok((Attestation::NotChecked, None));
    }
    let policy = policy(checks, label);
    // one bundle at a time: each is judged and dropped before the next is fetched
    let mut verdict = provenance::Verdict::new(digest, &policy);
    p.github
        .attestations(digest, &mut |b| verdict.offer(b))
        .await?;
    let (found, problem) = match verdict.finish() {
        Ok(v) => {
            let place = match v.log_index {
                Some(i) => format!("transparency log index {i}"),
                None => "timestamped by GitHub".into(),
            };
            let commit = v.commit.as_deref().unwrap_or("an unnamed commit");
            // said only when the certificate's commit was held to the label's
            let bound = if policy.commit.is_some() {
                ", the revision label's commit"
            } else {
                ""
            };
            log.info(&format!(
                "attestation of {digest} verified: signed by {} from {commit}{bound} ({place})",
                v.signer
            ));
            let note = format!(
                "Attestation verified: signed by `{}`, built from `{commit}`{bound} ({place}).",
                v.signer
            );
            let evidence = Evidence {
                subject: digest.to_string(),
                commit: v.commit.clone(),
                bound_to: policy.commit.clone(),
                caller: v.caller.clone(),
                runner: v.runner.clone(),
                bundle_uri: format!(
                    "{}/repos/{}/attestations/{digest}",
                    checks.api_url.trim_end_matches('/'),
                    checks.repository
                ),
                bundle_digest: v.bundle_digest.clone(),
                instance: v.instance.to_string(),
            };
            let verified = Attestation::Verified {
                signer: v.signer,
                evidence: Box::new(evidence),
            };
            return Ok((verified, Some(note)));
        }
        Err(provenance::Unproven::Missing) => (
            Attestation::Missing,
            format!("no attestation of `{digest}` in `{}`: attest the build with actions/attest (`push-to-registry: true`), and give this job `attestations: read`", checks.repository),
        ),
        Err(e @ provenance::Unproven::Invalid { .. }) => (
            Attestation::Invalid,
            format!("the attestation of `{digest}` is invalid: {e}"),
        ),
    };
    if checks.attestation == AttestationPolicy::Fail {
        bail!("{problem}");
    }
    log.warning(&format!("{problem} (attestation: warn)"));
    let note = format!("Attestation {}: {problem}.", found.as_str());
    Ok((found, Some(note)))
}

/// What the attestation must say: this repository on this server, the workflow and runner the
/// inputs ask for, and the commit of the revision label when it holds one (a label the revision
/// check let through without a commit binds nothing: `revision-check` was `off` or `warn`).
fn policy(checks: &Checks, label: Option<&str>) -> provenance::Policy {
    provenance::Policy {
        repository: checks.repository.clone(),
        workflow: checks.attestation_workflow.clone(),
        commit: label
            .map(str::trim)
            .and_then(Sha::parse)
            .map(|c| c.as_str().to_string()),
        runner: match checks.attestation_runner {
            AttestationRunner::Any => provenance::Runner::Any,
            AttestationRunner::GitHubHosted => provenance::Runner::GitHubHosted,
        },
        server: checks.server_url.clone(),
    }
}

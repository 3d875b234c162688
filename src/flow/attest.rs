//! The GitHub attestation of a digest, before anything is pulled, tagged or promoted.

use super::log::Log;
use super::ports::{GitHubApi, World};
use super::Ports;
use crate::core::plan::{AttestationPolicy, Checks};
use crate::core::result::Attestation;
use crate::provenance;
use anyhow::{bail, Result};

/// `verified`, or under `attestation: fail` an error, under `warn` a warning; with the note the
/// summary shows.
pub async fn attest<W: World>(
    p: &Ports<'_, W>,
    checks: &Checks,
    digest: &str,
    log: &Log,
) -> Result<(Attestation, Option<String>)> {
    if checks.attestation == AttestationPolicy::Off {
        return Ok((Attestation::NotChecked, None));
    }
    let policy = provenance::Policy {
        repository: checks.repository.clone(),
        workflow: checks.attestation_workflow.clone(),
    };
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
            log.info(&format!(
                "attestation of {digest} verified: signed by {} from {commit} ({place})",
                v.signer
            ));
            let note = format!(
                "Attestation verified: signed by `{}`, built from `{commit}` ({place}).",
                v.signer
            );
            return Ok((Attestation::Verified { signer: v.signer }, Some(note)));
        }
        Err(provenance::Unproven::Missing) => (
            Attestation::Missing,
            format!("no attestation of `{digest}` in `{}`: attest the build with actions/attest-build-provenance (`push-to-registry: true`), and give this job `attestations: read`", checks.repository),
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

//! The GitHub attestation of a digest, before anything is pulled, tagged or promoted.

use super::log::Log;
use super::ports::{GitHubApi, Registry, World};
use super::Ports;
use crate::core::outputs::Source;
use crate::core::plan::{AttestationPolicy, AttestationRunner, Checks};
use crate::core::result::{Attestation, BundleSource, Done, Evidence};
use crate::core::revision::{Outcome as Revision, REVISION_LABEL};
use crate::core::Sha;
use crate::model::RemoteImage;
use crate::provenance;
use anyhow::{bail, Result};

/// An image found in the registry, its revision judged: recorded in `done`, then its attestation
/// checked, before anything is pulled, tagged or promoted.
pub async fn found_in_registry<W: World>(
    p: &Ports<'_, W>,
    checks: &Checks,
    done: &mut Done,
    (remote, revision): (&RemoteImage, Revision),
    repository: &str,
    log: &Log,
) -> Result<()> {
    done.digest = Some(remote.digest.clone());
    done.source = Source::Registry;
    done.label = remote.labels.get(REVISION_LABEL).cloned();
    done.revision = revision;
    let label = done.label.as_deref();
    let (attestation, note) =
        attest_image(p, checks, Some(repository), &remote.digest, label, log).await?;
    done.attestation = attestation;
    done.notes.extend(note);
    Ok(())
}

/// `verified`, or under `attestation: fail` an error, under `warn` a warning; with the note the
/// summary shows. Bundles from the GitHub API only (an artifact's digest is in no registry).
/// `label` is the image's revision label, as judged by the revision check: the attestation must
/// say it was built from that commit.
pub async fn attest<W: World>(
    p: &Ports<'_, W>,
    checks: &Checks,
    digest: &str,
    label: Option<&str>,
    log: &Log,
) -> Result<(Attestation, Option<String>)> {
    attest_image(p, checks, None, digest, label, log).await
}

/// As `attest`, for an image in `repository` (`host/path`): when the GitHub API has no bundle
/// for the digest or cannot answer, the bundles stored in the registry beside it.
pub async fn attest_image<W: World>(
    p: &Ports<'_, W>,
    checks: &Checks,
    repository: Option<&str>,
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
    let api = p
        .github
        .attestations(digest, &mut |b| verdict.offer(b))
        .await;
    let from = registry_fallback(p, repository, digest, api, &mut verdict, log).await?;
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
                "attestation of {digest} verified ({}): signed by {} from {commit}{bound} ({place})",
                from.words(),
                v.signer
            ));
            let note = format!(
                "Attestation verified ({}): signed by `{}`, built from `{commit}`{bound} ({place}).",
                from.words(),
                v.signer
            );
            let evidence = Evidence {
                subject: digest.to_string(),
                commit: v.commit.clone(),
                bound_to: policy.commit.clone(),
                caller: v.caller.clone(),
                runner: v.runner.clone(),
                bundle_uri: match (from, repository) {
                    // where the registry lists it: the referrers of the digest
                    (BundleSource::Registry, Some(r)) => {
                        let (host, path) = r.split_once('/').unwrap_or((r, ""));
                        format!("https://{host}/v2/{path}/referrers/{digest}")
                    }
                    _ => format!(
                        "{}/repos/{}/attestations/{digest}",
                        checks.api_url.trim_end_matches('/'),
                        checks.repository
                    ),
                },
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
            format!("no attestation of `{digest}` in `{}`: attest the build with actions/attest (`push-to-registry: true`), and give this job `attestations: read`{}", checks.repository, repository.map_or(String::new(), |r| format!("; `{r}` holds no Sigstore bundle of it either"))),
        ),
        Err(e @ provenance::Unproven::Invalid { .. }) => (
            Attestation::Invalid,
            format!(
                "the attestation of `{digest}` is invalid ({}): {e}",
                from.words()
            ),
        ),
    };
    if checks.attestation == AttestationPolicy::Fail {
        bail!("{problem}");
    }
    log.warning(&format!("{problem} (attestation: warn)"));
    let note = format!("Attestation {}: {problem}.", found.as_str());
    Ok((found, Some(note)))
}

/// The registry as a second source of bundles: asked when the GitHub API offered none (404, an
/// empty list) or could not answer (rate limit, another organisation's repository, 5xx after
/// retries). Where the judged bundles came from; the API's error stands when the registry has
/// no bundle either (or none can be read there).
async fn registry_fallback<W: World>(
    p: &Ports<'_, W>,
    repository: Option<&str>,
    digest: &str,
    api: Result<usize>,
    verdict: &mut provenance::Verdict<'_>,
    log: &Log,
) -> Result<BundleSource> {
    let api_error = match api {
        Ok(n) if n > 0 => return Ok(BundleSource::GitHubApi),
        Ok(_) => None,
        Err(e) => Some(e),
    };
    let stands = |e: Option<anyhow::Error>| e.map_or(Ok(BundleSource::GitHubApi), Err);
    let Some(repository) = repository else {
        return stands(api_error);
    };
    log.info(&match &api_error {
        Some(e) => format!("the GitHub API could not give the attestations ({e:#}): looking for Sigstore bundles stored in `{repository}`"),
        None => format!("the GitHub API has no attestation of {digest}: looking for Sigstore bundles stored in `{repository}`"),
    });
    match p
        .registry
        .bundles(repository, digest, &mut |b| verdict.offer(b), log)
        .await
    {
        Ok(n) if n > 0 => Ok(BundleSource::Registry),
        Ok(_) => {
            log.info(&format!("no Sigstore bundle of {digest} in `{repository}`"));
            stands(api_error)
        }
        Err(e) => {
            log.warning(&format!(
                "the Sigstore bundles stored in `{repository}` could not be read: {e}"
            ));
            stands(api_error)
        }
    }
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

//! Writes the verification summary of every verified image under the workspace: one predicate
//! per resource (the image's repository, or each repository it was promoted to), named by image
//! name, never by anything a server said.

use crate::config::Config;
use crate::core::outputs::{Source, TargetState};
use crate::core::plan::{AttestationPolicy, AttestationRunner};
use crate::core::result::{Attestation, Done, Evidence, Promotion};
use crate::core::revision::RevisionCheck;
use crate::core::vsa::{
    artifact_uri, file_name, predicate, resource_uri, target_repositories, PolicyRef, Summary,
};
use crate::env::RunnerVars;
use crate::provenance::SLSA_PROVENANCE_V1;
use crate::toolkit::Toolkit;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// The `verification-summary` output: the first file written (the first image's first
/// resource), relative to the workspace; empty when nothing was verified.
pub fn write(cfg: &Config, runner: &RunnerVars, kit: &Toolkit, done: &[Done]) -> Result<String> {
    if cfg.attestation == AttestationPolicy::Off {
        return Ok(String::new());
    }
    let workspace = match &runner.github_workspace {
        Some(w) => PathBuf::from(w),
        None => std::env::current_dir().context("the current directory, for the workspace")?,
    };
    let time = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let version = env!("CARGO_PKG_VERSION");
    let mut first = None;
    for d in done {
        let Attestation::Verified { evidence, .. } = &d.attestation else {
            continue;
        };
        let policy = policy(cfg, runner, evidence);
        for (i, resource) in resources(d, evidence).into_iter().enumerate() {
            let name = file_name(&d.name, i);
            let summary = Summary {
                version,
                time: &time,
                resource,
                policy: &policy,
                evidence,
            };
            let path = workspace.join(&name);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating `{}`", dir.display()))?;
                owned_like(&workspace, dir);
            }
            let mut json = serde_json::to_vec_pretty(&predicate(&summary))?;
            json.push(b'\n');
            std::fs::write(&path, json)
                .with_context(|| format!("writing the verification summary `{name}`"))?;
            owned_like(&workspace, &path);
            kit.info(&format!(
                "Verification summary of `{}` ({}): `{name}`",
                d.name, summary.resource
            ));
            first.get_or_insert(name);
        }
    }
    Ok(first.unwrap_or_default())
}

/// The container runs as root, the runner's user owns the workspace: what we write there is
/// given to the workspace's owner, so a later checkout (`git clean`) on a kept workspace can
/// remove it. Best effort: without the right to, the files stay ours.
fn owned_like(workspace: &std::path::Path, path: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    if let Ok(m) = std::fs::metadata(workspace) {
        let _ = std::os::unix::fs::chown(path, Some(m.uid()), Some(m.gid()));
    }
}

/// What was verified: in promote mode each repository promoted to (nothing when nothing was
/// written: a skip or a dry run); otherwise the image where it was found.
fn resources(d: &Done, evidence: &Evidence) -> Vec<String> {
    let Some(digest) = &d.digest else {
        // an artifact: the image tar the attestation names
        return match d.source {
            Source::Artifact => vec![artifact_uri(&d.name, &evidence.subject)],
            _ => Vec::new(),
        };
    };
    match &d.promotion {
        Promotion::Promoted(targets) => target_repositories(
            targets
                .iter()
                .filter(|t| t.state != TargetState::WouldWrite)
                .map(|t| t.reference.as_str()),
        )
        .iter()
        .map(|r| resource_uri(r, digest))
        .collect(),
        Promotion::Skipped(_) | Promotion::DryRun(_) => Vec::new(),
        Promotion::NotAsked => vec![resource_uri(&d.reference.repository, digest)],
    }
}

/// The workflow running this step is the policy (its inputs); the checks it made are listed.
fn policy(cfg: &Config, runner: &RunnerVars, evidence: &Evidence) -> PolicyRef {
    let server = runner.server_url();
    let server = server.trim_end_matches('/');
    let repository = runner.github_repository.clone().unwrap_or_default();
    let uri = match &runner.github_workflow_ref {
        Some(w) => format!("{server}/{w}"),
        None => format!("{server}/{repository}"),
    };
    let mut checks = vec![
        ("predicate-type", SLSA_PROVENANCE_V1.to_string()),
        ("subject-digest", evidence.subject.clone()),
        ("source-repository", format!("{server}/{repository}")),
    ];
    if let Some(c) = &evidence.bound_to {
        checks.push(("source-digest", c.clone()));
    }
    checks.push((
        "attestation-workflow",
        cfg.attestation_workflow
            .clone()
            .unwrap_or_else(|| "any workflow of the repository".into()),
    ));
    checks.push((
        "attestation-runner",
        match cfg.attestation_runner {
            AttestationRunner::Any => "any",
            AttestationRunner::GitHubHosted => "github-hosted",
        }
        .into(),
    ));
    checks.push((
        "revision-check",
        match cfg.revision_check {
            RevisionCheck::Fail => "fail",
            RevisionCheck::Warn => "warn",
            RevisionCheck::Off => "off",
        }
        .into(),
    ));
    checks.push(("sigstore-instance", evidence.instance.clone()));
    PolicyRef {
        uri,
        git_commit: runner.github_workflow_sha.clone(),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::outputs::PromotedTarget;
    use crate::core::plan::ImagePlan;
    use crate::core::promote::Skip;
    use crate::core::reference::ImageRef;

    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const TAR: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn done(promotion: Promotion, source: Source, digest: Option<&str>) -> Done {
        let img = ImagePlan {
            name: "api".into(),
            reference: ImageRef::parse("r.example/acme/api:main-1").unwrap(),
            tag: "main-1".into(),
            local: None,
            paths: vec![],
            content: None,
        };
        Done {
            promotion,
            source,
            digest: digest.map(String::from),
            ..Done::planned(&img)
        }
    }

    fn target(reference: &str, state: TargetState) -> PromotedTarget {
        PromotedTarget {
            reference: format!("{reference}@{DIGEST}"),
            state,
        }
    }

    #[test]
    fn resources_are_where_the_image_is_or_went() {
        let evidence = Evidence {
            subject: TAR.into(),
            ..Evidence::default()
        };
        let oci = |repo: &str| {
            format!(
                "pkg:oci/{}@sha256%3A{}?repository_url={repo}",
                repo.rsplit('/').next().unwrap(),
                "a".repeat(64)
            )
        };
        let cases = [
            (
                done(Promotion::NotAsked, Source::Registry, Some(DIGEST)),
                vec![oci("r.example/acme/api")],
            ),
            (
                done(Promotion::NotAsked, Source::Artifact, None),
                vec![format!("pkg:generic/api.tar?checksum={TAR}")],
            ),
            (
                done(
                    Promotion::Promoted(vec![
                        target("r.example/acme/api:latest", TargetState::Written),
                        target("prod.example/api:v1", TargetState::AlreadyThere),
                        target("dry.example/api:v1", TargetState::WouldWrite),
                    ]),
                    Source::Registry,
                    Some(DIGEST),
                ),
                vec![oci("r.example/acme/api"), oci("prod.example/api")],
            ),
            (
                done(
                    Promotion::Promoted(vec![target(
                        "r.example/acme/api:v1",
                        TargetState::WouldWrite,
                    )]),
                    Source::Registry,
                    Some(DIGEST),
                ),
                vec![],
            ),
            (
                done(
                    Promotion::Skipped(Skip::TreeDiffers),
                    Source::None,
                    Some(DIGEST),
                ),
                vec![],
            ),
        ];
        for (d, want) in cases {
            assert_eq!(resources(&d, &evidence), want, "{:?}", d.promotion);
        }
    }
}

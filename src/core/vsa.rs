//! The SLSA Verification Summary (https://slsa.dev/verification_summary/v1) of what the step
//! verified: the predicate `actions/attest` signs (`predicate-type`, `predicate-path`), so the
//! check (and the promotion) leaves a record a later consumer can verify instead of repeating it.

use super::result::Evidence;
use serde_json::{json, Map, Value};

pub const PREDICATE_TYPE: &str = "https://slsa.dev/verification_summary/v1";
/// Who verifies: this action.
pub const VERIFIER_ID: &str = "https://github.com/image-resolver/image-resolver";
/// Where the files go, under the workspace.
pub const DIR: &str = ".image-resolver";

/// What one summary says; the time and the policy come from the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary<'a> {
    pub version: &'a str,
    /// RFC 3339, UTC.
    pub time: &'a str,
    /// `resource_uri` of the resource.
    pub resource: String,
    pub policy: &'a PolicyRef,
    pub evidence: &'a Evidence,
}

/// The policy verified against: the workflow that ran the step (its inputs are the policy), at
/// its commit, and the checks it made as annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRef {
    pub uri: String,
    /// The workflow file's commit (`GITHUB_WORKFLOW_SHA`).
    pub git_commit: Option<String>,
    /// `(check, value)` in the order they are applied.
    pub checks: Vec<(&'static str, String)>,
}

/// The predicate, as JSON.
pub fn predicate(s: &Summary<'_>) -> Value {
    let mut policy = Map::new();
    policy.insert("uri".into(), json!(s.policy.uri));
    if let Some(c) = &s.policy.git_commit {
        policy.insert("digest".into(), json!({ "gitCommit": c }));
    }
    let checks: Map<String, Value> = s
        .policy
        .checks
        .iter()
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    policy.insert("annotations".into(), Value::Object(checks));
    let bundle_hex = s
        .evidence
        .bundle_digest
        .strip_prefix("sha256:")
        .unwrap_or(&s.evidence.bundle_digest);
    json!({
        "verifier": {"id": VERIFIER_ID, "version": {"image-resolver": s.version}},
        "timeVerified": s.time,
        "resourceUri": s.resource,
        "policy": policy,
        "inputAttestations": [{
            "uri": s.evidence.bundle_uri,
            "digest": {"sha256": bundle_hex},
        }],
        "verificationResult": "PASSED",
        "verifiedLevels": [level(s.evidence)],
        "slsaVersion": "1.0",
    })
}

/// The SLSA build level the verified provenance shows. Signed provenance from GitHub's hosted
/// runners is Build L2 (hosted platform, authentic provenance); a self-hosted runner is not a
/// hosted platform, so L1. L3 asks that the build be isolated from the workflow that could
/// forge its provenance, which a certificate cannot show: never claimed.
pub fn level(e: &Evidence) -> &'static str {
    match e.runner.as_deref() {
        Some("github-hosted") => "SLSA_BUILD_LEVEL_2",
        _ => "SLSA_BUILD_LEVEL_1",
    }
}

/// An OCI image by digest, as a package URL (https://github.com/package-url/purl-spec, type
/// `oci`): `pkg:oci/<name>@sha256%3A<hex>?repository_url=<registry>/<path>`. The repository
/// names the resource; tags, being movable, do not.
pub fn resource_uri(repository: &str, digest: &str) -> String {
    let name = repository.rsplit('/').next().unwrap_or(repository);
    format!(
        "pkg:oci/{}@{}?repository_url={}",
        name.to_ascii_lowercase(),
        digest.replacen(':', "%3A", 1),
        repository
    )
}

/// An image tar (a build's artifact) by its sha256, as a package URL of type `generic`.
pub fn artifact_uri(name: &str, digest: &str) -> String {
    format!("pkg:generic/{name}.tar?checksum={digest}")
}

/// The repositories of promoted targets (`repository:tag@digest`), each once, in order.
pub fn target_repositories<'a>(targets: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in targets {
        let named = t.split_once('@').map_or(t, |(n, _)| n);
        // a tag follows the last `:` after the last `/` (a registry port comes before it)
        let slash = named.rfind('/').unwrap_or(0);
        let repository = match named[slash..].rfind(':') {
            Some(colon) => &named[..slash + colon],
            None => named,
        };
        if !out.iter().any(|r| r == repository) {
            out.push(repository.to_string());
        }
    }
    out
}

/// The file of image `name`'s `index`th summary (from 0), relative to the workspace. `name` is
/// an image name the inputs gave (`[A-Za-z0-9._-]`), so the suffix keeps it a plain file name.
pub fn file_name(name: &str, index: usize) -> String {
    match index {
        0 => format!("{DIR}/{name}.vsa.json"),
        n => format!("{DIR}/{name}.{}.vsa.json", n + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn evidence(runner: Option<&str>) -> Evidence {
        Evidence {
            subject: DIGEST.into(),
            commit: Some("1".repeat(40)),
            bound_to: Some("1".repeat(40)),
            caller: "acme/api/.github/workflows/b.yml@refs/heads/main".into(),
            runner: runner.map(String::from),
            bundle_uri: format!("https://api.github.com/repos/acme/api/attestations/{DIGEST}"),
            bundle_digest: format!("sha256:{}", "b".repeat(64)),
            instance: "GitHub Sigstore".into(),
        }
    }

    #[test]
    fn the_predicate_has_every_field_of_verification_summary_v1() {
        let policy = PolicyRef {
            uri: "https://github.com/acme/api/.github/workflows/promote.yml@refs/heads/main".into(),
            git_commit: Some("2".repeat(40)),
            checks: vec![("source-digest", "1".repeat(40))],
        };
        let e = evidence(Some("github-hosted"));
        let p = predicate(&Summary {
            version: "1.2.3",
            time: "2026-12-07T04:00:00Z",
            resource: resource_uri("r.example:5000/acme/API", DIGEST),
            policy: &policy,
            evidence: &e,
        });
        assert_eq!(
            p,
            json!({
                "verifier": {"id": VERIFIER_ID, "version": {"image-resolver": "1.2.3"}},
                "timeVerified": "2026-12-07T04:00:00Z",
                "resourceUri": format!("pkg:oci/api@sha256%3A{}?repository_url=r.example:5000/acme/API", "a".repeat(64)),
                "policy": {
                    "uri": "https://github.com/acme/api/.github/workflows/promote.yml@refs/heads/main",
                    "digest": {"gitCommit": "2".repeat(40)},
                    "annotations": {"source-digest": "1".repeat(40)},
                },
                "inputAttestations": [{
                    "uri": format!("https://api.github.com/repos/acme/api/attestations/{DIGEST}"),
                    "digest": {"sha256": "b".repeat(64)},
                }],
                "verificationResult": "PASSED",
                "verifiedLevels": ["SLSA_BUILD_LEVEL_2"],
                "slsaVersion": "1.0",
            })
        );
        // without the workflow's commit, no digest
        let bare = PolicyRef {
            git_commit: None,
            ..policy
        };
        let p = predicate(&Summary {
            version: "1",
            time: "t",
            resource: "r".into(),
            policy: &bare,
            evidence: &e,
        });
        assert!(p["policy"].get("digest").is_none(), "{p}");
    }

    #[test]
    fn levels_by_runner() {
        for (runner, level_) in [
            (Some("github-hosted"), "SLSA_BUILD_LEVEL_2"),
            (Some("self-hosted"), "SLSA_BUILD_LEVEL_1"),
            (None, "SLSA_BUILD_LEVEL_1"),
        ] {
            assert_eq!(level(&evidence(runner)), level_, "{runner:?}");
        }
    }

    #[test]
    fn targets_name_their_repositories_once() {
        let d = format!("@{DIGEST}");
        let t = |s: &str| format!("{s}{d}");
        let targets = [
            t("r.example:5000/acme/api:latest"),
            t("r.example:5000/acme/api:v1"),
            t("prod.example/api:v1"),
            t("localhost:5000/api"),
        ];
        assert_eq!(
            target_repositories(targets.iter().map(String::as_str)),
            vec![
                "r.example:5000/acme/api",
                "prod.example/api",
                "localhost:5000/api"
            ]
        );
    }

    #[test]
    fn files_are_named_by_image_and_stay_in_their_directory() {
        assert_eq!(file_name("api", 0), ".image-resolver/api.vsa.json");
        assert_eq!(file_name("api", 1), ".image-resolver/api.2.vsa.json");
        // even a name of dots stays a file in the directory
        assert_eq!(file_name("..", 0), ".image-resolver/...vsa.json");
        assert_eq!(
            artifact_uri("api", DIGEST),
            format!("pkg:generic/api.tar?checksum={DIGEST}")
        );
    }
}

//! Provenance: does a GitHub artifact attestation (a Sigstore bundle holding an in-toto SLSA
//! provenance statement) prove that this repository's workflow built the resolved digest?
//!
//! Pure: bytes in, a verdict out. The cryptography (DSSE signature, Fulcio chain at the signing
//! time, SCT, Rekor inclusion or RFC 3161 timestamp, subject binding) is sigstore-verify's; this
//! module picks the trust root, then checks what the library leaves to its caller: the predicate
//! type, the OIDC issuer and the source repository (both of `GITHUB_SERVER_URL`'s GitHub), the
//! caller or signer workflow, the runner, and the commit of the image's revision label.

mod crypto;

use sha2::Digest;
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{Bundle, Sha256Hash, SignatureContent, Statement};
use sigstore_verify::{Error as LibError, VerificationPolicy, Verifier};
use std::fmt;
use std::sync::OnceLock;

/// Trust roots pinned in the binary; origin and date in `provenance/trust/README.md`.
const PUBLIC_GOOD_ROOT: &str = include_str!("provenance/trust/public-good.json");
const GITHUB_ROOT: &str = include_str!("provenance/trust/github.json");

pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// The OIDC issuer of GitHub Actions' job tokens, which Fulcio copies into the certificate.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";
const GITHUB_SERVER: &str = "https://github.com";
/// Larger than any real bundle (a few KiB) by far; bounds what a hostile server can make us parse.
pub const MAX_BUNDLE_BYTES: usize = 16 << 20;

/// Who may have built the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `owner/name`: the certificate's source repository must be this one.
    pub repository: String,
    /// `owner/repo/.github/workflows/file.yml`, optionally `@ref`: the caller workflow (Build
    /// Config URI) or the signer (Build Signer URI) must be this one. `None`: any workflow.
    pub workflow: Option<String>,
    /// The commit in the image's revision label: the certificate's Source Repository Digest
    /// must be it. `None`: no label commit to bind (the revision check was off or let a missing
    /// label through).
    pub commit: Option<String>,
    pub runner: Runner,
    /// `GITHUB_SERVER_URL`: the certificate's repository and workflow URIs are on this server.
    pub server: String,
}

impl Policy {
    /// github.com's server, any runner, no commit: the repository and workflow only.
    pub fn new(repository: &str, workflow: Option<&str>) -> Policy {
        Policy {
            repository: repository.to_string(),
            workflow: workflow.map(str::to_string),
            commit: None,
            runner: Runner::Any,
            server: GITHUB_SERVER.to_string(),
        }
    }

    /// `https://host/`, the prefix of every URI the certificate names.
    fn prefix(&self) -> String {
        format!("{}/", self.server.trim_end_matches('/'))
    }

    /// The OIDC issuer of this server's Actions tokens: github.com's, a GHE.com tenant's
    /// (`https://token.actions.<tenant>.ghe.com`), or a GitHub Enterprise Server's
    /// (`https://<host>/_services/token`).
    pub fn issuer(&self) -> String {
        let server = self.server.trim_end_matches('/');
        let host = server
            .strip_prefix("https://")
            .or_else(|| server.strip_prefix("http://"))
            .unwrap_or(server);
        if host.eq_ignore_ascii_case("github.com") {
            GITHUB_ACTIONS_ISSUER.to_string()
        } else if let Some(tenant) = host.strip_suffix(".ghe.com") {
            format!("https://token.actions.{tenant}.ghe.com")
        } else {
            format!("{server}/_services/token")
        }
    }
}

/// `attestation-runner`: which runners may have built the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    Any,
    /// The certificate's Runner Environment must be `github-hosted`.
    GitHubHosted,
}

/// Which Sigstore instance vouched for the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    /// Public repositories: Fulcio + Rekor of the Sigstore public-good instance.
    PublicGood,
    /// Private repositories: GitHub's own Fulcio and RFC 3161 timestamp authority, no log.
    GitHub,
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Instance::PublicGood => "Sigstore public-good",
            Instance::GitHub => "GitHub Sigstore",
        })
    }
}

/// A verified attestation: what the summary shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `owner/repo/.github/workflows/file.yml@ref`, from the certificate.
    pub signer: String,
    /// The commit the image was built from (certificate extension 1.3.6.1.4.1.57264.1.13).
    pub commit: Option<String>,
    /// The ref it was built from, e.g. `refs/heads/main`.
    pub source_ref: Option<String>,
    /// The Rekor log index; `None` on GitHub's instance, which timestamps instead of logging.
    pub log_index: Option<u64>,
    pub instance: Instance,
    /// The caller workflow (Build Config URI), as `signer` is written.
    pub caller: String,
    /// The certificate's Runner Environment, e.g. `github-hosted`.
    pub runner: Option<String>,
    /// `sha256:<hex>` of the bundle as received: what a verification summary cites.
    pub bundle_digest: String,
}

/// Why a bundle does not prove the digest's provenance. Variants are ordered by how far the
/// bundle got: with several bundles, the one that got furthest says the most (see `stage`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("the attestation is not a readable Sigstore bundle: {0}")]
    Malformed(String),
    #[error("the bundle signs a plain message, not an in-toto statement in a DSSE envelope")]
    NotAttestation,
    #[error("signature check failed: the DSSE envelope's signature does not verify with its certificate's key ({0})")]
    Signature(String),
    #[error("certificate check against the {instance} Fulcio CA failed: {detail}")]
    Certificate { instance: Instance, detail: String },
    #[error("transparency log check against the {instance} Rekor failed: {detail}")]
    TransparencyLog { instance: Instance, detail: String },
    #[error("timestamp check against the {instance} timestamp authority failed: {detail}")]
    Timestamp { instance: Instance, detail: String },
    #[error("{instance} bundle check failed: {detail}")]
    Other { instance: Instance, detail: String },
    #[error("the digest to check, `{0}`, is not `sha256:<64 hex digits>`")]
    Digest(String),
    #[error("subject check failed: the attestation covers {found}, not `{expected}`")]
    Subject { expected: String, found: String },
    #[error("predicate type is `{found}`, expected SLSA provenance v1 (`{SLSA_PROVENANCE_V1}`)")]
    PredicateType { found: String },
    #[error("the certificate's OIDC issuer is `{found}`, expected GitHub Actions of this server (`{expected}`)")]
    Issuer { found: String, expected: String },
    #[error("the certificate's Source Repository URI is `{found}`, expected `{expected}`")]
    Repository { found: String, expected: String },
    #[error("the certificate's Build Config URI (the caller workflow) is `{caller}` and its Build Signer URI is `{signer}`, expected `{expected}`; set `attestation-workflow` to the workflow that attests the image")]
    Workflow {
        caller: String,
        signer: String,
        expected: String,
    },
    #[error("the certificate's Runner Environment is `{found}`, expected `github-hosted` (`attestation-runner: github-hosted`)")]
    Runner { found: String },
    #[error("the certificate's Source Repository Digest is `{found}`, expected `{expected}`, the commit in the image's revision label: the attestation is of another build")]
    Commit { found: String, expected: String },
}

impl Invalid {
    /// How far verification got: higher is more specific. Pick the highest among several bundles.
    pub fn stage(&self) -> u8 {
        match self {
            Invalid::Malformed(_) | Invalid::Digest(_) => 0,
            Invalid::NotAttestation => 1,
            Invalid::Signature(_)
            | Invalid::Certificate { .. }
            | Invalid::TransparencyLog { .. }
            | Invalid::Timestamp { .. }
            | Invalid::Other { .. } => 2,
            Invalid::Subject { .. } => 3,
            Invalid::PredicateType { .. } => 4,
            Invalid::Issuer { .. } => 5,
            Invalid::Repository { .. } => 6,
            Invalid::Workflow { .. } => 7,
            Invalid::Runner { .. } => 8,
            Invalid::Commit { .. } => 9,
        }
    }
}

/// The verdict over all the attestations found for one digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unproven {
    #[error("no attestation found")]
    Missing,
    #[error("{count} attestation(s), none valid; the closest: {best}")]
    Invalid { count: usize, best: Invalid },
}

/// Bundles verified one at a time as they arrive: the first that verifies wins; otherwise the
/// reason of the one that got furthest. Nothing of a bundle is kept once it is judged.
#[derive(Debug)]
pub struct Verdict<'a> {
    subject_digest: &'a str,
    policy: &'a Policy,
    count: usize,
    best: Option<Invalid>,
    verified: Option<Verified>,
}

impl<'a> Verdict<'a> {
    pub fn new(subject_digest: &'a str, policy: &'a Policy) -> Verdict<'a> {
        Verdict {
            subject_digest,
            policy,
            count: 0,
            best: None,
            verified: None,
        }
    }

    /// Judges one bundle; true once one has verified (no more are needed).
    pub fn offer(&mut self, bundle: &[u8]) -> bool {
        if self.verified.is_some() {
            return true;
        }
        self.count += 1;
        match verify(bundle, self.subject_digest, self.policy) {
            Ok(v) => {
                self.verified = Some(v);
                true
            }
            Err(e) => {
                if self.best.as_ref().is_none_or(|b| e.stage() > b.stage()) {
                    self.best = Some(e);
                }
                false
            }
        }
    }

    pub fn finish(self) -> Result<Verified, Unproven> {
        if let Some(v) = self.verified {
            return Ok(v);
        }
        match self.best {
            None => Err(Unproven::Missing),
            Some(best) => Err(Unproven::Invalid {
                count: self.count,
                best,
            }),
        }
    }
}

/// Verifies `bundles` in turn; the first that verifies wins. None: `Missing`; all fail: the
/// reason of the bundle that got furthest.
pub fn verify_any<B: AsRef<[u8]>>(
    bundles: &[B],
    subject_digest: &str,
    policy: &Policy,
) -> Result<Verified, Unproven> {
    let mut verdict = Verdict::new(subject_digest, policy);
    for bundle in bundles {
        if verdict.offer(bundle.as_ref()) {
            break;
        }
    }
    verdict.finish()
}

/// Verifies one bundle (JSON) for `subject_digest` (`sha256:<hex>`) against the pinned roots.
pub fn verify(
    bundle_json: &[u8],
    subject_digest: &str,
    policy: &Policy,
) -> Result<Verified, Invalid> {
    if bundle_json.len() > MAX_BUNDLE_BYTES {
        return Err(Invalid::Malformed(format!(
            "{} bytes, more than the {MAX_BUNDLE_BYTES} allowed",
            bundle_json.len()
        )));
    }
    let json = std::str::from_utf8(bundle_json)
        .map_err(|_| Invalid::Malformed("not UTF-8".to_string()))?;
    let bundle =
        Bundle::from_json(&trimmed(json)?).map_err(|e| Invalid::Malformed(e.to_string()))?;
    let SignatureContent::DsseEnvelope(envelope) = &bundle.content else {
        return Err(Invalid::NotAttestation);
    };
    let hex = subject_digest
        .strip_prefix("sha256:")
        .and_then(|hex| Sha256Hash::from_hex(hex).ok())
        .ok_or_else(|| Invalid::Digest(subject_digest.to_string()))?;

    // Public repositories log to Rekor; GitHub's instance (private repositories) never does and
    // timestamps instead. The choice is only a hint: each root accepts nothing but certificates
    // its own CA issued, and each policy demands that instance's proof of time.
    let roots = roots()?;
    let (instance, verifier, lib_policy) = if bundle.verification_material.tlog_entries.is_empty() {
        let policy = VerificationPolicy::any_identity()
            .skip_tlog_unsafe()
            .skip_sct();
        (Instance::GitHub, &roots.github, policy)
    } else {
        let policy = VerificationPolicy::any_identity();
        (Instance::PublicGood, &roots.public_good, policy)
    };

    // the payload is parsed only once its signature holds (or to name the subjects it covers)
    let statement = || serde_json::from_slice::<Statement>(envelope.payload.as_bytes()).ok();
    let result = verifier.verify(hex, &bundle, &lib_policy).map_err(|e| {
        let covered = matches!(e, LibError::ArtifactMismatch(_))
            .then(statement)
            .flatten();
        classify(e, instance, subject_digest, covered.as_ref())
    })?;
    // The library reports what it checked; never accept less than the policy asked for.
    let proven_time = match instance {
        Instance::PublicGood => result.tlog_verified() && result.sct_verified(),
        Instance::GitHub => !result.verified_timestamps().is_empty(),
    };
    if !result.certificate_verified() || !proven_time {
        return Err(Invalid::Other {
            instance,
            detail: "the library skipped a required check".to_string(),
        });
    }

    let statement = statement().ok_or_else(|| {
        Invalid::Malformed("the signed payload is not an in-toto statement".to_string())
    })?;
    if statement.predicate_type != SLSA_PROVENANCE_V1 {
        return Err(Invalid::PredicateType {
            found: statement.predicate_type,
        });
    }

    let certificate = result.certificate().ok_or_else(|| Invalid::Other {
        instance,
        detail: "no signing certificate".to_string(),
    })?;
    let issuer = result.issuer().unwrap_or("none");
    let expected_issuer = policy.issuer();
    if issuer != expected_issuer {
        return Err(Invalid::Issuer {
            found: issuer.to_string(),
            expected: expected_issuer,
        });
    }

    let prefix = policy.prefix();
    let claims = &certificate.ci_claims;
    let source = claims.source_repository_uri.as_deref().unwrap_or("none");
    let expected_source = format!("{prefix}{}", policy.repository);
    if !source.eq_ignore_ascii_case(&expected_source) {
        return Err(Invalid::Repository {
            found: source.to_string(),
            expected: expected_source,
        });
    }

    // The SAN names the workflow that requested the certificate, a reusable one included; the
    // Build Config URI names the workflow the run started from (its caller).
    let signer_uri = claims
        .build_signer_uri
        .as_deref()
        .or_else(|| result.identity().map(|san| san.as_str()))
        .unwrap_or("none");
    let caller_uri = claims.build_config_uri.as_deref().unwrap_or("none");
    // a URI on another server keeps its scheme and host, so it can never match
    let signer = signer_uri.strip_prefix(&prefix).unwrap_or(signer_uri);
    let caller = caller_uri.strip_prefix(&prefix).unwrap_or(caller_uri);
    if let Some(expected) = &policy.workflow {
        let expected = expected.strip_prefix(&prefix).unwrap_or(expected);
        if !same_workflow(expected, caller) && !same_workflow(expected, signer) {
            return Err(Invalid::Workflow {
                caller: caller.to_string(),
                signer: signer.to_string(),
                expected: expected.to_string(),
            });
        }
    }

    if policy.runner == Runner::GitHubHosted {
        let runner = claims.runner_environment.as_deref().unwrap_or("none");
        if runner != "github-hosted" {
            return Err(Invalid::Runner {
                found: runner.to_string(),
            });
        }
    }

    if let Some(expected) = &policy.commit {
        let found = claims.source_repository_digest.as_deref().unwrap_or("none");
        if !found.eq_ignore_ascii_case(expected) {
            return Err(Invalid::Commit {
                found: found.to_string(),
                expected: expected.clone(),
            });
        }
    }

    Ok(Verified {
        signer: signer.to_string(),
        caller: caller.to_string(),
        runner: claims.runner_environment.clone(),
        bundle_digest: format!("sha256:{}", hex::encode(sha2::Sha256::digest(bundle_json))),
        commit: claims.source_repository_digest.clone(),
        source_ref: claims.source_repository_ref.clone(),
        log_index: match instance {
            Instance::PublicGood => bundle
                .verification_material
                .tlog_entries
                .first()
                .map(|entry| entry.log_index.get()),
            Instance::GitHub => None,
        },
        instance,
    })
}

/// The bundle with only the keys the library reads, at its top and in `verificationMaterial`:
/// both hold a flattened field, for which serde buffers every other key into a tree, so padding
/// there cost a tree of the whole bundle (a 16 MiB bundle of tiny objects: 180 MB, 4 s).
/// Unknown keys are skipped here without being built; the kept values are passed on verbatim.
fn trimmed(json: &str) -> Result<String, Invalid> {
    use serde_json::value::RawValue;
    #[derive(serde::Deserialize, serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Top<'a> {
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        media_type: Option<&'a RawValue>,
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        verification_material: Option<Material<'a>>,
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        dsse_envelope: Option<&'a RawValue>,
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        message_signature: Option<&'a RawValue>,
    }
    #[derive(serde::Deserialize, serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Material<'a> {
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        certificate: Option<&'a RawValue>,
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        x509_certificate_chain: Option<&'a RawValue>,
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        public_key: Option<&'a RawValue>,
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        tlog_entries: Option<&'a RawValue>,
        #[serde(borrow, skip_serializing_if = "Option::is_none")]
        timestamp_verification_data: Option<&'a RawValue>,
    }
    let top: Top = serde_json::from_str(json).map_err(|e| Invalid::Malformed(e.to_string()))?;
    serde_json::to_string(&top).map_err(|e| Invalid::Malformed(e.to_string()))
}

/// `owner/repo` compares as GitHub does (case-insensitively), the file path and ref exactly.
/// Without `@ref` in `expected`, any ref matches. Both are without the server's prefix.
fn same_workflow(expected: &str, signer: &str) -> bool {
    let signer = if expected.contains('@') {
        signer
    } else {
        signer.split_once('@').map_or(signer, |(path, _)| path)
    };
    let split = |s: &str| -> Option<(usize, usize)> {
        let owner = s.find('/')?;
        let repo = s[owner + 1..].find('/')? + owner + 1;
        Some((repo, s.len()))
    };
    match (split(expected), split(signer)) {
        (Some((e, _)), Some((s, _))) => {
            expected[..e].eq_ignore_ascii_case(&signer[..s]) && expected[e..] == signer[s..]
        }
        _ => false,
    }
}

fn classify(
    error: LibError,
    instance: Instance,
    expected: &str,
    statement: Option<&Statement>,
) -> Invalid {
    use sigstore_verify::Error as E;
    let detail = error.to_string();
    match error {
        E::SignatureInvalid(_) => Invalid::Signature(detail),
        E::ArtifactMismatch(_) => Invalid::Subject {
            expected: expected.to_string(),
            found: statement.map_or_else(|| "unreadable".to_string(), subjects),
        },
        E::Certificate(_) | E::TrustedCertificate(_) => Invalid::Certificate { instance, detail },
        E::TransparencyLog(_) => Invalid::TransparencyLog { instance, detail },
        E::Timestamp(_) => Invalid::Timestamp { instance, detail },
        E::InvalidBundle(_) | E::UnsupportedBundle(_) | E::Bundle(_) | E::Types(_) => {
            Invalid::Malformed(detail)
        }
        _ => Invalid::Other { instance, detail },
    }
}

/// The statement's sha256 subjects, a few of them: enough to recognise the attestation.
fn subjects(statement: &Statement) -> String {
    const SHOWN: usize = 3;
    let digests: Vec<String> = statement
        .subject
        .iter()
        .filter_map(|s| s.digest.sha256.as_ref())
        .map(|d| format!("`sha256:{}`", d.to_hex()))
        .collect();
    match digests.len() {
        0 => "none with a sha256 digest".to_string(),
        n if n <= SHOWN => digests.join(", "),
        n => format!("{} and {} more", digests[..SHOWN].join(", "), n - SHOWN),
    }
}

struct Roots {
    public_good: Verifier,
    github: Verifier,
}

/// Parsed once per process; the crypto provider is installed before the first use.
fn roots() -> Result<&'static Roots, Invalid> {
    static ROOTS: OnceLock<Result<Roots, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            // Err only when already installed, by an earlier call: nothing else installs one.
            let _ = sigstore_verify::crypto::install_default_provider(&crypto::Ring);
            let load = |json: &str| -> Result<Verifier, String> {
                let root = TrustedRoot::from_json(json).map_err(|e| e.to_string())?;
                Verifier::new(&root).map_err(|e| e.to_string())
            };
            #[cfg(feature = "test-trust-root")]
            if let Some(json) = test_root()? {
                return Ok(Roots {
                    public_good: load(&json)?,
                    github: load(&json)?,
                });
            }
            Ok(Roots {
                public_good: load(PUBLIC_GOOD_ROOT)?,
                github: load(GITHUB_ROOT)?,
            })
        })
        .as_ref()
        .map_err(|e| Invalid::Other {
            instance: Instance::PublicGood,
            detail: format!("the pinned trust roots do not load: {e}"),
        })
}

/// The tests' own Sigstore root, in place of both pinned ones: only in a build with the
/// `test-trust-root` feature, which the release build and the action image never enable
/// (provenance/trust/README.md).
#[cfg(feature = "test-trust-root")]
pub const TEST_TRUST_ROOT_VAR: &str = "IMAGE_RESOLVER_TEST_TRUST_ROOT";

#[cfg(feature = "test-trust-root")]
fn test_root() -> Result<Option<String>, String> {
    match std::env::var_os(TEST_TRUST_ROOT_VAR) {
        None => Ok(None),
        Some(path) => std::fs::read_to_string(&path)
            .map(Some)
            .map_err(|e| format!("`{}`: {e}", path.to_string_lossy())),
    }
}

#[cfg(test)]
mod tests {
    use super::{same_workflow, trimmed};

    #[test]
    fn a_bundle_keeps_only_what_the_library_reads() {
        let padded = r#"{"pad": [{}, {}, [1]], "mediaType": "m", "verificationMaterial":
            {"pad": {"x": [{}]}, "certificate": {"rawBytes": "QQ=="}, "tlogEntries": [],
             "timestampVerificationData": null}, "dsseEnvelope": {"payload": "e30=", "z": {}}}"#;
        assert_eq!(
            trimmed(padded).unwrap(),
            r#"{"mediaType":"m","verificationMaterial":{"certificate":{"rawBytes": "QQ=="},"tlogEntries":[]},"dsseEnvelope":{"payload": "e30=", "z": {}}}"#
        );
        assert!(trimmed("[1]").is_err());
    }

    #[test]
    fn workflow_owner_and_repo_compare_case_insensitively_path_exactly() {
        let signer = "Acme/Charon/.github/workflows/build.yml@refs/heads/main";
        assert!(same_workflow(
            "acme/charon/.github/workflows/build.yml",
            signer
        ));
        assert!(same_workflow(
            "acme/charon/.github/workflows/build.yml@refs/heads/main",
            signer
        ));
        assert!(!same_workflow(
            "acme/charon/.github/workflows/build.yml@refs/heads/dev",
            signer
        ));
        assert!(!same_workflow(
            "acme/charon/.github/workflows/Build.yml",
            signer
        ));
        assert!(!same_workflow(
            "acme/charon/.github/workflows/release.yml",
            signer
        ));
        assert!(!same_workflow(
            "acme/other/.github/workflows/build.yml",
            signer
        ));
        assert!(!same_workflow("acme", signer));
    }
}

//! Provenance: real GitHub attestation bundles verified offline against the pinned trust roots,
//! their tampered twins, and the attestations fetch against our GitHub API server.

mod common;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use image_resolver::provenance::{
    verify, verify_any, Instance, Invalid, Policy, Unproven, Verified, SLSA_PROVENANCE_V1,
};
use serde_json::Value;
use std::path::PathBuf;

/// `actions/attest-build-provenance` in cli/cli's deployment workflow, release v2.96.0
/// (tests/fixtures/attestations/README.md says where it comes from).
const SLSA: &str = "cli-gh-2.96.0-slsa.sigstore.json";
/// GitHub's own release attestation of the same release: GitHub's Sigstore instance, RFC 3161
/// timestamped, predicate `release/v0.2`.
const RELEASE: &str = "cli-gh-2.96.0-release.sigstore.json";
/// `gh_2.96.0_linux_amd64.tar.gz`, a subject of both.
const TARBALL: &str = "sha256:83d5c2ccad5498f58bf6368acb1ab32588cf43ab3a4b1c301bf36328b1c8bd60";
const SIGNER: &str = "cli/cli/.github/workflows/deployment.yml@refs/heads/trunk";
/// The commit its certificate says it was built from.
const COMMIT: &str = "b300f2ec7ec9dc9addc39b2ad88c54097ded7ca0";

fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/fixtures/attestations",
        name,
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn policy(repository: &str, workflow: Option<&str>) -> Policy {
    Policy::new(repository, workflow)
}

fn cli() -> Policy {
    policy("cli/cli", None)
}

/// The bundle with one base64 field decoded, changed by `f`, re-encoded.
fn tamper(bundle: &[u8], pointer: &str, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bundle).unwrap();
    let field = v.pointer_mut(pointer).unwrap();
    let mut bytes = B64.decode(field.as_str().unwrap()).unwrap();
    let before = bytes.clone();
    f(&mut bytes);
    assert_ne!(bytes, before, "the tamper changed nothing");
    *field = Value::String(B64.encode(&bytes));
    serde_json::to_vec(&v).unwrap()
}

/// Replaces the first `from` in `bytes` by `to`, of the same length (DER and JSON stay well-formed).
fn replace(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(from)));
    bytes[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn real_bundle_verifies_offline_against_the_pinned_public_good_root() {
    let v = verify(&fixture(SLSA), TARBALL, &cli()).expect("the real bundle verifies");
    assert_eq!(
        v,
        Verified {
            signer: SIGNER.to_string(),
            commit: Some(COMMIT.to_string()),
            source_ref: Some("refs/heads/trunk".to_string()),
            log_index: Some(2049189324),
            instance: Instance::PublicGood,
            caller: SIGNER.to_string(),
            runner: Some("github-hosted".to_string()),
            bundle_digest: format!(
                "sha256:{}",
                hex::encode(ring::digest::digest(&ring::digest::SHA256, &fixture(SLSA)))
            ),
        }
    );
    // bound to its commit: the label's, in any case
    let bound = Policy {
        commit: Some(COMMIT.to_uppercase()),
        ..cli()
    };
    assert!(verify(&fixture(SLSA), TARBALL, &bound).is_ok());
    let other = Policy {
        commit: Some("1".repeat(40)),
        ..cli()
    };
    let err = verify(&fixture(SLSA), TARBALL, &other).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("the certificate's Source Repository Digest is `{COMMIT}`, expected `{}`, the commit in the image's revision label: the attestation is of another build", "1".repeat(40))
    );
    // the workflow policy, with and without the ref, and GitHub's case-insensitive names
    for workflow in [
        "cli/cli/.github/workflows/deployment.yml",
        "CLI/Cli/.github/workflows/deployment.yml",
        SIGNER,
    ] {
        let p = policy("CLI/cli", Some(workflow));
        assert_eq!(verify(&fixture(SLSA), TARBALL, &p).unwrap().signer, SIGNER);
    }
}

#[test]
fn one_byte_of_signature_fails_the_signature_check() {
    let bundle = tamper(&fixture(SLSA), "/dsseEnvelope/signatures/0/sig", |sig| {
        let mid = sig.len() / 2;
        sig[mid] ^= 0x01;
    });
    let err = verify(&bundle, TARBALL, &cli()).unwrap_err();
    assert!(matches!(err, Invalid::Signature(_)), "{err}");
    assert!(
        err.to_string().starts_with("signature check failed"),
        "{err}"
    );
}

#[test]
fn one_byte_of_payload_fails_the_signature_check() {
    // the commit the statement says it was built from: b300f2ec… → b300f2ed…
    let bundle = tamper(&fixture(SLSA), "/dsseEnvelope/payload", |payload| {
        replace(payload, b"b300f2ec", b"b300f2ed")
    });
    let err = verify(&bundle, TARBALL, &cli()).unwrap_err();
    assert!(matches!(err, Invalid::Signature(_)), "{err}");
}

#[test]
fn one_byte_of_certificate_fails_the_chain_check() {
    // the signer workflow the certificate names: deployment.yml → deploymenX.yml
    let bundle = tamper(
        &fixture(SLSA),
        "/verificationMaterial/certificate/rawBytes",
        |der| replace(der, b"deployment.yml", b"deploymenX.yml"),
    );
    let err = verify(&bundle, TARBALL, &cli()).unwrap_err();
    assert!(
        matches!(
            err,
            Invalid::Certificate {
                instance: Instance::PublicGood,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("certificate check against the Sigstore public-good Fulcio CA failed"),
        "{err}"
    );
}

#[test]
fn another_subject_digest_fails_the_subject_check() {
    let other = format!("sha256:{}", "ab".repeat(32));
    let err = verify(&fixture(SLSA), &other, &cli()).unwrap_err();
    let Invalid::Subject { expected, found } = &err else {
        panic!("{err}")
    };
    assert_eq!(expected, &other);
    // 21 subjects: three shown, the rest counted
    assert!(found.ends_with("and 18 more"), "{found}");
    assert!(err.to_string().contains(&format!("not `{other}`")), "{err}");
    // not a digest at all
    let err = verify(&fixture(SLSA), "latest", &cli()).unwrap_err();
    assert_eq!(err, Invalid::Digest("latest".to_string()));
}

#[test]
fn another_repository_fails_the_repository_check() {
    let err = verify(&fixture(SLSA), TARBALL, &policy("acme/charon", None)).unwrap_err();
    assert_eq!(
        err,
        Invalid::Repository {
            found: "https://github.com/cli/cli".to_string(),
            expected: "https://github.com/acme/charon".to_string()
        }
    );
    assert_eq!(
        err.to_string(),
        "the certificate's Source Repository URI is `https://github.com/cli/cli`, expected `https://github.com/acme/charon`"
    );
    // a GitHub Enterprise Server's certificates are judged against its own URIs and issuer
    let ghes = Policy {
        server: "https://ghes.example".to_string(),
        ..cli()
    };
    let err = verify(&fixture(SLSA), TARBALL, &ghes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the certificate's OIDC issuer is `https://token.actions.githubusercontent.com`, expected GitHub Actions of this server (`https://ghes.example/_services/token`)"
    );
}

#[test]
fn another_workflow_fails_the_workflow_check() {
    for expected in [
        "cli/cli/.github/workflows/release.yml",
        "cli/cli/.github/workflows/deployment.yml@refs/heads/main",
        "acme/cli/.github/workflows/deployment.yml",
    ] {
        let err = verify(&fixture(SLSA), TARBALL, &policy("cli/cli", Some(expected))).unwrap_err();
        assert_eq!(
            err,
            Invalid::Workflow {
                caller: SIGNER.to_string(),
                signer: SIGNER.to_string(),
                expected: expected.to_string()
            }
        );
        assert!(
            err.to_string().starts_with(&format!(
                "the certificate's Build Config URI (the caller workflow) is `{SIGNER}` and its Build Signer URI is `{SIGNER}`, expected `{expected}`"
            )),
            "{err}"
        );
    }
}

#[test]
fn github_instance_bundle_verifies_its_timestamp_then_fails_the_predicate_type() {
    // Reaching the predicate check means the GitHub Fulcio chain and RFC 3161 timestamp held.
    let err = verify(&fixture(RELEASE), TARBALL, &cli()).unwrap_err();
    assert_eq!(
        err,
        Invalid::PredicateType {
            found: "https://in-toto.io/attestation/release/v0.2".to_string()
        }
    );
    assert!(err.to_string().contains(SLSA_PROVENANCE_V1), "{err}");
    // its timestamp covers the signature: one byte off and the time is unproven
    let bundle = tamper(&fixture(RELEASE), "/dsseEnvelope/signatures/0/sig", |sig| {
        let mid = sig.len() / 2;
        sig[mid] ^= 0x01;
    });
    let err = verify(&bundle, TARBALL, &cli()).unwrap_err();
    assert!(
        matches!(
            err,
            Invalid::Timestamp {
                instance: Instance::GitHub,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn stripping_the_log_entry_does_not_downgrade_the_checks() {
    // Without its Rekor entry the bundle is judged as GitHub's instance signs: a timestamp
    // (here a real one of GitHub's TSA, over another signature) and GitHub's CA. It has neither.
    let mut v: Value = serde_json::from_slice(&fixture(SLSA)).unwrap();
    let release: Value = serde_json::from_slice(&fixture(RELEASE)).unwrap();
    v["verificationMaterial"]["tlogEntries"] = Value::Array(vec![]);
    v["verificationMaterial"]["timestampVerificationData"] =
        release["verificationMaterial"]["timestampVerificationData"].clone();
    let err = verify(&serde_json::to_vec(&v).unwrap(), TARBALL, &cli()).unwrap_err();
    assert!(
        matches!(
            err,
            Invalid::Timestamp {
                instance: Instance::GitHub,
                ..
            } | Invalid::Certificate {
                instance: Instance::GitHub,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn not_a_bundle_is_malformed() {
    for junk in [&b""[..], b"{}", b"\xff\xfe", b"[1,2]"] {
        let err = verify(junk, TARBALL, &cli()).unwrap_err();
        assert!(matches!(err, Invalid::Malformed(_)), "{err}");
    }
}

#[test]
fn verify_any_takes_the_first_valid_and_otherwise_the_furthest_reason() {
    let none: [Vec<u8>; 0] = [];
    assert_eq!(verify_any(&none, TARBALL, &cli()), Err(Unproven::Missing));

    let both = [fixture(RELEASE), fixture(SLSA)];
    assert_eq!(verify_any(&both, TARBALL, &cli()).unwrap().signer, SIGNER);

    let wrong_workflow = policy("cli/cli", Some("cli/cli/.github/workflows/build.yml"));
    let tampered = tamper(&fixture(SLSA), "/dsseEnvelope/signatures/0/sig", |s| {
        s[10] ^= 1
    });
    let all = [b"junk".to_vec(), tampered, fixture(RELEASE), fixture(SLSA)];
    let Err(Unproven::Invalid { count, best }) = verify_any(&all, TARBALL, &wrong_workflow) else {
        panic!("expected invalid")
    };
    assert_eq!(count, 4);
    assert!(matches!(best, Invalid::Workflow { .. }), "{best}");

    let Err(Unproven::Invalid { best, .. }) = verify_any(&all[..3], TARBALL, &cli()) else {
        panic!("expected invalid")
    };
    assert!(matches!(best, Invalid::PredicateType { .. }), "{best}");
}

mod fetch {
    use super::*;
    use common::github::{Attestation, FakeGitHub, Fault, World, TOKEN};
    use image_resolver::adapters::github::{GitHub, GitHubConfig};
    use std::sync::Arc;

    fn world(entries: Vec<Attestation>) -> World {
        let mut w = World::default();
        w.attestations.insert(TARBALL.to_string(), entries);
        w
    }

    fn client(gh: &FakeGitHub) -> GitHub {
        // the binary installs it in main; rustls needs one to build any client
        let _ = rustls::crypto::ring::default_provider().install_default();
        GitHub::new(GitHubConfig {
            api_url: gh.api_url(),
            token: TOKEN.to_string(),
            repository: "acme/charon".to_string(),
            retries: 3,
            log: Arc::new(|_| {}),
            debug: Arc::new(|_| {}),
        })
        .unwrap()
    }

    fn same_json(a: &[u8], b: &[u8]) -> bool {
        serde_json::from_slice::<Value>(a).unwrap() == serde_json::from_slice::<Value>(b).unwrap()
    }

    #[tokio::test]
    async fn inline_bundle_is_fetched_and_verifies() {
        let gh = FakeGitHub::start(world(vec![Attestation::Inline(fixture(SLSA))]));
        let bundles = client(&gh).attestation_bundles(TARBALL).await.unwrap();
        assert_eq!(bundles.len(), 1);
        assert!(same_json(&bundles[0], &fixture(SLSA)));
        assert_eq!(
            verify_any(&bundles, TARBALL, &cli()).unwrap().signer,
            SIGNER
        );
        assert_eq!(gh.api_calls(), 1);
        assert!(gh.blob.requests().is_empty());
    }

    #[tokio::test]
    async fn bundle_url_is_fetched_from_the_blob_host_without_the_token() {
        let gh = FakeGitHub::start(world(vec![
            Attestation::Url(fixture(RELEASE)),
            Attestation::Url(fixture(SLSA)),
        ]));
        let bundles = client(&gh).attestation_bundles(TARBALL).await.unwrap();
        assert_eq!(bundles, vec![fixture(RELEASE), fixture(SLSA)]);
        assert_eq!(
            verify_any(&bundles, TARBALL, &cli()).unwrap().signer,
            SIGNER
        );
        assert_eq!(gh.api_calls(), 1, "one API call per digest");
        assert_eq!(gh.blob.requests().len(), 2);
        gh.assert_blob_host_got_no_token();
        // the API did get it: the assertion above is not vacuous
        assert!(gh
            .api
            .requests()
            .iter()
            .all(|r| r.headers.get("authorization") == Some(&format!("Bearer {TOKEN}"))));
    }

    #[tokio::test]
    async fn none_is_an_empty_list_and_missing() {
        // 404: GitHub's answer for a digest without attestations
        let gh = FakeGitHub::start(World::default());
        let bundles = client(&gh).attestation_bundles(TARBALL).await.unwrap();
        assert!(bundles.is_empty());
        assert_eq!(
            verify_any(&bundles, TARBALL, &cli()),
            Err(Unproven::Missing)
        );
        // an empty list
        let gh = FakeGitHub::start(world(vec![]));
        assert!(client(&gh)
            .attestation_bundles(TARBALL)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(gh.api_calls(), 1);
    }

    #[tokio::test]
    async fn pages_are_followed_through_link_next() {
        let mut w = world(vec![
            Attestation::Inline(fixture(RELEASE)),
            Attestation::Url(fixture(RELEASE)),
            Attestation::Inline(fixture(SLSA)),
        ]);
        w.attestations_page = Some(2);
        let gh = FakeGitHub::start(w);
        let bundles = client(&gh).attestation_bundles(TARBALL).await.unwrap();
        assert_eq!(bundles.len(), 3);
        assert!(same_json(&bundles[2], &fixture(SLSA)));
        assert_eq!(gh.api_calls(), 2);
        gh.assert_blob_host_got_no_token();
    }

    #[tokio::test]
    async fn server_errors_are_retried() {
        let mut w = world(vec![Attestation::Url(fixture(SLSA))]);
        w.faults.push(Fault {
            path_contains: "/attestations/".into(),
            status: 503,
            headers: vec![],
            times: 1,
        });
        let gh = FakeGitHub::start(w);
        let bundles = client(&gh).attestation_bundles(TARBALL).await.unwrap();
        assert_eq!(bundles, vec![fixture(SLSA)]);
        assert_eq!(gh.api_calls(), 2);
    }

    #[tokio::test]
    async fn oversized_or_corrupt_blobs_fail_without_allocating() {
        // a snappy stream that declares 17 MiB: refused from its header alone
        let mut declared = Vec::new();
        let mut n = 17u64 << 20;
        while n >= 0x80 {
            declared.push((n as u8) | 0x80);
            n >>= 7;
        }
        declared.push(n as u8);
        declared.extend_from_slice(b"\x00junk");
        let gh = FakeGitHub::start(world(vec![Attestation::UrlRaw(declared)]));
        let err = client(&gh)
            .attestation_bundles(TARBALL)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than the 16777216 allowed"), "{err}");

        let gh = FakeGitHub::start(world(vec![Attestation::UrlRaw(b"{\"not\":1}".to_vec())]));
        let err = client(&gh)
            .attestation_bundles(TARBALL)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not snappy-compressed JSON"), "{err}");
        assert!(!err.contains(TOKEN));
    }

    #[tokio::test]
    async fn a_digest_that_is_not_sha256_is_refused_before_any_call() {
        let gh = FakeGitHub::start(World::default());
        let err = client(&gh)
            .attestation_bundles("sha256:../../x")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("is not a `sha256:<64 hex digits>` digest"),
            "{err}"
        );
        assert_eq!(gh.api_calls(), 0);
    }
}

/// Through the binary on the real stack: no image is pulled or tagged when provenance fails
/// under `fail`; `warn` resolves and says so; `off` asks nothing.
mod through_the_binary {
    use super::common::github::{Attestation, FakeGitHub, World, TOKEN};
    use super::common::*;
    use super::{fixture, SLSA};
    use std::collections::HashMap;

    #[test]
    fn attestation_fail_warn_and_off() {
        let s = stack();
        let head = sha(0x71);
        let repo = format!("{}/it/{}", s.registry, unique("attested"));
        let tag = format!("main-{}", &head[..7]);
        let digest = s.publish(&repo, &tag, Some(&head));
        // a real bundle, but for another subject: invalid for this digest; via bundle_url
        let world = || World {
            attestations: HashMap::from([(digest.clone(), vec![Attestation::Url(fixture(SLSA))])]),
            ..Default::default()
        };
        let run = |gh: &FakeGitHub, policy: &str| {
            Run::new(
                "workflow_run",
                workflow_run("push", &head, "main", None, false),
            )
            .input("image", &repo)
            .input("attestation", policy)
            .input("github-token", TOKEN)
            .var("GITHUB_API_URL", &gh.api_url())
            .run()
        };
        let gh = FakeGitHub::start(world());
        let o = run(&gh, "fail");
        o.failed();
        assert!(
            o.error()
                .contains(&format!("the attestation of `{digest}` is invalid")),
            "{}",
            o.error()
        );
        assert_eq!(
            s.image_id(&format!("{repo}:{tag}")),
            None,
            "nothing pulled or tagged"
        );
        gh.assert_blob_host_got_no_token();

        let o = run(&gh, "warn");
        o.ok();
        assert_eq!(
            (o.out("attestation"), o.out("attestation-signer")),
            ("invalid", "")
        );
        assert!(
            o.stdout.contains("::warning title=image-resolver::"),
            "{}",
            o.stdout
        );
        assert!(
            o.summary.starts_with("⚠️") && o.summary.contains("Attestation invalid"),
            "{}",
            o.summary
        );

        // none stored: missing
        let none = FakeGitHub::start(World::default());
        let o = run(&none, "fail");
        o.failed();
        assert!(
            o.error().contains("no attestation of") && o.error().contains("attestations: read"),
            "{}",
            o.error()
        );

        let o = run(&none, "off");
        o.ok();
        assert_eq!(o.out("attestation"), "");
        assert_eq!(none.api_calls(), 1, "off asks nothing");
    }
}

//! Provenance with bundles the suite signs itself (tests/common/sigstore.rs): what the
//! certificate must say beyond the signature — the commit of the revision label, the caller or
//! signer workflow and its ref, the runner, the server — in process and through the binary on
//! the real stack. Needs the `test-trust-root` feature (scripts/test.sh enables it).
#![cfg(feature = "test-trust-root")]

mod common;
use common::sigstore::{Identity, TestSigstore, TRUST_ROOT_VAR};
use image_resolver::provenance::{verify, Instance, Invalid, Policy, Runner};
use std::path::PathBuf;
use std::sync::OnceLock;

const DIGEST: &str = "sha256:5e1f0c1d2b3a49586776655443322110ffeeddccbbaa99887766554433221100";
const COMMIT: &str = "7c3e8f2a9b1d4c6e8f0a2b4c6d8e0f1a3b5c7d9e";
const BUILD: &str = "acme/charon/.github/workflows/build.yml";
const REUSABLE: &str = "acme/shared/.github/workflows/attest.yml@refs/heads/v1";

/// One Sigstore per test process, its root written where the binary is told to read it. The
/// in-process verifier reads the same variable, once.
fn sigstore() -> &'static (TestSigstore, PathBuf) {
    static S: OnceLock<(TestSigstore, PathBuf)> = OnceLock::new();
    S.get_or_init(|| {
        let s = TestSigstore::new();
        let dir = std::env::temp_dir().join(format!("ir-sigstore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = s.write_root(&dir);
        // set before the first verification in this process, which reads it once
        std::env::set_var(TRUST_ROOT_VAR, &path);
        (s, path)
    })
}

fn sign(id: &Identity) -> Vec<u8> {
    sigstore().0.sign(DIGEST, id)
}

fn charon() -> Policy {
    Policy {
        commit: Some(COMMIT.to_string()),
        ..Policy::new("acme/charon", None)
    }
}

#[test]
fn a_bundle_of_the_test_sigstore_verifies_through_its_timestamp() {
    let bundle = sign(&Identity::github(COMMIT));
    let v = verify(&bundle, DIGEST, &charon()).expect("verifies");
    assert_eq!(
        (
            v.instance,
            v.log_index,
            v.commit.as_deref(),
            v.runner.as_deref()
        ),
        (Instance::GitHub, None, Some(COMMIT), Some("github-hosted"))
    );
    assert_eq!(v.signer, format!("{BUILD}@refs/heads/main"));
    // another digest: the subject check, so the signature and the timestamp held
    let other = format!("sha256:{}", "0".repeat(64));
    let err = verify(&bundle, &other, &charon()).unwrap_err();
    assert!(matches!(err, Invalid::Subject { .. }), "{err}");
    // another Sigstore's bundle (its CA and TSA not in the root): the timestamp is unproven
    let stranger = TestSigstore::new().sign(DIGEST, &Identity::github(COMMIT));
    let err = verify(&stranger, DIGEST, &charon()).unwrap_err();
    assert!(
        matches!(err, Invalid::Timestamp { .. } | Invalid::Certificate { .. }),
        "{err}"
    );
}

#[test]
fn the_source_commit_must_be_the_labels() {
    let bundle = sign(&Identity::github(&"a".repeat(40)));
    let err = verify(&bundle, DIGEST, &charon()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the certificate's Source Repository Digest is `{}`, expected `{COMMIT}`, the commit in the image's revision label: the attestation is of another build",
            "a".repeat(40)
        )
    );
    // no label commit to bind: any commit (the revision check was off or let the label through)
    let unbound = Policy::new("acme/charon", None);
    assert!(verify(&bundle, DIGEST, &unbound).is_ok());
}

#[test]
fn the_workflow_is_the_caller_or_the_signer_and_its_ref_when_given() {
    // a reusable workflow of another repository signs; charon's build.yml calls it
    let id = Identity {
        signer: REUSABLE.to_string(),
        caller: format!("{BUILD}@refs/heads/main"),
        ..Identity::github(COMMIT)
    };
    let bundle = sign(&id);
    let with = |workflow: &str| Policy {
        workflow: Some(workflow.to_string()),
        ..charon()
    };
    for accepted in [
        BUILD,
        "Acme/Charon/.github/workflows/build.yml@refs/heads/main",
        "https://github.com/acme/charon/.github/workflows/build.yml",
        "acme/shared/.github/workflows/attest.yml",
        REUSABLE,
    ] {
        let v = verify(&bundle, DIGEST, &with(accepted));
        assert!(v.is_ok(), "{accepted}: {v:?}");
    }
    for refused in [
        "acme/charon/.github/workflows/build.yml@refs/heads/dev",
        "acme/charon/.github/workflows/release.yml",
        "acme/shared/.github/workflows/attest.yml@refs/heads/v2",
    ] {
        let err = verify(&bundle, DIGEST, &with(refused)).unwrap_err();
        assert_eq!(
            err,
            Invalid::Workflow {
                caller: format!("{BUILD}@refs/heads/main"),
                signer: REUSABLE.to_string(),
                expected: refused.to_string(),
            },
            "{refused}"
        );
        let text = err.to_string();
        assert!(
            text.contains("Build Config URI") && text.contains("Build Signer URI"),
            "{text}"
        );
    }
}

#[test]
fn github_hosted_refuses_a_self_hosted_runner() {
    let id = Identity {
        runner: "self-hosted".to_string(),
        ..Identity::github(COMMIT)
    };
    let bundle = sign(&id);
    assert!(verify(&bundle, DIGEST, &charon()).is_ok(), "any runner");
    let hosted = Policy {
        runner: Runner::GitHubHosted,
        ..charon()
    };
    let err = verify(&bundle, DIGEST, &hosted).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the certificate's Runner Environment is `self-hosted`, expected `github-hosted` (`attestation-runner: github-hosted`)"
    );
    let hosted_bundle = sign(&Identity::github(COMMIT));
    assert!(verify(&hosted_bundle, DIGEST, &hosted).is_ok());
}

#[test]
fn a_ghes_certificate_is_judged_against_its_server() {
    let ghes = Identity {
        server: "https://ghes.example".to_string(),
        issuer: "https://ghes.example/_services/token".to_string(),
        ..Identity::github(COMMIT)
    };
    let bundle = sign(&ghes);
    let on_ghes = Policy {
        server: "https://ghes.example/".to_string(),
        workflow: Some(BUILD.to_string()),
        ..charon()
    };
    let v = verify(&bundle, DIGEST, &on_ghes).expect("verifies on its server");
    assert_eq!(v.signer, format!("{BUILD}@refs/heads/main"));
    // judged as github.com's: the issuer is not GitHub.com's Actions
    let err = verify(&bundle, DIGEST, &charon()).unwrap_err();
    assert!(matches!(err, Invalid::Issuer { .. }), "{err}");
    // github.com's certificate on the GHES: its issuer and URIs are github.com's
    let dotcom = sign(&Identity::github(COMMIT));
    let err = verify(&dotcom, DIGEST, &on_ghes).unwrap_err();
    assert!(
        err.to_string().contains(
            "expected GitHub Actions of this server (`https://ghes.example/_services/token`)"
        ),
        "{err}"
    );
    // the right issuer, but the repository on another server
    let mixed = Identity {
        server: "https://github.com".to_string(),
        issuer: "https://ghes.example/_services/token".to_string(),
        ..Identity::github(COMMIT)
    };
    let err = verify(&sign(&mixed), DIGEST, &on_ghes).unwrap_err();
    assert_eq!(
        err,
        Invalid::Repository {
            found: "https://github.com/acme/charon".to_string(),
            expected: "https://ghes.example/acme/charon".to_string()
        }
    );
    // a GHE.com tenant's issuer
    let tenant = Policy {
        server: "https://octo.ghe.com".to_string(),
        ..charon()
    };
    assert_eq!(tenant.issuer(), "https://token.actions.octo.ghe.com");
}

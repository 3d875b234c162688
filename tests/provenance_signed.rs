//! Provenance with bundles the suite signs itself (tests/common/sigstore.rs): what the
//! certificate must say beyond the signature — the commit of the revision label, the caller or
//! signer workflow and its ref, the runner, the server — in process and through the binary on
//! the real stack. Needs the `test-trust-root` feature (scripts/test.sh enables it); without
//! it, one test fails and says so, rather than the file passing with nothing run.

#[cfg(not(feature = "test-trust-root"))]
#[test]
fn needs_the_test_trust_root_feature() {
    panic!("the binary trusts the tests' Sigstore only when built with `--features test-trust-root` (scripts/test.sh passes it): `cargo test --features test-trust-root --test provenance_signed`");
}

#[cfg(feature = "test-trust-root")]
mod common;

#[cfg(feature = "test-trust-root")]
mod signed {
    use super::common::sigstore::{Identity, TestSigstore, TRUST_ROOT_VAR};
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
    fn a_logged_bundle_verifies_through_its_log_entry_and_sct() {
        let bundle = sigstore().0.sign_logged(DIGEST, &Identity::github(COMMIT));
        let v = verify(&bundle, DIGEST, &charon()).expect("verifies");
        assert_eq!(
            (v.instance, v.log_index, v.commit.as_deref()),
            (Instance::PublicGood, Some(0), Some(COMMIT))
        );
        // the entry's body names the signature: another signature breaks the binding
        let mut b: serde_json::Value = serde_json::from_slice(&bundle).unwrap();
        let other = sigstore().0.sign_logged(DIGEST, &Identity::github(COMMIT));
        let other: serde_json::Value = serde_json::from_slice(&other).unwrap();
        b["verificationMaterial"]["tlogEntries"] =
            other["verificationMaterial"]["tlogEntries"].clone();
        let err = verify(&serde_json::to_vec(&b).unwrap(), DIGEST, &charon()).unwrap_err();
        assert!(
            matches!(err, Invalid::TransparencyLog { .. } | Invalid::Other { .. }),
            "{err}"
        );
        // the binding checks hold on this path too
        let self_hosted = Identity {
            runner: "self-hosted".to_string(),
            ..Identity::github(&"b".repeat(40))
        };
        let bundle = sigstore().0.sign_logged(DIGEST, &self_hosted);
        let err = verify(&bundle, DIGEST, &charon()).unwrap_err();
        assert!(matches!(err, Invalid::Commit { .. }), "{err}");
        let hosted = Policy {
            runner: Runner::GitHubHosted,
            commit: None,
            ..charon()
        };
        let err = verify(&bundle, DIGEST, &hosted).unwrap_err();
        assert!(matches!(err, Invalid::Runner { .. }), "{err}");
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

    /// Through the binary on the real stack: images pushed to the registry, bundles signed for their
    /// digests, served by our GitHub API; the binary trusts the test root through its variable.
    mod through_the_binary {
        use super::super::common::github::{Attestation, FakeGitHub, World, TOKEN};
        use super::super::common::sigstore::{Identity, TRUST_ROOT_VAR};
        use super::super::common::*;
        use super::{sigstore, BUILD, REUSABLE};
        use serde_json::Value;
        use std::collections::HashMap;

        const WORKFLOW_REF: &str = "acme/charon/.github/workflows/release.yml@refs/heads/main";

        struct Image {
            repo: String,
            head: String,
            digest: String,
        }

        /// An image labelled with `head`, pushed as `main-<head>`.
        fn image(seed: u8, what: &str) -> Image {
            let s = stack();
            let head = sha(seed);
            let repo = format!("{}/it/{}", s.registry, unique(what));
            let digest = s.publish(&repo, &format!("main-{}", &head[..7]), Some(&head));
            Image { repo, head, digest }
        }

        fn serving(img: &Image, bundle: &[u8]) -> FakeGitHub {
            FakeGitHub::start(World {
                attestations: HashMap::from([(
                    img.digest.clone(),
                    vec![Attestation::Inline(bundle.to_vec())],
                )]),
                ..Default::default()
            })
        }

        /// `mode: verify` of `img` with `attestation: fail` and these inputs; the workspace is the
        /// run's own directory.
        fn verify_run(img: &Image, gh: &FakeGitHub, inputs: &[(&str, &str)]) -> Run {
            let mut run = push_event(&img.head);
            if !inputs.iter().any(|(k, _)| *k == "images") {
                run = run.input("image", &img.repo);
            }
            let mut run = run
                .input("mode", "verify")
                .input("attestation", "fail")
                .input("github-token", TOKEN)
                .var("GITHUB_API_URL", &gh.api_url())
                .var(TRUST_ROOT_VAR, sigstore().1.to_str().unwrap())
                .var("GITHUB_WORKFLOW_REF", WORKFLOW_REF)
                .var("GITHUB_WORKFLOW_SHA", &sha(0x5a));
            for (k, v) in inputs {
                run = if k.starts_with("GITHUB_") {
                    run.var(k, v)
                } else {
                    run.input(k, v)
                };
            }
            let dir = run.dir().to_str().unwrap().to_string();
            run.var("GITHUB_WORKSPACE", &dir)
        }

        fn read_json(run: &Run, relative: &str) -> Value {
            let path = run.dir().join(relative);
            serde_json::from_slice(
                &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            )
            .unwrap()
        }

        fn sha256_hex(bytes: &[u8]) -> String {
            hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
        }

        /// `pkg:oci/<name>@sha256%3A<hex>?repository_url=<repository>`.
        fn purl(repository: &str, digest: &str) -> String {
            let name = repository.rsplit('/').next().unwrap();
            format!(
                "pkg:oci/{name}@{}?repository_url={repository}",
                digest.replace(':', "%3A")
            )
        }

        #[test]
        fn verified_bound_to_the_label_and_summarised() {
            let img = image(0x91, "signed");
            let bundle = sigstore().0.sign(&img.digest, &Identity::github(&img.head));
            let gh = serving(&img, &bundle);
            // the workspace belongs to the runner's user, not to root as the action does
            let run = verify_run(&img, &gh, &[]);
            let workspace = run.dir().join("workspace");
            std::fs::create_dir(&workspace).unwrap();
            std::os::unix::fs::chown(&workspace, Some(65534), Some(65534)).unwrap();
            let run = run.var("GITHUB_WORKSPACE", workspace.to_str().unwrap());
            let o = run.run();
            o.ok();
            assert_eq!(
                (o.out("attestation"), o.out("attestation-signer")),
                ("verified", &*format!("{BUILD}@refs/heads/main"))
            );
            let name = img.repo.rsplit('/').next().unwrap();
            let path = format!(".image-resolver/{name}.vsa.json");
            assert_eq!(o.out("verification-summary"), path);
            // written in the workspace, given to its owner (a later `git clean` can remove it)
            use std::os::unix::fs::MetadataExt;
            for p in [workspace.join(".image-resolver"), workspace.join(&path)] {
                let m = std::fs::metadata(&p).unwrap();
                assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", p.display());
            }
            let vsa = read_json(&run, &format!("workspace/{path}"));
            assert_eq!(
                vsa["verifier"]["id"],
                "https://github.com/image-resolver/image-resolver"
            );
            assert_eq!(vsa["resourceUri"], purl(&img.repo, &img.digest));
            assert_eq!(vsa["verificationResult"], "PASSED");
            assert_eq!(vsa["slsaVersion"], "1.0");
            assert_eq!(
                vsa["verifiedLevels"],
                serde_json::json!(["SLSA_BUILD_LEVEL_2"])
            );
            let time = vsa["timeVerified"].as_str().unwrap();
            assert!(
                time.len() == 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
                "{time}"
            );
            assert_eq!(
                vsa["inputAttestations"],
                serde_json::json!([{
                    "uri": format!("{}/repos/acme/charon/attestations/{}", gh.api_url(), img.digest),
                    "digest": {"sha256": sha256_hex(&bundle)},
                }])
            );
            let policy = &vsa["policy"];
            assert_eq!(policy["uri"], format!("https://github.com/{WORKFLOW_REF}"));
            assert_eq!(policy["digest"]["gitCommit"], sha(0x5a));
            let checks = &policy["annotations"];
            assert_eq!(checks["source-digest"], img.head);
            assert_eq!(checks["subject-digest"], img.digest);
            assert_eq!(
                checks["source-repository"],
                "https://github.com/acme/charon"
            );
            assert_eq!(checks["attestation-runner"], "any");
            assert_eq!(checks["predicate-type"], "https://slsa.dev/provenance/v1");
            assert!(o.stdout.contains("Verification summary of"), "{}", o.stdout);
        }

        #[test]
        fn a_logged_bundle_verifies_through_the_binary_too() {
            let img = image(0x99, "logged");
            let bundle = sigstore()
                .0
                .sign_logged(&img.digest, &Identity::github(&img.head));
            let gh = serving(&img, &bundle);
            let run = verify_run(&img, &gh, &[("attestation-runner", "github-hosted")]);
            let o = run.run();
            o.ok();
            assert_eq!(o.out("attestation"), "verified");
            assert!(
                o.summary.contains("transparency log index 0"),
                "{}",
                o.summary
            );
            let vsa = read_json(&run, o.out("verification-summary"));
            assert_eq!(
                vsa["policy"]["annotations"]["sigstore-instance"],
                "Sigstore public-good"
            );
            assert_eq!(
                vsa["inputAttestations"][0]["digest"]["sha256"],
                sha256_hex(&bundle)
            );
        }

        #[test]
        fn an_attestation_of_another_commit_fails_the_step() {
            let img = image(0x92, "other-commit");
            let other = sha(0x93);
            let bundle = sigstore().0.sign(&img.digest, &Identity::github(&other));
            let gh = serving(&img, &bundle);
            let run = verify_run(&img, &gh, &[]);
            let o = run.run();
            o.failed();
            assert!(
                o.error().contains(&format!(
                    "Source Repository Digest is `{other}`, expected `{}`, the commit in the image's revision label",
                    img.head
                )),
                "{}",
                o.error()
            );
            assert!(
                !run.dir().join(".image-resolver").exists(),
                "no summary of a failed verification"
            );
            // under warn: invalid, and still no summary
            let run = verify_run(&img, &gh, &[("attestation", "warn")]);
            let o = run.run();
            o.ok();
            assert_eq!(
                (o.out("attestation"), o.out("verification-summary")),
                ("invalid", "")
            );
        }

        #[test]
        fn the_workflow_is_named_by_its_caller_or_its_signer_with_its_ref() {
            let img = image(0x94, "caller");
            let id = Identity {
                signer: REUSABLE.to_string(),
                caller: format!("{BUILD}@refs/heads/main"),
                ..Identity::github(&img.head)
            };
            let gh = serving(&img, &sigstore().0.sign(&img.digest, &id));
            for (workflow, verified) in [
                (BUILD, true),
                (
                    "acme/charon/.github/workflows/build.yml@refs/heads/main",
                    true,
                ),
                (
                    "acme/shared/.github/workflows/attest.yml@refs/heads/v1",
                    true,
                ),
                (
                    "acme/charon/.github/workflows/build.yml@refs/heads/dev",
                    false,
                ),
                ("acme/charon/.github/workflows/deploy.yml", false),
            ] {
                let o = verify_run(&img, &gh, &[("attestation-workflow", workflow)]).run();
                if verified {
                    o.ok();
                    // the signer is what signed: the reusable workflow
                    assert_eq!(o.out("attestation-signer"), REUSABLE, "{workflow}");
                } else {
                    o.failed();
                    let e = o.error();
                    assert!(
                        e.contains(&format!(
                            "Build Config URI (the caller workflow) is `{BUILD}@refs/heads/main`"
                        )) && e.contains(&format!("Build Signer URI is `{REUSABLE}`"))
                            && e.contains(&format!("expected `{workflow}`")),
                        "{workflow}: {e}"
                    );
                }
            }
        }

        #[test]
        fn github_hosted_refuses_a_self_hosted_runner() {
            let img = image(0x95, "self-hosted");
            let id = Identity {
                runner: "self-hosted".to_string(),
                ..Identity::github(&img.head)
            };
            let gh = serving(&img, &sigstore().0.sign(&img.digest, &id));
            let run = verify_run(&img, &gh, &[("attestation-runner", "github-hosted")]);
            let o = run.run();
            o.failed();
            assert!(
                o.error().contains(
                    "Runner Environment is `self-hosted`, expected `github-hosted` (`attestation-runner: github-hosted`)"
                ),
                "{}",
                o.error()
            );
            // `any` accepts it, and the summary claims no more than Build L1
            let run = verify_run(&img, &gh, &[("attestation-runner", "any")]);
            let o = run.run();
            o.ok();
            let vsa = read_json(&run, o.out("verification-summary"));
            assert_eq!(
                vsa["verifiedLevels"],
                serde_json::json!(["SLSA_BUILD_LEVEL_1"])
            );
            assert_eq!(vsa["policy"]["annotations"]["attestation-runner"], "any");
            // a typo is an input error
            let o = verify_run(&img, &gh, &[("attestation-runner", "hosted")]).run();
            o.failed();
            assert!(o.error().contains("attestation-runner"), "{}", o.error());
        }

        #[test]
        fn ghes_identity_is_judged_against_the_server_url() {
            let img = image(0x96, "ghes");
            let ghes = Identity {
                server: "https://ghes.example".to_string(),
                issuer: "https://ghes.example/_services/token".to_string(),
                ..Identity::github(&img.head)
            };
            let server = ("GITHUB_SERVER_URL", "https://ghes.example");
            let gh = serving(&img, &sigstore().0.sign(&img.digest, &ghes));
            let run = verify_run(&img, &gh, &[server, ("attestation-workflow", BUILD)]);
            let o = run.run();
            o.ok();
            assert_eq!(o.out("attestation"), "verified");
            let vsa = read_json(&run, o.out("verification-summary"));
            assert_eq!(
                vsa["policy"]["uri"],
                format!("https://ghes.example/{WORKFLOW_REF}")
            );
            assert_eq!(
                vsa["policy"]["annotations"]["source-repository"],
                "https://ghes.example/acme/charon"
            );
            // the same bundle judged as github.com's: its issuer is the GHES'
            let o = verify_run(&img, &gh, &[]).run();
            o.failed();
            assert!(
                o.error()
                    .contains("OIDC issuer is `https://ghes.example/_services/token`"),
                "{}",
                o.error()
            );
            // a github.com bundle on the GHES
            let dotcom = serving(
                &img,
                &sigstore().0.sign(&img.digest, &Identity::github(&img.head)),
            );
            let o = verify_run(&img, &dotcom, &[server]).run();
            o.failed();
            assert!(
                o.error().contains(
                    "expected GitHub Actions of this server (`https://ghes.example/_services/token`)"
                ),
                "{}",
                o.error()
            );
        }

        #[test]
        fn a_promotion_is_summarised_for_each_repository_promoted_to() {
            let s = stack();
            let img = image(0x97, "promoted");
            let prod = format!("{}/it/{}", s.registry, unique("prod"));
            let gh = serving(
                &img,
                &sigstore().0.sign(&img.digest, &Identity::github(&img.head)),
            );
            let targets = format!("{0}:latest\n{0}:v1\n{prod}:v1", img.repo);
            let run = verify_run(&img, &gh, &[("mode", "promote"), ("promote-to", &targets)]);
            let o = run.run();
            o.ok();
            assert_eq!(o.out("attestation"), "verified");
            let name = img.repo.rsplit('/').next().unwrap();
            let first = format!(".image-resolver/{name}.vsa.json");
            assert_eq!(o.out("verification-summary"), first);
            // the source repository's tags are one resource, the production repository another
            let vsa = read_json(&run, &first);
            assert_eq!(vsa["resourceUri"], purl(&img.repo, &img.digest));
            let second = read_json(&run, &format!(".image-resolver/{name}.2.vsa.json"));
            assert_eq!(second["resourceUri"], purl(&prod, &img.digest));
            assert_eq!(
                second["inputAttestations"], vsa["inputAttestations"],
                "the same bundle proved both"
            );
            assert!(!run
                .dir()
                .join(format!(".image-resolver/{name}.3.vsa.json"))
                .exists());
        }

        #[test]
        fn several_images_get_a_summary_each_and_the_output_names_the_first() {
            let s = stack();
            let head = sha(0x98);
            let tag = format!("main-{}", &head[..7]);
            let (api, web) = (
                format!("{}/it/{}", s.registry, unique("api")),
                format!("{}/it/{}", s.registry, unique("web")),
            );
            let (api_digest, web_digest) = (
                s.publish(&api, &tag, Some(&head)),
                s.publish(&web, &tag, Some(&head)),
            );
            let id = Identity::github(&head);
            let gh = FakeGitHub::start(World {
                attestations: HashMap::from([
                    (
                        api_digest.clone(),
                        vec![Attestation::Inline(sigstore().0.sign(&api_digest, &id))],
                    ),
                    (
                        web_digest.clone(),
                        vec![Attestation::Inline(sigstore().0.sign(&web_digest, &id))],
                    ),
                ]),
                ..Default::default()
            });
            let img = Image {
                repo: api.clone(),
                head,
                digest: api_digest.clone(),
            };
            let run = verify_run(&img, &gh, &[("images", &format!("api={api}\nweb={web}"))]);
            let o = run.run();
            o.ok();
            assert_eq!(
                o.out("verification-summary"),
                ".image-resolver/api.vsa.json"
            );
            for (name, repo, digest) in [("api", &api, &api_digest), ("web", &web, &web_digest)] {
                let vsa = read_json(&run, &format!(".image-resolver/{name}.vsa.json"));
                assert_eq!(vsa["resourceUri"], purl(repo, digest), "{name}");
            }
        }
    }
}

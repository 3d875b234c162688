//! The commands' decisions, in-process, with fakes behind the ports: fallback, wait,
//! merge-commit check, PR look-up shared by several images, artifact removal. The real stack
//! tests live in tests/; these pin what the commands decide.

use super::*;
use crate::config::{Mode, RawInputs};
use crate::core::credentials::Auth;
use crate::core::event::Upstream;
use crate::core::outputs::Source;
use crate::core::platform::Platform;
use crate::core::reference::ImageRef;
use crate::core::result::Attestation;
use crate::core::revision::{Outcome, REVISION_LABEL};
use crate::core::Sha;
use crate::flow::ports::{Daemon, Loaded, Login, Registry};
use crate::model::{ArtifactInfo, DockerError, LocalImage, RegistryError, RemoteImage};
use crate::toolkit::Toolkit;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const HEAD: &str = "1111111111111111111111111111111111111111";
const MERGE: &str = "2222222222222222222222222222222222222222";
const OTHER: &str = "3333333333333333333333333333333333333333";
const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn remote(label: Option<&str>) -> RemoteImage {
    RemoteImage {
        digest: DIGEST.into(),
        manifest_digest: DIGEST.into(),
        config_digest: DIGEST.into(),
        labels: label
            .map(|l| BTreeMap::from([(REVISION_LABEL.to_string(), l.to_string())]))
            .unwrap_or_default(),
        layers: 1,
        size: 1000,
        platform: "linux/amd64".into(),
    }
}

/// Answers per repository, in order; the last answer repeats.
#[derive(Default)]
struct FakeRegistry {
    answers: Mutex<HashMap<String, Vec<Result<RemoteImage, RegistryError>>>>,
    calls: AtomicU32,
}

impl FakeRegistry {
    fn with(self, repo: &str, answers: Vec<Result<RemoteImage, RegistryError>>) -> Self {
        self.answers.lock().unwrap().insert(repo.into(), answers);
        self
    }
}

fn not_found(r: &str) -> Result<RemoteImage, RegistryError> {
    Err(RegistryError::NotFound {
        reference: r.into(),
    })
}

impl crate::flow::ports::Cleaner for FakeRegistry {}

impl Registry for FakeRegistry {
    async fn inspect(
        &self,
        reference: &ImageRef,
        _: &Platform,
        _: &Log,
    ) -> Result<RemoteImage, RegistryError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut answers = self.answers.lock().unwrap();
        let list = answers
            .get_mut(&reference.repository)
            .expect("an answer for this repository");
        let answer = if list.len() > 1 {
            list.remove(0)
        } else {
            list[0].as_ref().map(Clone::clone).map_err(|e| match e {
                RegistryError::NotFound { reference } => RegistryError::NotFound {
                    reference: reference.clone(),
                },
                other => RegistryError::Protocol {
                    reference: other.to_string(),
                    detail: String::new(),
                },
            })
        };
        answer
    }
}

#[derive(Default)]
struct FakeGitHub {
    pulls: Vec<(String, u64)>,
    bundles: Vec<Vec<u8>>,
    parents: HashMap<String, Vec<String>>,
    calls: Mutex<Vec<String>>,
}

impl GitHubApi for FakeGitHub {
    async fn find_pull_request(&self, owner: &str, branch: &str, sha: &str) -> Result<Option<u64>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("pulls {owner}:{branch}"));
        Ok(self.pulls.iter().find(|(s, _)| s == sha).map(|(_, n)| *n))
    }
    async fn commit_parents(&self, sha: &str) -> Result<Vec<String>> {
        self.calls.lock().unwrap().push(format!("commit {sha}"));
        Ok(self.parents.get(sha).cloned().unwrap_or_default())
    }
    async fn find_artifact(&self, run_id: u64, name: &str) -> Result<ArtifactInfo> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("artifact {run_id} {name}"));
        Ok(ArtifactInfo {
            id: 7,
            name: name.into(),
            size: 100,
            digest: None,
        })
    }
    async fn commit_tree(&self, sha: &str) -> Result<String> {
        self.calls.lock().unwrap().push(format!("tree {sha}"));
        // MERGE (a promoted PR's commit) and HEAD share a tree; every other commit has its own
        Ok(if sha == MERGE {
            HEAD.into()
        } else {
            sha.into()
        })
    }
    async fn attestations(
        &self,
        digest: &str,
        offer: &mut (dyn FnMut(&[u8]) -> bool + Send),
    ) -> Result<usize> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("attestations {digest}"));
        let mut n = 0;
        for b in &self.bundles {
            n += 1;
            if offer(b) {
                break;
            }
        }
        Ok(n)
    }
    async fn download_url(&self, id: u64) -> Result<url::Url> {
        self.calls.lock().unwrap().push(format!("download {id}"));
        Ok(url::Url::parse("http://blob.invalid/7").unwrap())
    }
}

#[derive(Default)]
struct FakeDaemon {
    held: Mutex<HashMap<String, LocalImage>>,
    /// The revision label of what an artifact load brings.
    artifact_label: Option<String>,
    /// The revision label of what a pull brings; HEAD when unset.
    pulled_label: Option<String>,
    pulls: Mutex<Vec<String>>,
    tags: Mutex<Vec<String>>,
    removed: Mutex<Vec<String>>,
}

fn local(id: &str, label: Option<&str>) -> LocalImage {
    LocalImage {
        id: id.into(),
        labels: label
            .map(|l| BTreeMap::from([(REVISION_LABEL.to_string(), l.to_string())]))
            .unwrap_or_default(),
        repo_tags: vec![],
        repo_digests: vec![],
    }
}

impl Daemon for FakeDaemon {
    fn platform(&self) -> &str {
        "linux/amd64"
    }
    async fn image(&self, name: &str) -> Result<Option<LocalImage>, DockerError> {
        Ok(self.held.lock().unwrap().get(name).cloned())
    }
    async fn pull(
        &self,
        repository: &str,
        digest: &str,
        _: Option<&Platform>,
        _: Option<&Auth>,
        _: &Log,
    ) -> Result<(), DockerError> {
        let pinned = format!("{repository}@{digest}");
        self.pulls.lock().unwrap().push(pinned.clone());
        self.held.lock().unwrap().insert(
            pinned,
            local(
                "sha256:pulled",
                Some(self.pulled_label.as_deref().unwrap_or(HEAD)),
            ),
        );
        Ok(())
    }
    async fn tag(&self, id: &str, repository: &str, tag: &str) -> Result<(), DockerError> {
        self.tags
            .lock()
            .unwrap()
            .push(format!("{id} {repository}:{tag}"));
        Ok(())
    }
    async fn remove_unused(&self, id: &str) -> bool {
        self.removed.lock().unwrap().push(id.into());
        true
    }
    async fn load_artifact(
        &self,
        _: &url::Url,
        _: &ArtifactInfo,
        _: Option<&str>,
        _: &Log,
    ) -> Result<Loaded> {
        let label = self.artifact_label.clone();
        self.held.lock().unwrap().insert(
            "sha256:loaded".into(),
            local("sha256:loaded", label.as_deref()),
        );
        Ok(Loaded {
            id: "sha256:loaded".into(),
            entry_name: "image.tar".into(),
            revision: label,
            tar_digest: Some(DIGEST.into()),
        })
    }
}

fn config(pairs: &[(&str, &str)]) -> Config {
    let vars = pairs
        .iter()
        .map(|(k, v)| (format!("INPUT_{}", k.to_uppercase()), v.to_string()));
    Config::from_raw(RawInputs::from_vars(vars).unwrap()).unwrap()
}

fn push_event() -> EventContext {
    EventContext {
        event_name: "push".into(),
        sha: Sha::parse(HEAD),
        pr: PrNumber::None,
        branch: Some("main".into()),
        from_fork: false,
        head_repository: None,
        base_sha: None,
        manual: false,
        upstream: None,
        run_id: Some(9),
        run_number: Some(1),
        run_attempt: Some(1),
    }
}

fn pr_event(pr: PrNumber) -> EventContext {
    EventContext {
        event_name: "workflow_run".into(),
        pr,
        branch: Some("feature".into()),
        upstream: Some(Upstream {
            id: 4242,
            run_number: Some(1),
            run_attempt: Some(1),
            conclusion: Some("success".into()),
            event: "pull_request".into(),
            name: Some("build".into()),
        }),
        ..push_event()
    }
}

/// Anonymous everywhere.
struct NoLogin;

impl Login for NoLogin {
    async fn login(&self, _: &str) -> Result<Option<Auth>> {
        Ok(None)
    }
}

/// The fakes, as the ports' types.
struct Fakes;

impl World for Fakes {
    type Registry = FakeRegistry;
    type GitHub = FakeGitHub;
    type Daemon = FakeDaemon;
    type Login = NoLogin;
}

struct Run {
    results: Vec<Result<Done, Failed>>,
}

impl Run {
    fn one(&self) -> &Done {
        self.results[0].as_ref().expect("resolved")
    }
    fn error(&self) -> String {
        format!("{:#}", self.results[0].as_ref().expect_err("failed").error)
    }
}

async fn run(
    cfg: &Config,
    ctx: &EventContext,
    registry: &FakeRegistry,
    github: &FakeGitHub,
    daemon: Option<&FakeDaemon>,
) -> Run {
    run_in(cfg, ctx, "acme/charon", (registry, github, daemon)).await
}

/// As `run::main` does: the mode's command, once.
async fn run_in(
    cfg: &Config,
    ctx: &EventContext,
    repository: &str,
    (registry, github, daemon): (&FakeRegistry, &FakeGitHub, Option<&FakeDaemon>),
) -> Run {
    let kit = Toolkit::to_writer(Box::new(std::io::sink()), false);
    let ports = Ports::<Fakes>::new((registry, github, &NoLogin), &kit);
    let req = Request {
        cfg,
        event: ctx,
        repository,
        server_url: "https://github.com",
        api_url: "https://api.github.com",
    };
    let finished = match cfg.mode {
        Mode::Pull => pull::execute(&req, &ports, daemon.expect("pull has a daemon")).await,
        Mode::Verify => verify::execute(&req, &ports).await,
        Mode::Compute => compute::execute(&req, &ports).await,
        Mode::Promote => promote::execute(&req, &ports).await,
        Mode::Clean => super::clean::execute(&req, &ports, &Default::default()).await,
    };
    Run {
        results: finished.expect("planned").images,
    }
}

#[tokio::test]
async fn a_registry_hit_is_pulled_by_digest_and_tagged() {
    let cfg = config(&[
        ("image", "r.example/acme/charon"),
        ("local-tag", "charon:local"),
    ]);
    let reg = FakeRegistry::default().with("r.example/acme/charon", vec![Ok(remote(Some(HEAD)))]);
    let d = FakeDaemon::default();
    let o = run(&cfg, &push_event(), &reg, &FakeGitHub::default(), Some(&d)).await;
    let r = o.one();
    assert_eq!((r.source, &r.revision), (Source::Registry, &Outcome::Match));
    assert_eq!(
        *d.pulls.lock().unwrap(),
        [format!("r.example/acme/charon@{DIGEST}")]
    );
    assert_eq!(
        *d.tags.lock().unwrap(),
        [
            "sha256:pulled r.example/acme/charon:main-1111111",
            "sha256:pulled charon:local"
        ]
    );
}

#[tokio::test]
async fn the_fallback_follows_the_contract() {
    // (registry answer, fallback, mode) → artifact tried?
    let unauthorized = Err(RegistryError::Unauthorized {
        registry: "r.example".into(),
        reference: "x".into(),
        with_credentials: false,
    });
    type Case = (
        &'static str,
        Result<RemoteImage, RegistryError>,
        &'static str,
        &'static str,
        bool,
    );
    let cases: Vec<Case> = vec![
        ("missing tag", not_found("x"), "artifact", "pull", true),
        (
            "stale image",
            Ok(remote(Some(OTHER))),
            "artifact",
            "pull",
            true,
        ),
        (
            "credentials refused",
            unauthorized,
            "artifact",
            "pull",
            false,
        ),
        (
            "missing, fallback none",
            not_found("x"),
            "none",
            "pull",
            false,
        ),
        (
            "missing, verify mode",
            not_found("x"),
            "artifact",
            "verify",
            false,
        ),
    ];
    for (what, answer, fallback, mode, artifact) in cases {
        let cfg = config(&[
            ("image", "r.example/acme/charon"),
            ("fallback", fallback),
            ("mode", mode),
            ("run-id", "4242"),
        ]);
        let reg = FakeRegistry::default().with("r.example/acme/charon", vec![answer]);
        let gh = FakeGitHub::default();
        let d = FakeDaemon {
            artifact_label: Some(HEAD.into()),
            ..Default::default()
        };
        let daemon = (mode == "pull").then_some(&d);
        let o = run(&cfg, &push_event(), &reg, &gh, daemon).await;
        let tried = gh
            .calls
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.starts_with("artifact"));
        assert_eq!(tried, artifact, "{what}");
        if artifact {
            assert_eq!(o.one().source, Source::Artifact, "{what}");
            assert!(d.pulls.lock().unwrap().is_empty(), "{what}: nothing pulled");
        } else {
            assert!(o.results[0].is_err(), "{what}");
        }
    }
}

#[tokio::test]
async fn a_stale_image_with_fallback_none_names_both_commits_and_the_fix() {
    let cfg = config(&[("image", "r.example/acme/charon"), ("fallback", "none")]);
    let reg = FakeRegistry::default().with("r.example/acme/charon", vec![Ok(remote(Some(OTHER)))]);
    let d = FakeDaemon::default();
    let o = run(&cfg, &push_event(), &reg, &FakeGitHub::default(), Some(&d)).await;
    let e = o.error();
    assert!(
        e.contains(OTHER) && e.contains(HEAD) && e.contains("fallback: artifact"),
        "{e}"
    );
    assert!(d.pulls.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn wait_polls_until_the_tag_appears_and_fails_at_the_deadline() {
    let cfg = config(&[
        ("image", "r.example/acme/charon"),
        ("mode", "verify"),
        ("wait-timeout", "20"),
    ]);
    let reg = FakeRegistry::default().with(
        "r.example/acme/charon",
        vec![not_found("x"), not_found("x"), Ok(remote(Some(HEAD)))],
    );
    let o = run(&cfg, &push_event(), &reg, &FakeGitHub::default(), None).await;
    assert_eq!(o.one().digest.as_deref(), Some(DIGEST));
    assert_eq!(reg.calls.load(Ordering::SeqCst), 3);

    let never = FakeRegistry::default().with("r.example/acme/charon", vec![not_found("x")]);
    let start = tokio::time::Instant::now();
    let o = run(&cfg, &push_event(), &never, &FakeGitHub::default(), None).await;
    assert!(o.error().contains("(waited 20s)"), "{}", o.error());
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(20),
        "not a second before or after"
    );
}

#[tokio::test]
async fn a_merge_commit_label_passes_when_the_head_is_a_parent() {
    let cfg = config(&[
        ("image", "r.example/acme/charon"),
        ("mode", "verify"),
        ("github-token", "t"),
    ]);
    let ctx = pr_event(PrNumber::Known(42));
    for (parents, passes) in [
        (vec![OTHER.to_string(), HEAD.into()], true),
        (vec![OTHER.into()], false),
    ] {
        let reg =
            FakeRegistry::default().with("r.example/acme/charon", vec![Ok(remote(Some(MERGE)))]);
        let gh = FakeGitHub {
            parents: HashMap::from([(MERGE.to_string(), parents)]),
            ..Default::default()
        };
        let o = run(&cfg, &ctx, &reg, &gh, None).await;
        assert_eq!(*gh.calls.lock().unwrap(), [format!("commit {MERGE}")]);
        match passes {
            true => assert_eq!(
                o.one().revision,
                Outcome::MergeCommit(Sha::parse(MERGE).unwrap())
            ),
            false => assert!(o.error().contains(MERGE), "{}", o.error()),
        }
    }
}

#[tokio::test]
async fn several_images_share_one_pr_look_up() {
    let cfg = config(&[
        (
            "images",
            "api=r.example/acme/api\nworker=r.example/acme/worker\nr.example/acme/web",
        ),
        ("mode", "verify"),
        ("github-token", "t"),
        ("allow-forks", "true"),
    ]);
    let mut ctx = pr_event(PrNumber::Lookup {
        head_owner: "mallory".into(),
        head_branch: "feature".into(),
    });
    ctx.from_fork = true;
    let mut reg = FakeRegistry::default();
    for name in ["api", "worker", "web"] {
        reg = reg.with(
            &format!("r.example/acme/{name}"),
            vec![Ok(remote(Some(HEAD)))],
        );
    }
    let gh = FakeGitHub {
        pulls: vec![(HEAD.into(), 77)],
        ..Default::default()
    };
    let o = run(&cfg, &ctx, &reg, &gh, None).await;
    let tags: Vec<String> = o
        .results
        .iter()
        .map(|r| r.as_ref().unwrap().reference.shown())
        .collect();
    assert_eq!(
        tags,
        [
            "r.example/acme/api:pr-77-1111111",
            "r.example/acme/worker:pr-77-1111111",
            "r.example/acme/web:pr-77-1111111"
        ]
    );
    assert_eq!(*gh.calls.lock().unwrap(), ["pulls mallory:feature"]);
}

#[tokio::test]
async fn one_failing_image_of_three_fails_alone() {
    let cfg = config(&[
        (
            "images",
            "r.example/acme/api\nr.example/acme/worker\nr.example/acme/web",
        ),
        ("mode", "verify"),
    ]);
    let reg = FakeRegistry::default()
        .with("r.example/acme/api", vec![Ok(remote(Some(HEAD)))])
        .with(
            "r.example/acme/worker",
            vec![not_found("r.example/acme/worker:main-1111111")],
        )
        .with("r.example/acme/web", vec![Ok(remote(Some(HEAD)))]);
    let o = run(&cfg, &push_event(), &reg, &FakeGitHub::default(), None).await;
    let ok: Vec<bool> = o.results.iter().map(Result::is_ok).collect();
    assert_eq!(ok, [true, false, true]);
    let f = o.results[1].as_ref().unwrap_err();
    assert_eq!(
        (f.name.as_str(), f.reference.shown().as_str()),
        ("worker", "r.example/acme/worker:main-1111111")
    );
}

#[tokio::test]
async fn an_artifact_that_fails_its_check_is_removed_and_never_tagged() {
    let cfg = config(&[("image", "r.example/acme/charon"), ("run-id", "4242")]);
    let reg = FakeRegistry::default().with("r.example/acme/charon", vec![not_found("x")]);
    let d = FakeDaemon {
        artifact_label: Some(OTHER.into()),
        ..Default::default()
    };
    let o = run(&cfg, &push_event(), &reg, &FakeGitHub::default(), Some(&d)).await;
    let e = o.error();
    assert!(
        e.contains("`sha256:loaded` was removed again") && e.contains(OTHER),
        "{e}"
    );
    assert_eq!(*d.removed.lock().unwrap(), ["sha256:loaded"]);
    assert!(d.tags.lock().unwrap().is_empty());
}

/// A real `attest-build-provenance` bundle (tests/fixtures/attestations/README.md): cli/cli's
/// release tarball, signed by its deployment workflow.
const TARBALL: &str = "sha256:83d5c2ccad5498f58bf6368acb1ab32588cf43ab3a4b1c301bf36328b1c8bd60";
/// The commit that bundle says the tarball was built from.
const CLI_COMMIT: &str = "b300f2ec7ec9dc9addc39b2ad88c54097ded7ca0";

fn real_bundle() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/attestations/cli-gh-2.96.0-slsa.sigstore.json"
    ))
    .unwrap()
}

/// The image is labelled with `label`; the revision check is off, so any label passes it and
/// the attestation alone binds it.
async fn attested_as(
    label: &str,
    policy: &str,
    workflow: &str,
    bundles: Vec<Vec<u8>>,
) -> (Run, FakeDaemon) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut pairs = vec![
        ("image", "r.example/cli/cli"),
        ("attestation", policy),
        ("github-token", "t"),
        ("revision-check", "off"),
    ];
    if !workflow.is_empty() {
        pairs.push(("attestation-workflow", workflow));
    }
    let cfg = config(&pairs);
    let reg = FakeRegistry::default().with(
        "r.example/cli/cli",
        vec![Ok(RemoteImage {
            digest: TARBALL.into(),
            ..remote(Some(label))
        })],
    );
    let gh = FakeGitHub {
        bundles,
        ..Default::default()
    };
    let d = FakeDaemon {
        pulled_label: Some(label.into()),
        ..Default::default()
    };
    let o = run_in(&cfg, &push_event(), "cli/cli", (&reg, &gh, Some(&d))).await;
    (o, d)
}

async fn attested(policy: &str, workflow: &str, bundles: Vec<Vec<u8>>) -> (Run, FakeDaemon) {
    attested_as(CLI_COMMIT, policy, workflow, bundles).await
}

#[tokio::test]
async fn a_verified_attestation_names_its_signer_before_the_pull() {
    let (o, d) = attested("fail", "", vec![real_bundle()]).await;
    let r = o.one();
    let Attestation::Verified { signer, evidence } = &r.attestation else {
        panic!("{:?}", r.attestation)
    };
    assert_eq!(
        (signer.as_str(), evidence.commit.as_deref()),
        (
            "cli/cli/.github/workflows/deployment.yml@refs/heads/trunk",
            Some(CLI_COMMIT)
        )
    );
    assert_eq!(
        evidence.bundle_uri,
        format!("https://api.github.com/repos/cli/cli/attestations/{TARBALL}")
    );
    assert!(
        r.notes.iter().any(|n| n.contains("transparency log index")),
        "{:?}",
        r.notes
    );
    assert_eq!(d.pulls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_attestation_of_another_commit_than_the_label_fails_before_the_pull() {
    let (o, d) = attested_as(HEAD, "fail", "", vec![real_bundle()]).await;
    let e = format!("{:#}", o.results[0].as_ref().unwrap_err().error);
    assert!(
        e.contains(&format!(
            "Source Repository Digest is `{CLI_COMMIT}`, expected `{HEAD}`"
        )),
        "{e}"
    );
    assert!(d.pulls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn attestation_policy_fail_and_warn() {
    // (policy, workflow, bundles) → output, pulled?
    let release = "cli/cli/.github/workflows/release.yml";
    type Case<'a> = (&'a str, &'a str, Vec<Vec<u8>>, &'a str, bool);
    let cases: Vec<Case> = vec![
        ("fail", "", vec![], "missing", false),
        ("warn", "", vec![], "missing", true),
        ("fail", release, vec![real_bundle()], "invalid", false),
        ("warn", "", vec![b"{not a bundle".to_vec()], "invalid", true),
    ];
    for (policy, workflow, bundles, want, pulled) in cases {
        let (o, d) = attested(policy, workflow, bundles).await;
        assert_eq!(
            !d.pulls.lock().unwrap().is_empty(),
            pulled,
            "{policy} {want}"
        );
        match &o.results[0] {
            Ok(r) => assert_eq!(r.attestation.as_str(), want, "{policy}"),
            Err(f) => {
                let e = format!("{:#}", f.error);
                assert!(e.contains(TARBALL), "{e}");
                if workflow.is_empty() {
                    assert!(e.contains("actions/attest"), "the fix: {e}");
                } else {
                    assert!(
                        e.contains("release.yml") && e.contains("deployment.yml"),
                        "{e}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn images_labelled_with_the_same_tree_share_its_look_ups() {
    // two images promoted from the PR they were tested on: labelled MERGE, expected HEAD
    let cfg = config(&[
        ("images", "r.example/acme/api\nr.example/acme/worker"),
        ("mode", "verify"),
        ("github-token", "t"),
    ]);
    let reg = FakeRegistry::default()
        .with("r.example/acme/api", vec![Ok(remote(Some(MERGE)))])
        .with("r.example/acme/worker", vec![Ok(remote(Some(MERGE)))]);
    let gh = FakeGitHub::default();
    let o = run(&cfg, &push_event(), &reg, &gh, None).await;
    for r in &o.results {
        let r = r.as_ref().expect("matched by tree");
        assert_eq!(r.revision, Outcome::SameTree(Sha::parse(MERGE).unwrap()));
    }
    let mut calls = gh.calls.lock().unwrap().clone();
    calls.sort();
    assert_eq!(
        calls,
        [format!("tree {HEAD}"), format!("tree {MERGE}")],
        "each tree asked once"
    );
}

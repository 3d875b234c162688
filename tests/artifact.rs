//! The artifact fallback, fork PR look-ups and merge-commit revisions, against the real daemon,
//! the real registry and our GitHub API server.

mod common;
use common::fixtures::*;
use common::github::*;
use common::*;
use serde_json::json;
use std::path::PathBuf;

struct Setup {
    stack: Stack,
    head: String,
    repo: String,
    tag: String,
    image_id: String,
    legacy_tar: Vec<u8>,
    dir: tempfile::TempDir,
}

/// An image built from `head`, saved with `docker save`, then removed from the daemon; the
/// registry does not have it.
fn setup(seed: u8, label: Option<&str>) -> Setup {
    let stack = stack();
    let head = sha(seed);
    let repo = format!("{}/it/{}", stack.registry, unique("art"));
    let tag = format!("main-{}", &head[..7]);
    let build_name = format!("{}:build", unique("artifact-src"));
    let image_id = stack.build(&build_name, Some(label.unwrap_or(&head)), 4096);
    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("saved.tar");
    stack.docker(&["save", "-o", tar_path.to_str().unwrap(), &build_name]);
    stack.docker(&["rmi", "-f", &build_name]);
    assert_eq!(stack.image_id(&image_id), None);
    let legacy_tar = std::fs::read(&tar_path).unwrap();
    Setup {
        stack,
        head,
        repo,
        tag,
        image_id,
        legacy_tar,
        dir,
    }
}

impl Setup {
    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        write(self.dir.path(), name, data)
    }
    fn github(&self, artifacts: Vec<Artifact>) -> FakeGitHub {
        FakeGitHub::start(World {
            run_id: 4242,
            artifacts,
            ..Default::default()
        })
    }
    fn artifact(&self, name: &str, data: &[u8]) -> Artifact {
        Artifact {
            id: 77,
            name: name.into(),
            file: self.file(&unique(name), data),
            expired: false,
            digest: None,
        }
    }
    fn run(&self, gh: &FakeGitHub) -> Run {
        Run::new(
            "workflow_run",
            workflow_run("push", &self.head, "main", None, false),
        )
        .input("image", &self.repo)
        .input("github-token", TOKEN)
        .var("GITHUB_API_URL", &gh.api_url())
    }
    fn assert_loaded(&self, o: &Outcome, local: Option<&str>) {
        o.ok();
        assert_eq!((o.out("source"), o.out("digest")), ("artifact", ""));
        assert_eq!(
            (o.out("tag"), o.out("revision")),
            (self.tag.as_str(), self.head.as_str())
        );
        assert_eq!(o.out("ref"), format!("{}:{}", self.repo, self.tag));
        assert_eq!(o.out("image-id"), self.image_id);
        assert_eq!(
            self.stack
                .image_id(&format!("{}:{}", self.repo, self.tag))
                .as_deref(),
            Some(self.image_id.as_str())
        );
        if let Some(l) = local {
            assert_eq!(
                self.stack.image_id(l).as_deref(),
                Some(self.image_id.as_str())
            );
        }
        o.assert_no_secret(TOKEN);
    }
}

#[test]
fn zipped_legacy_tar_loads_untagged_then_named() {
    let s = setup(0x31, None);
    let gh =
        s.github(vec![s.artifact(
            "push-image",
            &zip(&[("charon-image.tar", &s.legacy_tar)]),
        )]);
    let local = format!("{}:local", unique("charon"));
    let tmp = tempfile::tempdir().unwrap();
    let o = s
        .run(&gh)
        .input("local-tag", &local)
        .var("RUNNER_DEBUG", "1")
        .var("TMPDIR", tmp.path().to_str().unwrap())
        .run();
    s.assert_loaded(&o, Some(&local));
    let left = std::fs::read_dir(tmp.path()).unwrap().count();
    assert_eq!(left, 0, "the private temp dir is removed after success");
    gh.assert_blob_host_got_no_token();
    assert!(
        gh.api_calls() <= 3,
        "artifact path made {} API calls",
        gh.api_calls()
    );
    assert!(
        o.stdout
            .contains(&format!("::debug::GitHub API calls: {}", gh.api_calls())),
        "{}",
        o.stdout
    );
    // the tar's own name (artifact-src-…:build) was not applied; only ours were
    let mut want = vec![format!("{}:{}", s.repo, s.tag), local.clone()];
    want.sort();
    assert_eq!(s.stack.tags_of(&s.image_id), want);
}

#[test]
fn every_format_loads() {
    let s = setup(0x32, None);
    let oci = oci_from_legacy(&s.legacy_tar, "charon:oci", false);
    let bare = oci_from_legacy(&s.legacy_tar, "charon:bare", true);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "zip holding a gzip tar",
            zip(&[
                ("image.tar.gz", &gzip(&s.legacy_tar)),
                ("README.md", b"notes"),
            ]),
        ),
        ("unzipped raw tar", s.legacy_tar.clone()),
        ("unzipped gzip tar", gzip(&s.legacy_tar)),
        (
            "Docker 25+ OCI layout with manifest.json",
            zip(&[("image.tgz", &gzip(&oci))]),
        ),
        (
            "bare OCI layout, index.json only",
            zip(&[("image.tar", &bare)]),
        ),
    ];
    for (what, data) in cases {
        s.stack.docker_ok(&["rmi", "-f", &s.image_id]);
        let gh = s.github(vec![s.artifact("push-image", &data)]);
        let o = s.run(&gh).run();
        eprintln!("{what}: {}", o.stdout);
        s.assert_loaded(&o, None);
        gh.assert_blob_host_got_no_token();
    }
}

#[test]
fn crafted_names_in_the_tar_never_take_over_local_tags() {
    let s = setup(0x33, None);
    // a daemon-side image that the artifact tries to replace
    let victim = format!("{}:latest", unique("busybox"));
    let victim_id = s.stack.build(&victim, None, 32);
    for (what, tar) in [
        (
            "legacy",
            retag_legacy(&s.legacy_tar, json!([victim.clone(), "node:20"])),
        ),
        ("oci", oci_from_legacy(&s.legacy_tar, &victim, false)),
    ] {
        s.stack.docker_ok(&["rmi", "-f", &s.image_id]);
        let gh = s.github(vec![s.artifact("push-image", &zip(&[("image.tar", &tar)]))]);
        let o = s.run(&gh).run();
        s.assert_loaded(&o, None);
        assert_eq!(
            s.stack.tags_of(&s.image_id),
            vec![format!("{}:{}", s.repo, s.tag)],
            "{what}"
        );
        assert_eq!(
            s.stack.image_id(&victim).as_deref(),
            Some(victim_id.as_str()),
            "{what}: {victim} was taken over"
        );
        assert_eq!(s.stack.image_id("node:20"), None, "{what}");
    }
    assert_eq!(
        s.stack.tags_of(&victim_id),
        vec![victim.clone()],
        "the victim's tags are unchanged"
    );
}

#[test]
fn refusals_load_nothing() {
    let s = setup(0x34, None);
    let two = {
        let mut files = read_tar(&s.legacy_tar);
        let mut m: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
        let first = m[0].clone();
        m.as_array_mut().unwrap().push(first);
        files.insert("manifest.json".into(), serde_json::to_vec(&m).unwrap());
        write_tar(&files.into_iter().collect::<Vec<_>>())
    };
    let zipped = zip(&[("image.tar", &s.legacy_tar)]);
    type Case = (&'static str, Artifact, &'static str);
    let cases: Vec<Case> = vec![
        (
            "two images",
            s.artifact("push-image", &zip(&[("image.tar", &two)])),
            "holds 2 images",
        ),
        (
            "two tars",
            s.artifact(
                "push-image",
                &zip(&[("a.tar", &s.legacy_tar), ("b.tar", &s.legacy_tar)]),
            ),
            "several image tars",
        ),
        (
            "no tar",
            s.artifact("push-image", &zip(&[("notes.txt", b"hello")])),
            "no .tar, .tar.gz or .tgz",
        ),
        (
            "traversal",
            s.artifact("push-image", &zip(&[("../../evil.tar", &s.legacy_tar)])),
            "not a safe relative file name",
        ),
        (
            "absolute",
            s.artifact("push-image", &zip(&[("/tmp/evil.tar", &s.legacy_tar)])),
            "not a safe relative file name",
        ),
        (
            "drive letter",
            s.artifact("push-image", &zip(&[("C:/evil.tar", &s.legacy_tar)])),
            "not a safe relative file name",
        ),
        (
            "digest mismatch",
            Artifact {
                digest: Some(format!("sha256:{}", "0".repeat(64))),
                ..s.artifact("push-image", &zipped)
            },
            "nothing was loaded",
        ),
        (
            "expired",
            Artifact {
                expired: true,
                ..s.artifact("push-image", &zipped)
            },
            "has expired",
        ),
        (
            "wrong name",
            s.artifact("other-image", &zipped),
            "has no artifact named `push-image`; its artifacts: `other-image`",
        ),
        (
            "not an archive",
            s.artifact("push-image", b"just some text, not an image at all......"),
            "neither a zip",
        ),
    ];
    for (what, artifact, needle) in cases {
        let gh = s.github(vec![artifact]);
        let o = s.run(&gh).run();
        o.failed();
        o.assert_no_secret(TOKEN);
        assert!(o.error().contains(needle), "{what}: {}", o.error());
        assert!(
            o.error().contains(&format!("{}:{}", s.repo, s.tag)),
            "{what}: names the reference: {}",
            o.error()
        );
        assert_eq!(
            s.stack.image_id(&s.image_id),
            None,
            "{what}: nothing loaded"
        );
        assert!(
            !s.stack.all_tags().iter().any(|t| t.starts_with(&s.repo)),
            "{what}: no name given"
        );
    }
}

#[test]
fn a_stale_artifact_is_refused_before_loading() {
    let s = setup(0x35, Some(&sha(0x36)));
    let gh = s.github(vec![
        s.artifact("push-image", &zip(&[("image.tar", &s.legacy_tar)]))
    ]);
    let o = s.run(&gh).run();
    o.failed();
    assert!(
        o.error().contains("not the expected commit") && o.error().contains(&sha(0x36)),
        "{}",
        o.error()
    );
    assert_eq!(s.stack.image_id(&s.image_id), None);
}

#[test]
fn fork_pull_requests_are_looked_up_and_reported() {
    let s = setup(0x37, None);
    let branch = "feature/fork-work";
    for (via_commit, number) in [(false, 91u64), (true, 92)] {
        let tag = format!("pr-{number}-{}", &s.head[..7]);
        s.stack.docker_ok(&["rmi", "-f", &s.image_id]);
        // the registry holds the PR image
        s.stack.docker(&[
            "load",
            "-q",
            "-i",
            s.file("t.tar", &s.legacy_tar).to_str().unwrap(),
        ]);
        let r = format!("{}:{tag}", s.repo);
        s.stack.docker(&["tag", &s.image_id, &r]);
        s.stack.docker(&["push", "-q", &r]);
        s.stack.docker(&["rmi", "-f", &s.image_id]);
        let mut world = World {
            run_id: 4242,
            ..Default::default()
        };
        // another PR of the same fork branch with an older head must not match
        world
            .open_pulls
            .push(pr_json(5, &sha(0x01), "mallory", branch));
        if via_commit {
            world
                .commit_pulls
                .push(pr_json(number, &s.head, "mallory", branch));
        } else {
            world
                .open_pulls
                .push(pr_json(number, &s.head, "mallory", branch));
        }
        let gh = FakeGitHub::start(world);
        let o = Run::new(
            "workflow_run",
            workflow_run("pull_request", &s.head, branch, None, true),
        )
        .input("image", &s.repo)
        .input("github-token", TOKEN)
        .input("allow-forks", "true")
        .var("GITHUB_API_URL", &gh.api_url())
        .run();
        o.ok();
        assert_eq!(
            (o.out("tag"), o.out("pr-number"), o.out("source")),
            (tag.as_str(), number.to_string().as_str(), "registry")
        );
        assert!(o.summary.contains("built from a fork"), "{}", o.summary);
        assert_eq!(gh.api_calls(), if via_commit { 2 } else { 1 });
    }
    // no PR has that head: a clear failure
    let gh = FakeGitHub::start(World {
        run_id: 4242,
        open_pulls: vec![pr_json(5, &sha(0x01), "mallory", branch)],
        ..Default::default()
    });
    let o = Run::new(
        "workflow_run",
        workflow_run("pull_request", &s.head, branch, None, true),
    )
    .input("image", &s.repo)
    .input("github-token", TOKEN)
    .input("allow-forks", "true")
    .var("GITHUB_API_URL", &gh.api_url())
    .run();
    o.failed();
    assert!(
        o.error()
            .contains("no pull request of `mallory:feature/fork-work` has head"),
        "{}",
        o.error()
    );
    // without consent a fork's image is refused before any call
    let calls = gh.api_calls();
    let o = Run::new(
        "workflow_run",
        workflow_run("pull_request", &s.head, branch, None, true),
    )
    .input("image", &s.repo)
    .input("github-token", TOKEN)
    .var("GITHUB_API_URL", &gh.api_url())
    .run();
    o.failed();
    assert!(
        o.error().contains("`mallory/charon`") && o.error().contains("allow-forks: true"),
        "{}",
        o.error()
    );
    assert_eq!(gh.api_calls(), calls, "no API call for the refusal");
}

#[test]
fn same_repo_pr_in_the_registry_makes_no_api_call() {
    let s = stack();
    let head = sha(0x38);
    let repo = format!("{}/it/{}", s.registry, unique("eco"));
    s.publish(&repo, &format!("pr-8-{}", &head[..7]), Some(&head));
    let gh = FakeGitHub::start(World::default());
    let o = Run::new(
        "workflow_run",
        workflow_run("pull_request", &head, "feat", Some(8), false),
    )
    .input("image", &repo)
    .input("github-token", TOKEN)
    .var("GITHUB_API_URL", &gh.api_url())
    .run();
    o.ok();
    assert_eq!(gh.api_calls(), 0);
}

#[test]
fn merge_commit_labels_pass_when_the_head_is_a_parent() {
    let s = stack();
    let head = sha(0x39);
    let merge = sha(0x3a);
    let repo = format!("{}/it/{}", s.registry, unique("merge"));
    s.publish(&repo, &format!("pr-9-{}", &head[..7]), Some(&merge));
    let mut world = World::default();
    world
        .commits
        .insert(merge.clone(), vec![sha(0xee), head.clone()]);
    let gh = FakeGitHub::start(world);
    let ev = || workflow_run("pull_request", &head, "feat", Some(9), false);
    let o = Run::new("workflow_run", ev())
        .input("image", &repo)
        .input("github-token", TOKEN)
        .var("GITHUB_API_URL", &gh.api_url())
        .run();
    o.ok();
    assert_eq!(o.out("revision"), merge);
    assert!(
        o.summary.contains("matched as a merge commit"),
        "{}",
        o.summary
    );
    assert_eq!(gh.api_calls(), 1);
    // a commit that does not have the head as a parent is still a mismatch
    let mut world = World::default();
    world.commits.insert(merge.clone(), vec![sha(0xee)]);
    let gh = FakeGitHub::start(world);
    let o = Run::new("workflow_run", ev())
        .input("image", &repo)
        .input("github-token", TOKEN)
        .input("fallback", "none")
        .var("GITHUB_API_URL", &gh.api_url())
        .run();
    o.failed();
}

#[test]
fn api_faults_are_retried_or_explained() {
    let s = setup(0x3b, None);
    let zipped = zip(&[("image.tar", &s.legacy_tar)]);
    let fault = |path: &str, status: u16, headers: &[(&str, &str)], times: usize| Fault {
        path_contains: path.into(),
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        times,
    };
    let reset = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    type Case = (&'static str, Vec<Fault>, Option<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "5xx twice then success",
            vec![fault("/artifacts?", 502, &[], 2)],
            None,
        ),
        (
            "429 with retry-after",
            vec![fault("/artifacts?", 429, &[("retry-after", "1")], 1)],
            None,
        ),
        (
            "rate-limit 403",
            vec![fault(
                "/zip",
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset),
                ],
                1,
            )],
            None,
        ),
        (
            "401",
            vec![fault("/artifacts?", 401, &[], 1)],
            Some("401 bad credentials"),
        ),
        (
            "403 permissions",
            vec![fault("/artifacts?", 403, &[], 1)],
            Some("actions: read"),
        ),
        (
            "404",
            vec![fault("/artifacts?", 404, &[], 1)],
            Some("404 not found"),
        ),
        (
            "5xx forever",
            vec![fault("/artifacts?", 503, &[], 99)],
            Some("HTTP 503 after 3 attempt(s)"),
        ),
    ];
    for (what, faults, error) in cases {
        s.stack.docker_ok(&["rmi", "-f", &s.image_id]);
        let gh = FakeGitHub::start(World {
            run_id: 4242,
            artifacts: vec![s.artifact("push-image", &zipped)],
            faults,
            ..Default::default()
        });
        let o = s.run(&gh).run();
        match error {
            None => {
                s.assert_loaded(&o, None);
                assert!(
                    o.stdout.contains("retrying in"),
                    "{what}: retries are logged: {}",
                    o.stdout
                );
            }
            Some(needle) => {
                o.failed();
                assert!(o.error().contains(needle), "{what}: {}", o.error());
                let tries = gh.api.count("/api/v3/repos/acme/charon/actions/runs/");
                if needle.contains("after 3") {
                    assert_eq!(tries, 3, "{what}");
                } else {
                    assert_eq!(tries, 1, "{what}: not retried");
                }
            }
        }
    }
}

#[test]
fn truncated_downloads_restart_and_redirect_loops_end() {
    let s = setup(0x3c, None);
    let zipped = zip(&[("image.tar", &s.legacy_tar)]);
    let gh = FakeGitHub::start(World {
        run_id: 4242,
        artifacts: vec![s.artifact("push-image", &zipped)],
        truncate_blob: 1,
        ..Default::default()
    });
    let o = s.run(&gh).run();
    s.assert_loaded(&o, None);
    assert_eq!(gh.blob.requests().len(), 2, "one cut short, one whole");
    gh.assert_blob_host_got_no_token();

    s.stack.docker_ok(&["rmi", "-f", &s.image_id]);
    let gh = FakeGitHub::start(World {
        run_id: 4242,
        artifacts: vec![s.artifact("push-image", &zipped)],
        blob_loop: true,
        ..Default::default()
    });
    let o = s.run(&gh).run();
    o.failed();
    assert!(
        o.error().to_lowercase().contains("redirect"),
        "{}",
        o.error()
    );
    assert_eq!(s.stack.image_id(&s.image_id), None);
    gh.assert_blob_host_got_no_token();
}

/// The names this test can touch: its repository's and `alpine`'s (tests share one daemon).
fn names_of(s: &Setup) -> Vec<String> {
    s.stack
        .all_tags()
        .into_iter()
        .filter(|t| t.starts_with(&s.repo) || t.starts_with("alpine:"))
        .collect()
}

/// Address-space cap for the binary in the cases below: a memory regression fails fast.
const CAP: u64 = 2 << 30;

fn zipped_stream(name: &str, data: &[u8]) -> Vec<u8> {
    zip_streamed(&[(name, data)], zip::CompressionMethod::Deflated)
}

#[test]
fn both_layouts_in_both_orders_and_every_zip_layout_load() {
    let s = setup(0x3d, None);
    let oci = oci_from_legacy(&s.legacy_tar, "charon:oci", false);
    let bare = oci_from_legacy(&s.legacy_tar, "charon:bare", true);
    let names = ["manifest.json", "index.json", "repositories"];
    let legacy_first = reorder(&s.legacy_tar, &names, false);
    let legacy_last = reorder(&s.legacy_tar, &names, true);
    let oci_first = reorder(&oci, &names, false);
    let oci_last = reorder(&oci, &names, true);
    let bare_first = reorder(&bare, &names, false);
    assert_eq!(tar_order(&legacy_first)[0], "manifest.json");
    assert_eq!(tar_order(&legacy_last).last().unwrap(), "repositories");
    assert!(tar_order(&oci_first)[..2].contains(&"manifest.json".to_string()));
    assert_eq!(tar_order(&oci_last).last().unwrap(), "manifest.json");
    assert_eq!(tar_order(&bare_first)[0], "index.json");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "legacy, manifest.json first, sized zip",
            zip(&[("image.tar", &legacy_first)]),
        ),
        (
            "legacy, manifest.json last, data descriptors",
            zipped_stream("image.tar", &legacy_last),
        ),
        (
            "OCI, manifest.json first, data descriptors",
            zipped_stream("image.tar", &oci_first),
        ),
        (
            "OCI, manifest.json last, sized zip",
            zip(&[("image.tar", &oci_last)]),
        ),
        (
            "bare OCI, index.json first, data descriptors",
            zipped_stream("image.tar", &bare_first),
        ),
        (
            "gzip inside a zip with data descriptors, beside a README",
            zip_streamed(
                &[("README.md", b"notes"), ("image.tar.gz", &gzip(&oci_last))],
                zip::CompressionMethod::Deflated,
            ),
        ),
        ("raw tar, unzipped", legacy_last.clone()),
    ];
    for (what, data) in cases {
        s.stack.docker_ok(&["rmi", "-f", &s.image_id]);
        let gh = s.github(vec![s.artifact("push-image", &data)]);
        let o = s.run(&gh).cap(CAP).run();
        o.print_cost(what);
        assert_eq!(o.code, 0, "{what}: {}", o.stdout);
        s.assert_loaded(&o, None);
        assert_eq!(
            s.stack.tags_of(&s.image_id),
            vec![format!("{}:{}", s.repo, s.tag)],
            "{what}: only our name"
        );
    }
}

#[test]
fn stored_entries_with_a_data_descriptor_go_through_a_spool_and_say_so() {
    // upload-artifact with `compression-level: 0`: stored, sizes after the data
    let s = setup(0x3e, None);
    let data = zip_streamed(
        &[("notes.txt", b"hello"), ("image.tar", &s.legacy_tar)],
        zip::CompressionMethod::Stored,
    );
    let gh = s.github(vec![s.artifact("push-image", &data)]);
    let o = s.run(&gh).cap(CAP).run();
    o.print_cost("stored entry with a data descriptor");
    s.assert_loaded(&o, None);
    assert!(
        o.stdout
            .contains("is stored (not deflated) with its size after the data")
            && o.stdout.contains("private temp file"),
        "the note says which layout and why:\n{}",
        o.stdout
    );
    // a stored entry whose bytes disagree with the central directory is corrupt, loads nothing
    let s = setup(0x3f, None);
    let mut bad = zip_streamed(
        &[("image.tar", &s.legacy_tar)],
        zip::CompressionMethod::Stored,
    );
    let at = bad.len() / 2;
    bad[at] ^= 0xff;
    let gh = s.github(vec![s.artifact("push-image", &bad)]);
    let o = s.run(&gh).input("retries", "1").cap(CAP).run();
    o.failed();
    assert_eq!(
        s.stack.image_id(&format!("{}:{}", s.repo, s.tag)),
        None,
        "not tagged"
    );
    assert_eq!(s.stack.image_id(&s.image_id), None, "not loaded");
}

#[test]
fn a_digest_mismatch_after_the_whole_download_loads_and_names_nothing() {
    let s = setup(0x3f, None);
    let before = names_of(&s);
    let gh = s.github(vec![Artifact {
        digest: Some(format!("sha256:{}", "1".repeat(64))),
        ..s.artifact("push-image", &zipped_stream("image.tar", &s.legacy_tar))
    }]);
    let o = s.run(&gh).cap(CAP).run();
    o.print_cost("digest mismatch");
    o.failed();
    assert!(
        o.error().contains("but GitHub lists sha256:1111")
            && o.error().contains("nothing was loaded"),
        "{}",
        o.error()
    );
    // the whole artifact was read (its digest is only known at its end), yet nothing stayed
    assert_eq!(
        gh.blob.requests().len(),
        1,
        "an integrity error is not retried"
    );
    assert_eq!(
        s.stack.image_id(&s.image_id),
        None,
        "the image is not in the daemon"
    );
    assert_eq!(names_of(&s), before, "no name changed");
}

#[test]
fn a_download_cut_mid_layer_every_time_fails_clean_after_its_retries() {
    let s = setup(0x40, None);
    let before = names_of(&s);
    let gh = FakeGitHub::start(World {
        run_id: 4242,
        artifacts: vec![s.artifact("push-image", &zipped_stream("image.tar", &s.legacy_tar))],
        truncate_blob: 99,
        ..Default::default()
    });
    let o = s.run(&gh).cap(CAP).run();
    o.print_cost("truncated mid-layer, every attempt");
    o.failed();
    assert!(o.error().contains("nothing was loaded"), "{}", o.error());
    assert!(o.stdout.contains("retrying in"), "{}", o.stdout);
    assert_eq!(gh.blob.requests().len(), 3, "one pass per attempt");
    assert_eq!(s.stack.image_id(&s.image_id), None);
    assert_eq!(names_of(&s), before);
}

/// The tag takeover: a PAX `size` override hides a second manifest.json (naming the
/// victim) inside the first entry's data, as the ustar size field frames it.
fn pax_desync(legacy: &[u8], victim: &str) -> Vec<u8> {
    let files = read_tar(legacy);
    let hidden = write_tar(&[(
        "manifest.json".to_string(),
        serde_json::to_vec(&json!([{"Config": "hidden.json", "RepoTags": [victim], "Layers": []}]))
            .unwrap(),
    )]);
    let hidden = &hidden[..hidden.len() - 1024];
    let record = "10 size=0\n";
    let mut out = Vec::new();
    let mut h = tar::Header::new_ustar();
    h.set_path("PaxHeaders/junk").unwrap();
    h.set_size(record.len() as u64);
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    let mut rec = record.as_bytes().to_vec();
    rec.resize(512, 0);
    out.extend(rec);
    let mut h = tar::Header::new_ustar();
    h.set_path("junk").unwrap();
    h.set_size(hidden.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(hidden);
    let rest = write_tar(&files.into_iter().collect::<Vec<_>>());
    out.extend(rest);
    out
}

#[test]
fn a_tar_that_names_alpine_latest_changes_no_local_name() {
    let s = setup(0x41, None);
    let alpine_id = match s.stack.image_id("alpine:latest") {
        Some(id) => id,
        None => s.stack.build("alpine:latest", None, 64),
    };
    let named = retag_legacy(&s.legacy_tar, json!(["alpine:latest"]));
    let oci = oci_from_legacy(&s.legacy_tar, "alpine:latest", false);
    let names = ["manifest.json", "index.json", "repositories"];
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "legacy, manifest.json first",
            reorder(&named, &names, false),
            true,
        ),
        (
            "legacy, manifest.json last",
            reorder(&named, &names, true),
            true,
        ),
        ("OCI, names first", reorder(&oci, &names, false), true),
        ("OCI, names last", reorder(&oci, &names, true), true),
        (
            "PAX size desync hiding a manifest",
            pax_desync(&s.legacy_tar, "alpine:latest"),
            false,
        ),
    ];
    for (what, tar, loads) in cases {
        s.stack.docker_ok(&["rmi", "-f", &s.image_id]);
        let before = names_of(&s);
        assert_eq!(
            s.stack.image_id("alpine:latest").as_deref(),
            Some(alpine_id.as_str())
        );
        let gh = s.github(vec![
            s.artifact("push-image", &zipped_stream("image.tar", &tar))
        ]);
        let o = s.run(&gh).cap(CAP).run();
        o.print_cost(what);
        assert_eq!(
            s.stack.image_id("alpine:latest").as_deref(),
            Some(alpine_id.as_str()),
            "{what}: alpine:latest was taken over"
        );
        let mut want = before.clone();
        if loads {
            s.assert_loaded(&o, None);
            want.push(format!("{}:{}", s.repo, s.tag));
            want.sort();
        } else {
            o.failed();
            assert!(
                o.error().contains("PAX header says"),
                "{what}: {}",
                o.error()
            );
            assert_eq!(s.stack.image_id(&s.image_id), None, "{what}");
        }
        assert_eq!(names_of(&s), want, "{what}: only our name was added");
        if loads {
            assert_eq!(
                s.stack.tags_of(&s.image_id),
                vec![format!("{}:{}", s.repo, s.tag)],
                "{what}"
            );
        }
    }
}

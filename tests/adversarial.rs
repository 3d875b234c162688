//! Hostile events, inputs, artifacts and servers: never a wrong image, a leak, a stray write or a
//! hang. Each case asserts the exact outcome; docs/security.md maps cases to these tests.

mod common;
use common::fixtures::*;
use common::github::{pr_json, Artifact, FakeGitHub, Fault as ApiFault, World, TOKEN};
use common::proxy::{Fault, Proxy};
use common::server::{Reply, Server};
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

const PASSWORD: &str = "reg-Secret-Pa55word-0xC0FFEE";

fn ev(head: &str) -> serde_json::Value {
    workflow_run("push", head, "main", None, false)
}

/// The usual hostile-suite checks on any run: secrets hidden, masks first.
fn check(o: &Outcome) {
    o.assert_no_secret(TOKEN);
    o.assert_no_secret(PASSWORD);
    let first = o.stdout.lines().next().unwrap_or("");
    assert!(
        first.starts_with("::add-mask::"),
        "masks precede everything: {first}"
    );
}

fn run(event_name: &str, event: serde_json::Value) -> Run {
    Run::new(event_name, event)
        .input("github-token", TOKEN)
        .input("registry-password", PASSWORD)
        .input("registry-username", "u")
}

#[test]
fn case01_broken_event_files() {
    let s = stack();
    let repo = format!("{}/it/{}", s.registry, unique("ev"));
    let dir = tempfile::tempdir().unwrap();
    let not_json = write(dir.path(), "bad.json", b"{ not json");
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let huge = dir.path().join("huge.json");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        (
            "missing",
            Some("/nonexistent/event.json".into()),
            "reading the event file",
        ),
        (
            "a directory",
            Some(dir.path().display().to_string()),
            "is not a regular file",
        ),
        (
            "a FIFO, which would block forever",
            Some(fifo.display().to_string()),
            "is not a regular file",
        ),
        (
            "a character device that never ends",
            Some("/dev/zero".into()),
            "is not a regular file",
        ),
        (
            "larger than 64 MiB",
            Some(huge.display().to_string()),
            "larger than 64 MiB",
        ),
        (
            "not JSON",
            Some(not_json.display().to_string()),
            "is not JSON",
        ),
        ("unset", None, "GITHUB_EVENT_PATH is not set"),
    ];
    for (what, path, needle) in cases {
        let mut r = run("workflow_run", json!({})).input("image", &repo);
        r.event = None;
        if let Some(p) = path {
            r = r.var("GITHUB_EVENT_PATH", &p);
        }
        let o = r.run();
        o.failed();
        check(&o);
        assert!(o.error().contains(needle), "{what}: {}", o.error());
    }
    let o = run("workflow_run", json!({"action": "completed"}))
        .input("image", &repo)
        .run();
    o.failed();
    assert!(o.error().contains("has no `workflow_run`"), "{}", o.error());
    let o = run(
        "pull_request",
        json!({"pull_request": {"head": {"sha": sha(1)}}}),
    )
    .input("image", &repo)
    .run();
    o.failed();
    assert!(o.error().contains("pull_request.number"), "{}", o.error());
}

#[test]
fn case02_untrusted_pull_request_entries_are_looked_up_instead() {
    let s = stack();
    let head = sha(0x61);
    let repo = format!("{}/it/{}", s.registry, unique("prs"));
    // a trap: an image for PR 666 with the right label, which only a trusting reader would pick
    s.publish(&repo, &format!("pr-666-{}", &head[..7]), Some(&head));
    s.publish(&repo, &format!("pr-42-{}", &head[..7]), Some(&head));
    let entry = |n: i64, sha_: &str, base_id: u64| {
        json!({"number": n, "head": {"sha": sha_, "ref": "feat", "repo": {"id": 1}},
        "base": {"ref": "main", "repo": {"id": base_id, "url": "https://api.github.com/repos/other/repo"}}})
    };
    let mut event = workflow_run("pull_request", &head, "feat", None, false);
    event["workflow_run"]["pull_requests"] = json!([
        entry(666, &head, 99),
        entry(666, &sha(0x62), 1),
        entry(0, &head, 1),
        entry(-1, &head, 1)
    ]);
    let gh = FakeGitHub::start(World {
        open_pulls: vec![pr_json(42, &head, "acme", "feat")],
        ..Default::default()
    });
    let o = run("workflow_run", event)
        .input("image", &repo)
        .var("GITHUB_API_URL", &gh.api_url())
        .run();
    o.ok();
    check(&o);
    assert_eq!(
        (o.out("pr-number"), o.out("tag")),
        ("42", format!("pr-42-{}", &head[..7]).as_str())
    );
}

#[test]
fn case03_head_sha_must_be_40_hex() {
    let s = stack();
    let repo = format!("{}/it/{}", s.registry, unique("sha"));
    for bad in ["abc123", "$(id)", &"g".repeat(40), &format!("{}0", sha(1))] {
        let mut e = ev(&sha(1));
        e["workflow_run"]["head_sha"] = json!(bad);
        let o = run("workflow_run", e).input("image", &repo).run();
        o.failed();
        check(&o);
        assert!(
            o.error().contains("not a 40-hex commit SHA"),
            "{bad}: {}",
            o.error()
        );
    }
}

#[test]
fn case04_hostile_branch_names() {
    let s = stack();
    let head = sha(0x63);
    let repo = format!("{}/it/{}", s.registry, unique("branch"));
    let long = "x".repeat(250);
    let cases = [
        ("feat/$(id)", "feat-id"),
        ("a;b`c", "a-b-c"),
        ("x'y\"z", "x-y-z"),
        ("a%0Ab", "a-0ab"),
        ("fix/ünï-名前", "fix-n"),
        (long.as_str(), ""),
    ];
    for (branch, want) in cases {
        let o = run(
            "workflow_run",
            workflow_run("push", &head, branch, None, false),
        )
        .input("image", &repo)
        .input("mode", "compute")
        .run();
        o.ok();
        check(&o);
        let tag = o.out("tag");
        assert!(
            tag.len() <= 128 && tag.ends_with(&head[..7]),
            "{branch}: {tag}"
        );
        if !want.is_empty() {
            assert_eq!(tag, format!("{want}-{}", &head[..7]));
        }
        for bad in ["$(", "`", ";", "'", "\"", "%"] {
            assert!(
                !o.output_file.contains(bad),
                "{branch}: raw name reached the outputs: {}",
                o.output_file
            );
        }
    }
    let o = run(
        "workflow_run",
        workflow_run("push", &head, "$()/名前", None, false),
    )
    .input("image", &repo)
    .input("mode", "compute")
    .run();
    o.failed();
    assert!(o.error().contains("sanitizes to nothing"), "{}", o.error());
}

#[test]
fn case05_inputs_with_newlines_or_the_delimiter() {
    let s = stack();
    let repo = format!("{}/it/{}", s.registry, unique("nl"));
    let cases = [
        (
            "local-tag",
            "app:local\nimage<<EOF\nevil\nEOF",
            "line break",
        ),
        ("tag", "v1\ndigest=evil", "line break"),
        ("tag", "v1\rdigest", "line break"),
        ("local-tag", "app:local\r", "line break"),
    ];
    for (input, value, needle) in cases {
        let o = run("workflow_run", ev(&sha(1)))
            .input("image", &repo)
            .input(input, value)
            .run();
        o.failed();
        check(&o);
        assert!(
            o.error().contains(&format!("input `{input}`")) && o.error().contains(needle),
            "{input}: {}",
            o.error()
        );
        assert!(o.output_file.is_empty(), "GITHUB_OUTPUT untouched");
    }
}

#[test]
fn case06_bad_image_inputs() {
    let cases = [
        ("ghcr.io/acme/charon@sha256:1234", "digest"),
        ("", "is required"),
        ("ghcr.io/", "not a valid repository"),
        (":tag", "is empty"),
    ];
    for (image, needle) in cases {
        let o = run("workflow_run", ev(&sha(1))).input("image", image).run();
        o.failed();
        check(&o);
        assert!(
            o.error().contains("input `image`") && o.error().contains(needle),
            "{image:?}: {}",
            o.error()
        );
    }
}

#[test]
fn case07_registry_faults() {
    let s = stack();
    let head = sha(0x64);
    let path = format!("it/{}", unique("faults"));
    let tag = format!("main-{}", &head[..7]);
    s.publish(&format!("{}/{path}", s.registry), &tag, Some(&head));
    let proxy = Proxy::start(&s.registry);
    let via = format!("{}/{path}", proxy.host());
    let go = |extra: &[(&str, &str)]| {
        let mut r = run("workflow_run", ev(&head))
            .input("image", &via)
            .input("fallback", "none");
        for (k, v) in extra {
            r = r.input(k, v);
        }
        let o = r.run();
        check(&o);
        o
    };

    proxy.set(Fault::ServerErrors(2));
    let o = go(&[("mode", "verify")]);
    o.ok();
    assert!(
        o.stdout.contains("attempt 1 of 3 failed") && o.stdout.contains("attempt 2 of 3 failed"),
        "{}",
        o.stdout
    );

    proxy.set(Fault::TooManyRequests(1));
    let o = go(&[("mode", "verify")]);
    o.ok();
    assert!(
        o.stdout.contains("attempt 1 of 3 failed (429"),
        "{}",
        o.stdout
    );

    proxy.set(Fault::ServerErrors(9));
    let o = go(&[("mode", "verify")]);
    o.failed();
    assert!(
        o.error().contains("could not be reached") && o.error().contains("3 attempt"),
        "{}",
        o.error()
    );

    proxy.set(Fault::AlterManifest);
    let o = go(&[("mode", "verify")]);
    o.failed();
    assert!(o.error().to_lowercase().contains("digest"), "{}", o.error());

    proxy.set(Fault::CorruptLayers);
    let o = go(&[]);
    o.failed();
    check_pull_error(&o);
    assert_eq!(
        s.image_id(&format!("{via}:{tag}")),
        None,
        "a corrupt pull leaves no image"
    );

    proxy.set(Fault::None);
    let o = go(&[]);
    o.ok();

    // nothing listens on port 1: retried, then "no usable image"
    let t = Instant::now();
    let o = run("workflow_run", ev(&head))
        .input("image", "127.0.0.1:1/acme/x")
        .input("fallback", "none")
        .input("mode", "verify")
        .run();
    o.failed();
    check(&o);
    assert!(
        o.error().contains("could not be reached") && o.error().to_lowercase().contains("connect"),
        "{}",
        o.error()
    );
    assert!(t.elapsed() < Duration::from_secs(20));
}

fn check_pull_error(o: &Outcome) {
    let e = o.error();
    assert!(
        e.contains("docker pull") && e.contains("failed"),
        "the in-stream error fails the step: {e}"
    );
}

#[test]
fn case08_daemon_missing_unreadable_or_too_old() {
    let s = stack();
    let head = sha(0x65);
    let repo = format!("{}/it/{}", s.registry, unique("daemon"));
    s.publish(&repo, &format!("main-{}", &head[..7]), Some(&head));
    let dir = tempfile::tempdir().unwrap();
    let not_a_socket = write(dir.path(), "docker.sock", b"");
    let old = Server::start("127.0.0.1", |r| {
        if r.path.ends_with("/version") {
            Reply::json(
                200,
                json!({"Version": "1.12.0", "ApiVersion": "1.12", "Os": "linux", "Arch": "amd64"}),
            )
        } else {
            Reply::json(404, json!({"message": "page not found"}))
        }
    });
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cases = [
        (
            "missing",
            "unix:///nonexistent/docker.sock".to_string(),
            "no such socket",
        ),
        (
            "unreadable",
            format!("unix://{}", not_a_socket.display()),
            "cannot reach the Docker daemon",
        ),
        ("too old", format!("tcp://{}", old.host), "API 1.12"),
        (
            "hangs",
            format!("tcp://{}", silent.local_addr().unwrap()),
            "no answer within 10s",
        ),
    ];
    for (what, host, needle) in cases {
        let t = Instant::now();
        let o = run("workflow_run", ev(&head))
            .input("image", &repo)
            .var("DOCKER_HOST", &host)
            .run();
        o.failed();
        check(&o);
        assert!(o.error().contains(needle), "{what}: {}", o.error());
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{what}: {:?}",
            t.elapsed()
        );
        // verify and compute do not need it
        run("workflow_run", ev(&head))
            .input("image", &repo)
            .input("mode", "verify")
            .var("DOCKER_HOST", &host)
            .run()
            .ok();
        run("workflow_run", ev(&head))
            .input("image", &repo)
            .input("mode", "compute")
            .var("DOCKER_HOST", &host)
            .run()
            .ok();
    }
}

struct ArtifactCase {
    name: &'static str,
    data: Vec<u8>,
    needle: &'static str,
}

#[test]
fn case09_hostile_artifact_zips() {
    let s = stack();
    let head = sha(0x66);
    let src = format!("{}:src", unique("zipsrc"));
    let id = s.build(&src, Some(&head), 4096);
    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("i.tar");
    s.docker(&["save", "-o", tar_path.to_str().unwrap(), &src]);
    s.docker(&["rmi", "-f", &src]);
    let tar = std::fs::read(&tar_path).unwrap();
    let good = zip(&[("image.tar", &tar)]);
    let cases = vec![
        ArtifactCase {
            name: "parent dirs",
            data: zip(&[("../../../tmp/x.tar", &tar)]),
            needle: "not a safe relative file name",
        },
        ArtifactCase {
            name: "absolute",
            data: zip(&[("/etc/x.tar", &tar)]),
            needle: "not a safe relative file name",
        },
        ArtifactCase {
            name: "symlink",
            data: zip_symlink("image.tar", "/etc/passwd"),
            needle: "not a safe relative file name",
        },
        ArtifactCase {
            name: "duplicate names",
            data: zip_rename(
                zip(&[("aa.tar", &tar), ("ab.tar", b"other")]),
                b"ab.tar",
                b"aa.tar",
            ),
            needle: "more than once",
        },
        ArtifactCase {
            name: "zip bomb",
            data: zip_lie_about_size(good.clone(), 1024),
            needle: "refused",
        },
        ArtifactCase {
            name: "bad CRC",
            data: zip_bad_crc(good.clone()),
            needle: "corrupt",
        },
        ArtifactCase {
            name: "no tar",
            data: zip(&[("notes.txt", b"x")]),
            needle: "no .tar",
        },
        ArtifactCase {
            name: "two tars",
            data: zip(&[("a.tar", &tar), ("b.tgz", &gzip(&tar))]),
            needle: "several image tars",
        },
    ];
    let repo = format!("{}/it/{}", s.registry, unique("zips"));
    for c in cases {
        let file = write(dir.path(), &unique("zip"), &c.data);
        let gh = FakeGitHub::start(World {
            run_id: 4242,
            artifacts: vec![Artifact {
                id: 5,
                name: "push-image".into(),
                file,
                expired: false,
                digest: None,
            }],
            ..Default::default()
        });
        let tmp = tempfile::tempdir().unwrap();
        let o = run("workflow_run", ev(&head))
            .input("image", &repo)
            .var("GITHUB_API_URL", &gh.api_url())
            .var("TMPDIR", tmp.path().to_str().unwrap())
            .run();
        o.failed();
        check(&o);
        assert!(o.error().contains(c.needle), "{}: {}", c.name, o.error());
        assert_eq!(s.image_id(&id), None, "{}: nothing loaded", c.name);
        assert!(
            !std::path::Path::new("/tmp/x.tar").exists()
                && !std::path::Path::new("/etc/x.tar").exists(),
            "{}",
            c.name
        );
        // the private temp dir is gone on this exit path too
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.is_empty(),
            "{}: temp files left behind: {left:?}",
            c.name
        );
    }
}

#[test]
fn case11_api_expiry_and_hostile_text() {
    let s = stack();
    let head = sha(0x67);
    let repo = format!("{}/it/{}", s.registry, unique("api"));
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a.zip", &zip(&[("x.txt", b"x")]));
    // the list says fine, the download says 410
    let gh = FakeGitHub::start(World {
        run_id: 4242,
        artifacts: vec![Artifact {
            id: 5,
            name: "push-image".into(),
            file: file.clone(),
            expired: false,
            digest: None,
        }],
        faults: vec![ApiFault {
            path_contains: "/zip".into(),
            status: 410,
            headers: vec![],
            times: 1,
        }],
        ..Default::default()
    });
    let o = run("workflow_run", ev(&head))
        .input("image", &repo)
        .var("GITHUB_API_URL", &gh.api_url())
        .run();
    o.failed();
    check(&o);
    assert!(
        o.error().contains("410") && o.error().contains("expired"),
        "{}",
        o.error()
    );
    // an artifact name that tries to inject workflow commands is echoed escaped, on one line
    let hostile = "x\n::set-output name=image::evil\n::add-mask::leak";
    let gh = FakeGitHub::start(World {
        run_id: 4242,
        artifacts: vec![Artifact {
            id: 5,
            name: hostile.into(),
            file,
            expired: false,
            digest: None,
        }],
        ..Default::default()
    });
    let o = run("workflow_run", ev(&head))
        .input("image", &repo)
        .var("GITHUB_API_URL", &gh.api_url())
        .run();
    o.failed();
    check(&o);
    assert_no_injection(&o);
    assert!(o.error().contains("%0A::set-output"), "{}", o.error());
}

fn assert_no_injection(o: &Outcome) {
    for l in o.stdout.lines() {
        for cmd in ["::set-output", "::add-mask::leak", "::error::spoofed"] {
            assert!(
                !l.trim_start().starts_with(cmd),
                "injected a workflow command: {l}"
            );
        }
    }
}

#[test]
fn case13_output_file_missing_or_not_writable() {
    let s = stack();
    let repo = format!("{}/it/{}", s.registry, unique("out"));
    let dir = tempfile::tempdir().unwrap();
    for (what, path) in [
        ("missing", "/nonexistent/dir/output".to_string()),
        ("a directory", dir.path().display().to_string()),
    ] {
        let o = run("workflow_run", ev(&sha(1)))
            .input("image", &repo)
            .input("mode", "compute")
            .var("GITHUB_OUTPUT", &path)
            .run();
        assert_ne!(o.code, 0, "{what}");
        check(&o);
        assert!(
            o.error().contains("GITHUB_OUTPUT") && o.error().contains(&path),
            "{what}: {}",
            o.error()
        );
    }
}

#[test]
fn case14_server_text_cannot_inject_commands() {
    let s = stack();
    let head = sha(0x68);
    let path = format!("it/{}", unique("inject"));
    s.publish(
        &format!("{}/{path}", s.registry),
        &format!("main-{}", &head[..7]),
        Some(&head),
    );
    let proxy = Proxy::start(&s.registry);
    proxy.set(Fault::HostileError);
    let o = run("workflow_run", ev(&head))
        .input("image", &format!("{}/{path}", proxy.host()))
        .input("fallback", "none")
        .input("mode", "verify")
        .run();
    o.failed();
    check(&o);
    assert_no_injection(&o);
    assert_eq!(
        o.stdout
            .lines()
            .filter(|l| l.starts_with("::error title=image-resolver"))
            .count(),
        1
    );
}

/// Issue 20, rule 7: `commits/{sha}/pulls` also lists pull requests of other repositories that
/// contain the commit (a fork's own, merged there with this very commit as its merge commit).
/// Only one whose `base.repo` is this repository qualifies: another is no merged pull request,
/// and its planted image is never promoted.
#[test]
fn case20_a_merged_pull_request_of_another_repository_is_no_merged_pr() {
    use common::github::merged_pr_json;
    let s = stack();
    let (head, merge) = (sha(0x6a), sha(0x6b));
    let path = format!("it/{}", unique("foreignpr"));
    let repo = format!("{}/{path}", s.registry);
    // the image a trusting reader would promote: pr-7 of the other repository, same tree
    s.publish(&repo, &format!("pr-7-{}", &head[..7]), Some(&head));
    let mut foreign = merged_pr_json(7, &head, "feat", &merge);
    foreign["base"]["repo"]["full_name"] = json!("mallory/charon");
    let tree = "a1".repeat(20);
    let gh = FakeGitHub::start(World {
        commit_pulls: vec![foreign],
        trees: [(head.clone(), tree.clone()), (merge.clone(), tree)].into(),
        ..Default::default()
    });
    let o = run(
        "push",
        json!({"ref": "refs/heads/main", "after": merge, "deleted": false, "repository": {"full_name": "acme/charon"}}),
    )
    .input("image", &repo)
    .input("mode", "promote")
    .input("promote-source", "merged-pr")
    .input("promote-to", &format!("{repo}:latest"))
    .var("GITHUB_SHA", &merge)
    .var("GITHUB_REF_NAME", "main")
    .var("GITHUB_API_URL", &gh.api_url())
    .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    .run();
    o.ok();
    check(&o);
    assert_eq!(
        (o.out("promoted"), o.out("promote-skipped")),
        ("", "no-merged-pr")
    );
    let tags = curl(&[&format!("http://{}/v2/{path}/tags/list", s.registry)]);
    assert!(!tags.contains("latest"), "written: {tags}");
    assert_eq!(gh.api_calls(), 1, "one look-up, nothing else");
}

//! The registry path of `mode: pull` (and verify / compute), against the real daemon and registries.

mod common;
use common::proxy::{BearerRegistry, BEARER_TOKEN};
use common::*;
use serde_json::json;
use std::process::Command;
use std::time::Instant;

fn repo(s: &Stack, name: &str) -> String {
    format!("{}/it/{}", s.registry, unique(name))
}

#[test]
fn workflow_run_push_pulls_tags_and_reports() {
    let s = stack();
    let (head, repo) = (sha(0x11), repo(&s, "push"));
    let digest = s.publish(&repo, &format!("feature-x-{}", &head[..7]), Some(&head));
    let local = format!("{}:local", unique("charon"));
    let o = Run::new(
        "workflow_run",
        workflow_run("push", &head, "Feature/X", None, false),
    )
    .input("image", &repo)
    .input("local-tag", &local)
    .run();
    o.ok();
    let tag = format!("feature-x-{}", &head[..7]);
    assert_eq!(o.out("tag"), tag);
    assert_eq!(o.out("image"), format!("{repo}:{tag}"));
    assert_eq!(o.out("digest"), digest);
    assert_eq!(o.out("ref"), format!("{repo}@{digest}"));
    assert_eq!(
        (o.out("source"), o.out("sha"), o.out("short-sha")),
        ("registry", head.as_str(), &head[..7])
    );
    assert_eq!(
        (o.out("pr-number"), o.out("revision"), o.out("local-image")),
        ("", head.as_str(), local.as_str())
    );
    let id = s
        .image_id(&format!("{repo}:{tag}"))
        .expect("repo:tag in the daemon");
    assert_eq!(o.out("image-id"), id);
    assert_eq!(
        s.image_id(&local).as_deref(),
        Some(id.as_str()),
        "local-tag applied"
    );
    assert!(o.stdout.contains("::group::Registry") && o.stdout.contains("::endgroup::"));
    assert!(
        o.summary
            .starts_with("#### image-resolver\n\n✅ **Resolved**")
            && o.summary.contains("from the registry"),
        "{}",
        o.summary
    );

    // the daemon now holds that digest: nothing is pulled the second time
    let again = Run::new(
        "workflow_run",
        workflow_run("push", &head, "Feature/X", None, false),
    )
    .input("image", &repo)
    .run();
    again.ok();
    assert_eq!(again.out("source"), "local");
    assert!(!again.stdout.contains("::group::Pull"), "{}", again.stdout);
}

#[test]
fn pull_request_events_use_the_head_sha_and_pr_template() {
    let s = stack();
    let (head, repo) = (sha(0x12), repo(&s, "pr"));
    s.publish(&repo, &format!("pr-42-{}", &head[..7]), Some(&head));
    for (ev, payload) in [
        ("pull_request", pull_request_event(42, &head, "feat/$(id)")),
        (
            "workflow_run",
            workflow_run("pull_request", &head, "feat/$(id)", Some(42), false),
        ),
    ] {
        let o = Run::new(ev, payload)
            .input("image", &repo)
            .var("GITHUB_SHA", &sha(0x99))
            .run();
        o.ok();
        assert_eq!(
            (o.out("tag"), o.out("pr-number")),
            (format!("pr-42-{}", &head[..7]).as_str(), "42"),
            "{ev}"
        );
    }
}

#[test]
fn a_stale_image_is_refused_before_any_layer_moves() {
    let s = stack();
    let (head, built_from, repo) = (sha(0x13), sha(0x14), repo(&s, "stale"));
    let tag = format!("main-{}", &head[..7]);
    s.publish(&repo, &tag, Some(&built_from));
    let t = Instant::now();
    let o = Run::new(
        "workflow_run",
        workflow_run("push", &head, "main", None, false),
    )
    .input("image", &repo)
    .input("fallback", "none")
    .run();
    o.failed();
    let e = o.error();
    assert!(
        e.contains(&format!("{repo}:{tag}")) && e.contains(&built_from) && e.contains(&head),
        "{e}"
    );
    assert!(e.contains("revision-check: warn"), "the fix is named: {e}");
    assert_eq!(
        s.image_id(&format!("{repo}:{tag}")),
        None,
        "nothing was pulled"
    );
    eprintln!("stale image refused in {:?}", t.elapsed());

    let warn = Run::new(
        "workflow_run",
        workflow_run("push", &head, "main", None, false),
    )
    .input("image", &repo)
    .input("revision-check", "warn")
    .run();
    warn.ok();
    assert!(
        warn.stdout.contains("::warning title=image-resolver::")
            && warn.stdout.contains(&built_from),
        "{}",
        warn.stdout
    );
    assert_eq!(warn.out("revision"), built_from);
    let off = Run::new(
        "workflow_run",
        workflow_run("push", &head, "main", None, false),
    )
    .input("image", &repo)
    .input("revision-check", "off")
    .run();
    off.ok();
    assert!(!off.stdout.contains("::warning"));
}

#[test]
fn a_missing_label_or_short_sha_is_a_mismatch() {
    let s = stack();
    let head = sha(0x15);
    for (name, label) in [("nolabel", None), ("short", Some(&head[..7]))] {
        let repo = repo(&s, name);
        s.publish(&repo, &format!("main-{}", &head[..7]), label);
        let o = Run::new(
            "workflow_run",
            workflow_run("push", &head, "main", None, false),
        )
        .input("image", &repo)
        .input("fallback", "none")
        .run();
        o.failed();
        assert!(
            o.error().contains("not the expected commit"),
            "{name}: {}",
            o.error()
        );
    }
}

#[test]
fn a_missing_tag_fails_clearly_with_fallback_none() {
    let s = stack();
    let repo = repo(&s, "missing");
    // the repository exists, the tag does not (an unknown repository is another error)
    s.publish(&repo, "other", None);
    let o = Run::new(
        "workflow_run",
        workflow_run("push", &sha(0x16), "main", None, false),
    )
    .input("image", &repo)
    .input("fallback", "none")
    .run();
    o.failed();
    assert!(
        o.error().contains("does not exist") && o.error().contains("fallback: artifact"),
        "{}",
        o.error()
    );
}

#[test]
fn basic_auth_registry() {
    let s = stack();
    let head = sha(0x17);
    let repo = format!("{}/it/{}", s.auth_registry, unique("auth"));
    let tag = format!("main-{}", &head[..7]);
    s.build(&format!("{repo}:{tag}"), Some(&head), 64);
    s.docker(&["push", "-q", &format!("{repo}:{tag}")]);
    s.docker(&["rmi", "-f", &format!("{repo}:{tag}")]);
    let ev = || workflow_run("push", &head, "main", None, false);

    let good = Run::new("workflow_run", ev())
        .input("image", &repo)
        .input("registry-username", &s.user)
        .input("registry-password", &s.pass)
        .run();
    good.ok();
    good.assert_no_secret(&s.pass);
    assert!(good.stdout.contains(&format!("::add-mask::{}", s.pass)));
    assert!(s.image_id(&format!("{repo}:{tag}")).is_some());

    let wrong = Run::new("workflow_run", ev())
        .input("image", &repo)
        .input("registry-username", &s.user)
        .input("registry-password", "not-the-password-123")
        .input("fallback", "none")
        .run();
    wrong.failed();
    wrong.assert_no_secret("not-the-password-123");
    assert!(
        wrong.error().contains("401") && wrong.error().contains("registry-password"),
        "{}",
        wrong.error()
    );

    let anonymous = Run::new("workflow_run", ev())
        .input("image", &repo)
        .input("fallback", "none")
        .run();
    anonymous.failed();
    assert!(
        anonymous.error().contains("set `registry-username`"),
        "{}",
        anonymous.error()
    );
}

#[test]
fn verify_mode_needs_no_daemon() {
    let s = stack();
    let (head, repo) = (sha(0x18), repo(&s, "verify"));
    let digest = s.publish(&repo, &format!("main-{}", &head[..7]), Some(&head));
    let o = Run::new(
        "workflow_run",
        workflow_run("push", &head, "main", None, false),
    )
    .input("image", &repo)
    .input("mode", "verify")
    .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    .run();
    o.ok();
    assert_eq!(
        (o.out("digest"), o.out("ref")),
        (digest.as_str(), format!("{repo}@{digest}").as_str())
    );
    assert_eq!((o.out("source"), o.out("image-id")), ("registry", ""));
}

#[test]
fn compute_mode_labels_match_what_pull_checks() {
    let s = stack();
    let (head, repo) = (sha(0x19), repo(&s, "compute"));
    let c = Run::new("pull_request", pull_request_event(7, &head, "feat/login"))
        .input("image", &repo)
        .input("mode", "compute")
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    c.ok();
    let tag = c.out("tag").to_string();
    assert_eq!(tag, format!("pr-7-{}", &head[..7]));
    assert_eq!(
        (c.out("image"), c.out("source")),
        (format!("{repo}:{tag}").as_str(), "none")
    );
    let labels = c.out("labels");
    assert!(
        labels
            .lines()
            .any(|l| l == format!("org.opencontainers.image.revision={head}")),
        "{labels}"
    );
    // the producer builds with exactly those labels and tag ...
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("payload"), b"x").unwrap();
    let mut df = String::from("FROM scratch\nCOPY payload /payload\n");
    for l in labels.lines() {
        let (k, v) = l.split_once('=').unwrap();
        df.push_str(&format!("LABEL {k}=\"{v}\"\n"));
    }
    std::fs::write(dir.path().join("Dockerfile"), df).unwrap();
    s.docker(&[
        "build",
        "-q",
        "-t",
        c.out("image"),
        dir.path().to_str().unwrap(),
    ]);
    s.docker(&["push", "-q", c.out("image")]);
    s.docker(&["rmi", "-f", c.out("image")]);
    // ... and the consumer under the matching workflow_run finds it and passes the check
    let p = Run::new(
        "workflow_run",
        workflow_run("pull_request", &head, "feat/login", Some(7), false),
    )
    .input("image", &repo)
    .run();
    p.ok();
    assert_eq!(
        (p.out("tag"), p.out("revision")),
        (tag.as_str(), head.as_str())
    );
}

#[test]
fn full_references_by_tag_and_digest() {
    let s = stack();
    let (head, repo) = (sha(0x1a), repo(&s, "full"));
    let digest = s.publish(&repo, "v1.0.0", Some(&head));
    let by_digest = format!("{repo}@{digest}");
    let local = format!("{}:shard", unique("e2e"));
    let o = Run::new("workflow_dispatch", json!({"inputs": {}}))
        .input("image", &by_digest)
        .input("local-tag", &local)
        .run();
    o.ok();
    assert_eq!(
        (o.out("tag"), o.out("image"), o.out("digest")),
        ("", by_digest.as_str(), digest.as_str())
    );
    assert_eq!(s.image_id(&local).as_deref(), Some(o.out("image-id")));
    assert!(
        o.summary.contains("revision was not checked"),
        "{}",
        o.summary
    );
    let t = Run::new("workflow_dispatch", json!({}))
        .input("image", &format!("{repo}:v1.0.0"))
        .input("mode", "verify")
        .run();
    t.ok();
    assert_eq!(t.out("digest"), digest);
    let explicit = Run::new("workflow_dispatch", json!({}))
        .input("image", &repo)
        .input("tag", "v1.0.0")
        .input("mode", "verify")
        .run();
    explicit.ok();
    let none = Run::new("workflow_dispatch", json!({}))
        .input("image", &repo)
        .run();
    none.failed();
    assert!(
        none.error().contains("set the `tag` input"),
        "{}",
        none.error()
    );
}

#[test]
fn multi_platform_index_resolves_the_platform_manifest() {
    let s = stack();
    let head = sha(0x1b);
    let repo = repo(&s, "multi");
    let path = repo.split_once('/').unwrap().1.to_string();
    let accept = "accept: application/vnd.docker.distribution.manifest.v2+json";
    let mut entries = Vec::new();
    for (arch, label) in [("amd64", head.clone()), ("arm64", sha(0x1c))] {
        let d = s.publish(&repo, arch, Some(&label));
        let m = curl(&[
            "-H",
            accept,
            &format!("http://{}/v2/{path}/manifests/{d}", s.registry),
        ]);
        entries.push(
            json!({"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": d,
                            "size": m.len(), "platform": {"os": "linux", "architecture": arch}}),
        );
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": entries});
    let tag = format!("main-{}", &head[..7]);
    curl(&[
        "-X",
        "PUT",
        "-H",
        "content-type: application/vnd.docker.distribution.manifest.list.v2+json",
        "--data-binary",
        &index.to_string(),
        &format!("http://{}/v2/{path}/manifests/{tag}", s.registry),
    ]);
    let ev = || workflow_run("push", &head, "main", None, false);
    // the daemon's platform (linux/amd64) carries the expected revision
    let o = Run::new("workflow_run", ev()).input("image", &repo).run();
    o.ok();
    assert_eq!(o.out("revision"), head);
    // the arm64 image was built from another commit: refused before pulling
    let arm = Run::new("workflow_run", ev())
        .input("image", &repo)
        .input("platform", "linux/arm64")
        .input("mode", "verify")
        .run();
    arm.failed();
    assert!(arm.error().contains(&sha(0x1c)), "{}", arm.error());
    let none = Run::new("workflow_run", ev())
        .input("image", &repo)
        .input("platform", "linux/s390x")
        .input("mode", "verify")
        .run();
    none.failed();
    assert!(
        none.error().contains("without `linux/s390x`")
            && none.error().contains("linux/amd64, linux/arm64"),
        "{}",
        none.error()
    );
}

#[test]
fn failed_upstream_runs_are_refused_unless_allowed() {
    let s = stack();
    let (head, repo) = (sha(0x1d), repo(&s, "upstream"));
    s.publish(&repo, &format!("main-{}", &head[..7]), Some(&head));
    let mut ev = workflow_run("push", &head, "main", None, false);
    ev["workflow_run"]["conclusion"] = json!("failure");
    let o = Run::new("workflow_run", ev.clone())
        .input("image", &repo)
        .run();
    o.failed();
    assert!(
        o.error().contains("concluded `failure`") && o.error().contains("allow-failed-upstream"),
        "{}",
        o.error()
    );
    Run::new("workflow_run", ev)
        .input("image", &repo)
        .input("allow-failed-upstream", "true")
        .run()
        .ok();
}

#[test]
fn a_missing_docker_socket_fails_within_seconds() {
    let s = stack();
    let repo = repo(&s, "nosock");
    let t = Instant::now();
    let o = Run::new(
        "workflow_run",
        workflow_run("push", &sha(0x1e), "main", None, false),
    )
    .input("image", &repo)
    .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    .run();
    o.failed();
    assert!(
        o.error().contains("cannot reach the Docker daemon")
            && o.error().contains("verify and compute modes"),
        "{}",
        o.error()
    );
    assert!(t.elapsed().as_secs() < 10);
}

#[test]
fn bearer_token_auth_the_ghcr_way() {
    let s = stack();
    let head = sha(0x1f);
    let path = format!("it/{}", unique("bearer"));
    let tag = format!("main-{}", &head[..7]);
    s.publish(&format!("{}/{path}", s.registry), &tag, Some(&head));
    let bearer = BearerRegistry::start(&s.registry, "octocat", "ghp_bearerSecret42");
    let repo = format!("{}/{path}", bearer.server.host);
    let ev = || workflow_run("push", &head, "main", None, false);
    let o = Run::new("workflow_run", ev())
        .input("image", &repo)
        .input("registry-username", "octocat")
        .input("registry-password", "ghp_bearerSecret42")
        .run();
    o.ok();
    o.assert_no_secret("ghp_bearerSecret42");
    o.assert_no_secret(BEARER_TOKEN);
    assert_eq!(o.out("source"), "registry");
    assert!(
        s.image_id(&format!("{repo}:{tag}")).is_some(),
        "the daemon pulled through the token realm too"
    );
    let reqs = bearer.server.requests();
    assert!(reqs.iter().any(|r| r.path.starts_with("/token")
        && r.headers
            .get("authorization")
            .is_some_and(|a| a.starts_with("Basic "))));
    assert!(reqs.iter().any(|r| r.path.contains("/manifests/")
        && r.headers
            .get("authorization")
            .is_some_and(|a| a.starts_with("Bearer "))));
    let wrong = Run::new("workflow_run", ev())
        .input("image", &repo)
        .input("registry-username", "octocat")
        .input("registry-password", "wrong-password-99")
        .input("fallback", "none")
        .run();
    wrong.failed();
    wrong.assert_no_secret("wrong-password-99");
    assert!(
        wrong.error().contains("401") || wrong.error().to_lowercase().contains("auth"),
        "{}",
        wrong.error()
    );
}

#[test]
fn wait_timeout_polls_until_the_image_appears() {
    let s = stack();
    let head = sha(0x20);
    let repo = repo(&s, "wait");
    let tag = format!("main-{}", &head[..7]);
    let src = format!("{repo}:{tag}");
    s.build(&src, Some(&head), 64);
    let run = Run::new(
        "workflow_run",
        workflow_run("push", &head, "main", None, false),
    )
    .input("image", &repo)
    .input("mode", "verify")
    .input("wait-timeout", "60")
    .var("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let started = Instant::now();
    let pusher = {
        let (cli, host, src) = (s.cli.clone(), s.docker_host.clone(), src.clone());
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(4));
            let ok = Command::new(cli)
                .args(["-H", &host, "push", "-q", &src])
                .output()
                .unwrap()
                .status
                .success();
            (ok, Instant::now())
        })
    };
    let o = run.run();
    let (pushed, pushed_at) = pusher.join().unwrap();
    assert!(pushed);
    o.ok();
    assert!(
        o.stdout.contains("is not there yet; looking again"),
        "{}",
        o.stdout
    );
    assert!(pushed_at.duration_since(started).as_secs() >= 4);
    assert!(
        started.elapsed().as_secs() < 40,
        "found soon after the push: {:?}",
        started.elapsed()
    );

    // nothing ever appears: a clear failure at the deadline, not before, not much after
    let t = Instant::now();
    let missing = Run::new(
        "workflow_run",
        workflow_run("push", &sha(0x21), "main", None, false),
    )
    .input("image", &repo)
    .input("mode", "verify")
    .input("wait-timeout", "5")
    .run();
    missing.failed();
    assert!(
        missing.error().contains("waited 5s") && missing.error().contains("does not exist"),
        "{}",
        missing.error()
    );
    let took = t.elapsed().as_secs_f64();
    assert!(
        (4.5..15.0).contains(&took),
        "took {took}s for a 5s deadline"
    );
}

#[test]
fn a_mixed_case_repository_is_lower_cased_with_a_notice() {
    // `ghcr.io/${{ github.repository }}` with an owner like `Acme`
    let s = stack();
    let head = sha(0x1d);
    let name = unique("mixed");
    let repo = format!("{}/acme/{name}", s.registry);
    let digest = s.publish(&repo, &format!("main-{}", &head[..7]), Some(&head));
    let o = Run::new(
        "workflow_run",
        workflow_run("push", &head, "main", None, false),
    )
    .input(
        "image",
        &format!("{}/Acme/{}", s.registry, name.to_uppercase()),
    )
    .input("mode", "verify")
    .run();
    o.ok();
    assert_eq!(o.out("digest"), digest);
    assert!(o.out("image").starts_with(&repo), "{}", o.out("image"));
    let notice = o
        .stdout
        .lines()
        .find(|l| l.starts_with("::notice title=image-resolver::"))
        .unwrap_or_default();
    assert!(
        notice.contains("upper-case") && notice.contains(&repo),
        "{}",
        o.stdout
    );
}

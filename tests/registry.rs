//! The registry path of `mode: pull` (and verify / compute), against the real daemon and registries.

mod common;
use common::proxy::{BearerRegistry, BEARER_TOKEN};
use common::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Instant;

fn repo(s: &Stack, name: &str) -> String {
    format!("{}/it/{}", s.registry, unique(name))
}

#[test]
fn workflow_run_push_pulls_tags_and_reports() {
    let s = stack();
    let (head, repo) = (sha(0x11), repo(&s, "push"));
    let tag = format!("feature-x-{}", &head[..7]);
    let digest = s.publish(&repo, &tag, Some(&head));
    let local = format!("{}:local", unique("charon"));
    let o = table(vec![
        (
            "first pull",
            push_on(&head, "Feature/X")
                .input("image", &repo)
                .input("local-tag", &local),
            Want::Ok(vec![
                ("tag", tag.clone()),
                ("image", format!("{repo}:{tag}")),
                ("digest", digest.clone()),
                ("ref", format!("{repo}@{digest}")),
                ("source", "registry".into()),
                ("sha", head.clone()),
                ("short-sha", head[..7].into()),
                ("pr-number", "".into()),
                ("revision", head.clone()),
                ("local-image", local.clone()),
            ]),
        ),
        // the daemon now holds that digest: nothing is pulled the second time
        (
            "again",
            push_on(&head, "Feature/X").input("image", &repo),
            Want::Ok(vec![("source", "local".into())]),
        ),
    ]);
    let id = s
        .image_id(&format!("{repo}:{tag}"))
        .expect("repo:tag in the daemon");
    assert_eq!(o[0].out("image-id"), id);
    assert_eq!(
        s.image_id(&local).as_deref(),
        Some(id.as_str()),
        "local-tag applied"
    );
    assert!(o[0].stdout.contains("::group::Registry") && o[0].stdout.contains("::endgroup::"));
    assert!(
        o[0].summary.starts_with("✅ **Resolved**") && o[0].summary.contains("from the registry"),
        "{}",
        o[0].summary
    );
    assert!(!o[1].stdout.contains("::group::Pull"), "{}", o[1].stdout);
}

#[test]
fn pull_request_events_use_the_head_sha_and_pr_template() {
    let s = stack();
    let (head, repo) = (sha(0x12), repo(&s, "pr"));
    let tag = format!("pr-42-{}", &head[..7]);
    s.publish(&repo, &tag, Some(&head));
    let want = || Want::Ok(vec![("tag", tag.clone()), ("pr-number", "42".into())]);
    let run = |ev: &str, payload| {
        Run::new(ev, payload)
            .input("image", &repo)
            .var("GITHUB_SHA", &sha(0x99))
    };
    table(vec![
        (
            "pull_request",
            run("pull_request", pull_request_event(42, &head, "feat/$(id)")),
            want(),
        ),
        (
            "workflow_run",
            run(
                "workflow_run",
                workflow_run("pull_request", &head, "feat/$(id)", Some(42), false),
            ),
            want(),
        ),
    ]);
}

#[test]
fn a_stale_image_is_refused_before_any_layer_moves() {
    let s = stack();
    let (head, built_from, repo) = (sha(0x13), sha(0x14), repo(&s, "stale"));
    let tag = format!("main-{}", &head[..7]);
    s.publish(&repo, &tag, Some(&built_from));
    let t = Instant::now();
    table(vec![(
        "fallback none",
        push_event(&head)
            .input("image", &repo)
            .input("fallback", "none"),
        // the fix is named
        Want::Fails(vec![
            format!("{repo}:{tag}"),
            built_from.clone(),
            head.clone(),
            "revision-check: warn".into(),
        ]),
    )]);
    assert_eq!(
        s.image_id(&format!("{repo}:{tag}")),
        None,
        "nothing was pulled"
    );
    eprintln!("stale image refused in {:?}", t.elapsed());
    let o = table(vec![
        (
            "warn",
            push_event(&head)
                .input("image", &repo)
                .input("revision-check", "warn"),
            Want::Ok(vec![("revision", built_from.clone())]),
        ),
        (
            "off",
            push_event(&head)
                .input("image", &repo)
                .input("revision-check", "off"),
            Want::Ok(vec![]),
        ),
    ]);
    assert!(
        o[0].stdout.contains("::warning title=image-resolver::")
            && o[0].stdout.contains(&built_from),
        "{}",
        o[0].stdout
    );
    assert!(!o[1].stdout.contains("::warning"));
}

#[test]
fn a_missing_label_or_short_sha_is_a_mismatch() {
    let s = stack();
    let head = sha(0x15);
    let cases = [("nolabel", None), ("short", Some(&head[..7]))]
        .into_iter()
        .map(|(name, label)| {
            let repo = repo(&s, name);
            s.publish(&repo, &format!("main-{}", &head[..7]), label);
            let run = push_event(&head)
                .input("image", &repo)
                .input("fallback", "none");
            (
                name,
                run,
                Want::Fails(vec!["not the expected commit".into()]),
            )
        })
        .collect();
    table(cases);
}

#[test]
fn a_missing_tag_fails_clearly_with_fallback_none() {
    let s = stack();
    let repo = repo(&s, "missing");
    // the repository exists, the tag does not (an unknown repository is another error)
    s.publish(&repo, "other", None);
    table(vec![(
        "missing tag",
        push_event(&sha(0x16))
            .input("image", &repo)
            .input("fallback", "none"),
        Want::Fails(vec!["does not exist".into(), "fallback: artifact".into()]),
    )]);
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
    let run = || push_event(&head).input("image", &repo);
    let o = table(vec![
        (
            "good",
            run()
                .input("registry-username", &s.user)
                .input("registry-password", &s.pass),
            Want::Ok(vec![]),
        ),
        (
            "wrong",
            run()
                .input("registry-username", &s.user)
                .input("registry-password", "not-the-password-123")
                .input("fallback", "none"),
            Want::Fails(vec!["401".into(), "registry-password".into()]),
        ),
        (
            "anonymous",
            run().input("fallback", "none"),
            Want::Fails(vec!["set `registry-username`".into()]),
        ),
    ]);
    o[0].assert_no_secret(&s.pass);
    assert!(o[0].stdout.contains(&format!("::add-mask::{}", s.pass)));
    assert!(s.image_id(&format!("{repo}:{tag}")).is_some());
    o[1].assert_no_secret("not-the-password-123");
}

#[test]
fn verify_mode_needs_no_daemon() {
    let s = stack();
    let (head, repo) = (sha(0x18), repo(&s, "verify"));
    let digest = s.publish(&repo, &format!("main-{}", &head[..7]), Some(&head));
    table(vec![(
        "verify",
        push_event(&head)
            .input("image", &repo)
            .input("mode", "verify")
            .var("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        Want::Ok(vec![
            ("digest", digest.clone()),
            ("ref", format!("{repo}@{digest}")),
            ("source", "registry".into()),
            ("image-id", "".into()),
        ]),
    )]);
}

#[test]
fn compute_mode_labels_match_what_pull_checks() {
    let s = stack();
    let (head, repo) = (sha(0x19), repo(&s, "compute"));
    let tag = format!("pr-7-{}", &head[..7]);
    let c = table(vec![(
        "compute",
        Run::new("pull_request", pull_request_event(7, &head, "feat/login"))
            .input("image", &repo)
            .input("mode", "compute")
            .var("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        Want::Ok(vec![
            ("tag", tag.clone()),
            ("image", format!("{repo}:{tag}")),
            ("source", "none".into()),
        ]),
    )]);
    let c = &c[0];
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
    table(vec![(
        "consumer",
        Run::new(
            "workflow_run",
            workflow_run("pull_request", &head, "feat/login", Some(7), false),
        )
        .input("image", &repo),
        Want::Ok(vec![("tag", tag.clone()), ("revision", head.clone())]),
    )]);
}

#[test]
fn full_references_by_tag_and_digest() {
    let s = stack();
    let (head, repo) = (sha(0x1a), repo(&s, "full"));
    let digest = s.publish(&repo, "v1.0.0", Some(&head));
    let by_digest = format!("{repo}@{digest}");
    let local = format!("{}:shard", unique("e2e"));
    let dispatch = |inputs: Value| Run::new("workflow_dispatch", inputs);
    let o = table(vec![
        (
            "by digest",
            dispatch(json!({"inputs": {}}))
                .input("image", &by_digest)
                .input("local-tag", &local),
            Want::Ok(vec![
                ("tag", "".into()),
                ("image", by_digest.clone()),
                ("digest", digest.clone()),
            ]),
        ),
        (
            "by tag",
            dispatch(json!({}))
                .input("image", &format!("{repo}:v1.0.0"))
                .input("mode", "verify"),
            Want::Ok(vec![("digest", digest.clone())]),
        ),
        (
            "the tag input",
            dispatch(json!({}))
                .input("image", &repo)
                .input("tag", "v1.0.0")
                .input("mode", "verify"),
            Want::Ok(vec![]),
        ),
        (
            "no tag at all",
            dispatch(json!({})).input("image", &repo),
            Want::Fails(vec!["set the `tag` input".into()]),
        ),
    ]);
    assert_eq!(s.image_id(&local).as_deref(), Some(o[0].out("image-id")));
    assert!(
        o[0].summary.contains("revision was not checked"),
        "{}",
        o[0].summary
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
    let verify = |platform: &str| {
        push_event(&head)
            .input("image", &repo)
            .input("platform", platform)
            .input("mode", "verify")
    };
    table(vec![
        // the daemon's platform (linux/amd64) carries the expected revision
        (
            "the daemon's platform",
            push_event(&head).input("image", &repo),
            Want::Ok(vec![("revision", head.clone())]),
        ),
        // the arm64 image was built from another commit: refused before pulling
        ("arm64", verify("linux/arm64"), Want::Fails(vec![sha(0x1c)])),
        (
            "s390x",
            verify("linux/s390x"),
            Want::Fails(vec![
                "without `linux/s390x`".into(),
                "linux/amd64, linux/arm64".into(),
            ]),
        ),
    ]);
}

#[test]
fn failed_upstream_runs_are_refused_unless_allowed() {
    let s = stack();
    let (head, repo) = (sha(0x1d), repo(&s, "upstream"));
    s.publish(&repo, &format!("main-{}", &head[..7]), Some(&head));
    let mut ev = workflow_run("push", &head, "main", None, false);
    ev["workflow_run"]["conclusion"] = json!("failure");
    let run = || Run::new("workflow_run", ev.clone()).input("image", &repo);
    table(vec![
        (
            "refused",
            run(),
            Want::Fails(vec![
                "concluded `failure`".into(),
                "allow-failed-upstream".into(),
            ]),
        ),
        (
            "allowed",
            run().input("allow-failed-upstream", "true"),
            Want::Ok(vec![]),
        ),
    ]);
}

#[test]
fn a_missing_docker_socket_fails_within_seconds() {
    let s = stack();
    let repo = repo(&s, "nosock");
    let t = Instant::now();
    table(vec![(
        "no socket",
        push_event(&sha(0x1e))
            .input("image", &repo)
            .var("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        Want::Fails(vec![
            "cannot reach the Docker daemon".into(),
            "verify and compute modes".into(),
        ]),
    )]);
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
    let run = |password: &str| {
        push_event(&head)
            .input("image", &repo)
            .input("registry-username", "octocat")
            .input("registry-password", password)
    };
    let o = table(vec![
        (
            "good",
            run("ghp_bearerSecret42"),
            Want::Ok(vec![("source", "registry".into())]),
        ),
        (
            "wrong",
            run("wrong-password-99").input("fallback", "none"),
            Want::Fails(vec![]),
        ),
    ]);
    o[0].assert_no_secret("ghp_bearerSecret42");
    o[0].assert_no_secret(BEARER_TOKEN);
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
    let wrong = &o[1];
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
    let run = push_event(&head)
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
    // the push happens while this run waits: not a row of a table
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
    table(vec![(
        "never",
        push_event(&sha(0x21))
            .input("image", &repo)
            .input("mode", "verify")
            .input("wait-timeout", "5"),
        Want::Fails(vec!["waited 5s".into(), "does not exist".into()]),
    )]);
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
    let o = table(vec![(
        "mixed case",
        push_event(&head)
            .input(
                "image",
                &format!("{}/Acme/{}", s.registry, name.to_uppercase()),
            )
            .input("mode", "verify"),
        Want::Ok(vec![("digest", digest.clone())]),
    )]);
    let o = &o[0];
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

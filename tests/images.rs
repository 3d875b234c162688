//! Several images in one step (`images`), against the real daemon, registries and our GitHub API.

mod common;
use common::fixtures::*;
use common::github::*;
use common::*;

fn repo(s: &Stack, name: &str) -> String {
    format!("{}/it/{}", s.registry, unique(name))
}

fn images_json(o: &Outcome) -> serde_json::Value {
    serde_json::from_str(o.out("images")).expect("the images output is JSON")
}

#[test]
fn two_images_are_pulled_tagged_and_reported_by_name() {
    let s = stack();
    let head = sha(0x61);
    let tag = format!("pr-7-{}", &head[..7]);
    let (api, worker) = (repo(&s, "api"), repo(&s, "worker"));
    let api_digest = s.publish(&api, &tag, Some(&head));
    let worker_digest = s.publish(&worker, &tag, Some(&head));
    let gh = FakeGitHub::start(World::default());
    let suffix = unique("t");
    let o = Run::new(
        "workflow_run",
        workflow_run("pull_request", &head, "feat", Some(7), false),
    )
    .input("images", &format!("api={api}\n\n  worker = {worker}  \n"))
    .input("local-tag", &format!("{{name}}:{suffix}"))
    .input("github-token", TOKEN)
    .var("GITHUB_API_URL", &gh.api_url())
    .run();
    o.ok();
    // shared outputs stay top-level; per-image ones are in `images`
    assert_eq!(
        (o.out("tag"), o.out("sha"), o.out("pr-number")),
        (tag.as_str(), head.as_str(), "7")
    );
    let v = images_json(&o);
    for (name, r, digest) in [
        ("api", &api, &api_digest),
        ("worker", &worker, &worker_digest),
    ] {
        let i = &v[name];
        assert_eq!(i["image"], format!("{r}:{tag}"), "{name}");
        assert_eq!(i["digest"], digest.as_str(), "{name}");
        assert_eq!(i["ref"], format!("{r}@{digest}"), "{name}");
        assert_eq!(
            (i["source"].as_str(), i["revision"].as_str()),
            (Some("registry"), Some(head.as_str()))
        );
        let local = format!("{name}:{suffix}");
        assert_eq!(i["local-image"], local.as_str());
        let id = s.image_id(&local).expect("local tag applied");
        assert_eq!(i["image-id"], id.as_str());
        assert_eq!(
            s.image_id(&format!("{r}:{tag}")).as_deref(),
            Some(id.as_str())
        );
    }
    // a same-repository PR whose images are all in the registry costs no API call
    assert_eq!(gh.api_calls(), 0);
    // one group per image, lines prefixed with its name, never interleaved
    for name in ["api", "worker"] {
        let group = o
            .stdout
            .lines()
            .position(|l| l.starts_with(&format!("::group::{name} (")))
            .unwrap_or_else(|| panic!("a group for {name}:\n{}", o.stdout));
        let end = o
            .stdout
            .lines()
            .skip(group)
            .position(|l| l == "::endgroup::")
            .unwrap();
        for line in o.stdout.lines().skip(group + 1).take(end - 1) {
            assert!(
                line.contains(&format!("{name}: ")),
                "{line:?} in {name}'s group:\n{}",
                o.stdout
            );
        }
    }
    assert!(o.summary.contains("2 images"), "{}", o.summary);
}

#[test]
fn three_images_in_verify_mode_with_one_failing() {
    let s = stack();
    let head = sha(0x62);
    let tag = format!("main-{}", &head[..7]);
    let (a, b, c) = (repo(&s, "a"), repo(&s, "b"), repo(&s, "c"));
    s.publish(&a, &tag, Some(&head));
    s.publish(&c, &tag, Some(&head));
    let o = push_event(&head)
        .input("images", &format!("{a}\n{b}\n{c}"))
        .input("mode", "verify")
        .run();
    // every image is attempted; the one missing fails alone, and no outputs are written
    assert_ne!(o.code, 0);
    assert!(o.output_file.is_empty(), "no outputs on failure");
    let errors: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error title=image-resolver"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", o.stdout);
    let b_name = b.rsplit('/').next().unwrap();
    assert!(
        errors[0].contains(&format!("`{b_name}`")) && errors[0].contains("has no repository"),
        "{}",
        errors[0]
    );
    // the summary shows all three
    assert!(o.summary.starts_with("❌"), "{}", o.summary);
    for r in [&a, &b, &c] {
        assert!(
            o.summary.contains(r.rsplit('/').next().unwrap()),
            "{}",
            o.summary
        );
    }
}

#[test]
fn the_artifact_backs_the_one_image_the_registry_lacks() {
    let s = stack();
    let head = sha(0x63);
    let tag = format!("main-{}", &head[..7]);
    let (api, worker) = (repo(&s, "api"), repo(&s, "worker"));
    s.publish(&api, &tag, Some(&head));
    // worker is only in the build's artifact, named by the default `push-image-{name}`
    let build = format!("{}:build", unique("worker-src"));
    let worker_id = s.build(&build, Some(&head), 2048);
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("worker.tar");
    s.docker(&["save", "-o", tar.to_str().unwrap(), &build]);
    s.docker(&["rmi", "-f", &build]);
    let zipped = zip(&[("worker.tar", &std::fs::read(&tar).unwrap())]);
    let gh = FakeGitHub::start(World {
        run_id: 4242,
        artifacts: vec![Artifact {
            id: 5,
            name: "push-image-worker".into(),
            file: write(dir.path(), "a.zip", &zipped),
            expired: false,
            digest: None,
        }],
        ..Default::default()
    });
    let o = push_event(&head)
        .input("images", &format!("api={api}\nworker={worker}"))
        .input("github-token", TOKEN)
        .var("GITHUB_API_URL", &gh.api_url())
        .run();
    o.ok();
    let v = images_json(&o);
    assert_eq!(v["api"]["source"], "registry");
    assert_eq!(
        (
            v["worker"]["source"].as_str(),
            v["worker"]["digest"].as_str()
        ),
        (Some("artifact"), Some(""))
    );
    assert_eq!(
        s.image_id(&format!("{worker}:{tag}")).as_deref(),
        Some(worker_id.as_str())
    );
    gh.assert_blob_host_got_no_token();
    // the miss is said once, as a warning titled by what happened
    let warnings: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("::warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", o.stdout);
    assert!(
        warnings[0]
            .starts_with("::warning title=image-resolver%3A Loaded from the artifact::worker: ")
            && warnings[0].contains("has no repository"),
        "{}",
        warnings[0]
    );
}

#[test]
fn a_local_tag_without_name_is_refused_before_any_network_call() {
    let o = push_event(&sha(0x64))
        .input("images", "127.0.0.1:9/a\n127.0.0.1:9/b")
        .input("local-tag", "app:local")
        .run();
    o.failed();
    assert!(
        o.error().contains("input `local-tag`") && o.error().contains("{name}"),
        "{}",
        o.error()
    );
}

#[test]
fn shards_pulling_by_digest_ask_the_github_api_nothing() {
    let s = stack();
    let head = sha(0x66);
    let tag = format!("pr-8-{}", &head[..7]);
    let (api, worker) = (repo(&s, "api"), repo(&s, "worker"));
    let api_digest = s.publish(&api, &tag, Some(&head));
    let worker_digest = s.publish(&worker, &tag, Some(&head));
    let gh = FakeGitHub::start(World::default());
    let suffix = unique("shard");
    // a fork's PR: a shard would have to look the PR up if it derived anything
    let o = Run::new(
        "workflow_run",
        workflow_run("pull_request", &head, "patch-1", None, true),
    )
    .input(
        "images",
        &format!("api={api}@{api_digest}\nworker={worker}@{worker_digest}"),
    )
    .input("local-tag", &format!("{{name}}:{suffix}"))
    .input("allow-forks", "true")
    .input("fallback", "none")
    .input("github-token", TOKEN)
    .var("GITHUB_API_URL", &gh.api_url())
    .run();
    o.ok();
    assert_eq!(gh.api_calls(), 0);
    let v = images_json(&o);
    assert_eq!(v["api"]["ref"], format!("{api}@{api_digest}"));
    assert!(s.image_id(&format!("worker:{suffix}")).is_some());
}

/// With `images`, an image's GitHub API lines are printed inside that image's group.
#[test]
fn api_lines_stay_in_their_image_group() {
    let s = stack();
    let head = sha(0x6a);
    let tag = format!("main-{}", &head[..7]);
    let (api, web) = (repo(&s, "api"), repo(&s, "web"));
    s.publish(&api, &tag, Some(&head));
    s.publish(&web, &tag, Some(&head));
    let gh = FakeGitHub::start(World::default());
    let o = push_event(&head)
        .input("images", &format!("api={api}\nweb={web}"))
        .input("mode", "verify")
        .input("attestation", "warn")
        .input("github-token", TOKEN)
        .var("GITHUB_API_URL", &gh.api_url())
        .var("RUNNER_DEBUG", "1")
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    let mut group: Option<&str> = None;
    let mut seen = 0;
    for l in o.stdout.lines() {
        if let Some(title) = l.strip_prefix("::group::") {
            group = Some(title);
        } else if l == "::endgroup::" {
            group = None;
        } else if l.contains("GitHub API GET") && l.contains("attestations") {
            let g = group.unwrap_or_else(|| panic!("outside any group: {l}\n{}", o.stdout));
            let name = g.split(' ').next().unwrap();
            assert!(l.contains(&format!("{name}: ")), "{l} in group {g}");
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "{}", o.stdout);
}

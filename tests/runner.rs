//! The action image run as the runner runs a container action (see tests/common/runner.rs for the
//! runner source each flag comes from): on a job network, never the host's, with a registry service
//! by its alias, our GitHub API on the network's gateway, the daemon's socket mounted, the runner's
//! directories mounted, and no TMPDIR.

mod common;
use common::fixtures::*;
use common::forward_proxy::ForwardProxy;
use common::github::*;
use common::runner::*;
use common::*;
use serde_json::json;

#[test]
fn file_commands_parse_as_the_runner_parses_them() {
    let ok = parse_file_command("a=1\n\nb<<EOF\nx\ny=z\nEOF\nc<<D\n\nD\n").unwrap();
    assert_eq!(
        ok,
        [("a", "1"), ("b", "x\ny=z"), ("c", "")].map(|(k, v)| (k.to_string(), v.to_string()))
    );
    for bad in ["b<<EOF\nx\n", "b<<EOF\nx", "<<EOF\nEOF\n", "nothing\n"] {
        assert!(parse_file_command(bad).is_err(), "{bad:?}");
    }
}

/// An image built from `head` and saved with `docker save`, then removed from the daemon.
fn saved_image(s: &Stack, head: &str) -> (String, Vec<u8>) {
    let name = format!("{}:build", unique("runner-src"));
    let id = s.build(&name, Some(head), 4096);
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("saved.tar");
    s.docker(&["save", "-o", tar.to_str().unwrap(), &name]);
    s.docker(&["rmi", "-f", &name]);
    (id, std::fs::read(&tar).unwrap())
}

#[test]
fn compute_on_a_dispatch_with_a_tag_labels_the_commit() {
    let net = JobNetwork::create();
    let head = sha(0x61);
    let o = Step::new(
        &net,
        "workflow_dispatch",
        json!({"inputs": {"tag": "manual-1"}, "ref": "refs/heads/main"}),
    )
    .with("image", "registry:5000/acme/charon")
    .with("mode", "compute")
    .with("tag", "manual-1")
    .env("GITHUB_SHA", &head)
    .run();
    o.ok();
    assert_eq!((o.out("tag"), o.out("source")), ("manual-1", "none"));
    assert!(
        o.out("labels")
            .lines()
            .any(|l| l == format!("org.opencontainers.image.revision={head}")),
        "{}",
        o.out("labels")
    );
    assert!(!o.stdout.contains("actions-runtime-token-never-printed"));
}

#[test]
fn pull_loads_a_stored_artifact_through_the_proxy_and_a_missing_docker_host_falls_back() {
    let s = stack();
    let (net, tls) = job_with_registry();
    let head = sha(0x63);
    let (image_id, tar) = saved_image(&s, &head);
    // upload-artifact with `compression-level: 0`: stored, sizes after the data, so it spools
    let zip = zip_streamed(
        &[("notes.txt", b"hello"), ("image.tar", &tar)],
        zip::CompressionMethod::Stored,
    );
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start_at(
        World {
            run_id: 4242,
            artifacts: vec![Artifact {
                id: 77,
                name: "push-image".into(),
                file: write(dir.path(), "push-image.zip", &zip),
                expired: false,
                digest: None,
            }],
            ..Default::default()
        },
        &net.gateway,
        &net.gateway,
    );
    let proxy = ForwardProxy::start(&net.gateway, &net.gateway);
    let repo = format!("registry:5000/it/{}", unique("runner-pull"));
    let local = format!("{}:local", unique("charon"));
    let step = |docker_host: Option<&str>| {
        let mut step = Step::new(
            &net,
            "workflow_run",
            workflow_run("push", &head, "main", None, false),
        )
        .with("image", &repo)
        .with("local-tag", &local)
        .env("GITHUB_API_URL", &gh.api_url())
        .workspace_file("ca.pem", &std::fs::read(tls.ca()).unwrap())
        .env("SSL_CERT_FILE", "{workspace}/ca.pem")
        // the proxy cannot resolve the job's service names: the registry is reached directly
        .runner_proxy(&proxy.url, "registry");
        if let Some(h) = docker_host {
            step = step.env("DOCKER_HOST", h);
        }
        step.run()
    };

    let o = step(None);
    o.ok();
    assert_eq!(
        (o.out("source"), o.out("image-id")),
        ("artifact", image_id.as_str())
    );
    assert!(
        o.stdout
            .contains("is stored (not deflated) with its size after the data"),
        "the spool's note:\n{}",
        o.stdout
    );
    assert_eq!(s.image_id(&local).as_deref(), Some(image_id.as_str()));
    // every API call and the download went through the proxy; the registry did not
    let api = gh.api.host.clone();
    let blob = gh.blob.host.clone();
    assert!(gh.api_calls() > 0);
    assert_eq!(proxy.count(&api), gh.api_calls(), "{:?}", proxy.seen());
    assert_eq!(proxy.count(&blob), gh.blob.requests().len());
    assert!(proxy.count(&blob) > 0, "{:?}", proxy.seen());
    assert!(
        proxy
            .seen()
            .iter()
            .all(|r| !r.target.starts_with("registry")),
        "{:?}",
        proxy.seen()
    );
    // the download, off the API host, carried no token: not to the proxy, not to the blob host
    for r in proxy.seen().iter().filter(|r| r.target == blob) {
        assert!(
            r.headers
                .iter()
                .all(|(k, v)| k != "authorization" && !v.contains(TOKEN)),
            "{r:?}"
        );
    }
    gh.assert_blob_host_got_no_token();
    for secret in [TOKEN, "actions-runtime-token-never-printed"] {
        let shown = o.stdout.replace(&format!("::add-mask::{secret}"), "");
        assert!(!shown.contains(secret), "{secret} printed:\n{}", o.stdout);
    }

    // a job whose env names a socket that is not in the container: the mounted one, a warning
    s.docker(&["rmi", "-f", &image_id]);
    let missing = "unix:///home/runner/.docker/run/docker.sock";
    let o = step(Some(missing));
    o.ok();
    assert_eq!(
        (o.out("source"), o.out("image-id")),
        ("artifact", image_id.as_str())
    );
    let warning = o
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning") && l.contains("DOCKER_HOST"))
        .unwrap_or_else(|| panic!("no DOCKER_HOST warning:\n{}", o.stdout));
    assert!(
        warning.contains(&format!("`{missing}`")) && warning.contains("`/var/run/docker.sock`"),
        "{warning}"
    );
}

#[test]
fn a_registry_is_reached_through_the_proxy_unless_no_proxy_names_it() {
    let s = stack();
    let (net, tls) = job_with_registry();
    let head = sha(0x66);
    let name = format!("it/{}", unique("runner-proxied"));
    let tag = format!("main-{}", &head[..7]);
    let digest = s.publish(&format!("{}/{name}", s.registry), &tag, Some(&head));
    // a proxy inside the job's reach, which resolves the service's name
    let proxy = ForwardProxy::start(&net.gateway, "10.");
    proxy.resolve("registry", &net.service_address("registry"));
    let verify = |no_proxy: &str| {
        Step::new(
            &net,
            "workflow_run",
            workflow_run("push", &head, "main", None, false),
        )
        .with("image", &format!("registry:5000/{name}"))
        .with("mode", "verify")
        .workspace_file("ca.pem", &std::fs::read(tls.ca()).unwrap())
        .env("SSL_CERT_FILE", "{workspace}/ca.pem")
        .runner_proxy(&proxy.url, no_proxy)
        .run()
    };
    let o = verify("");
    o.ok();
    assert_eq!(o.out("digest"), digest);
    let tunnels = proxy.count("registry:5000");
    assert!(tunnels > 0, "{:?}", proxy.seen());
    assert!(
        proxy.seen().iter().all(|r| r.method == "CONNECT"),
        "{:?}",
        proxy.seen()
    );
    let o = verify("localhost,registry");
    o.ok();
    assert_eq!(o.out("digest"), digest);
    assert_eq!(
        proxy.count("registry:5000"),
        tunnels,
        "NO_PROXY names it: direct"
    );
}

#[test]
fn a_loopback_registry_is_the_action_itself_and_the_error_says_so() {
    let s = stack();
    let net = JobNetwork::create();
    // the stack's registry, on the host's loopback: out of the action's reach
    let o = Step::new(
        &net,
        "workflow_run",
        workflow_run("push", &sha(0x64), "main", None, false),
    )
    .with(
        "image",
        &format!("{}/it/{}", s.registry, unique("loopback")),
    )
    .with("mode", "verify")
    .with("retries", "1")
    .run();
    assert_ne!(o.code, 0, "{}", o.stdout);
    assert!(o.outputs.is_empty(), "{}", o.output_file);
    let e = o.error();
    assert_eq!(e.lines().count(), 1, "one error line:\n{}", o.stdout);
    assert!(
        e.contains(&format!("`{}` could not be reached", s.registry))
            && e.contains("the action runs in a network of its own")
            && e.contains("`registry:5000`"),
        "{e}"
    );
}

#[test]
fn the_spool_goes_under_runner_temp() {
    let s = stack();
    let head = sha(0x65);
    let (image_id, tar) = saved_image(&s, &head);
    let zip = zip_streamed(&[("image.tar", &tar)], zip::CompressionMethod::Stored);
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGitHub::start(World {
        run_id: 4242,
        artifacts: vec![Artifact {
            id: 78,
            name: "push-image".into(),
            file: write(dir.path(), "push-image.zip", &zip),
            expired: false,
            digest: None,
        }],
        ..Default::default()
    });
    let repo = format!("{}/it/{}", s.registry, unique("spool"));
    let run = |temp: &str| {
        Run::new(
            "workflow_run",
            workflow_run("push", &head, "main", None, false),
        )
        .input("image", &repo)
        .input("github-token", TOKEN)
        .input("retries", "1")
        .var("GITHUB_API_URL", &gh.api_url())
        .var("RUNNER_TEMP", temp)
        .run()
    };
    let missing = dir.path().join("no-such-runner-temp");
    let o = run(missing.to_str().unwrap());
    o.failed();
    assert!(
        o.error().contains(&format!("`{}`", missing.display())),
        "{}",
        o.error()
    );
    assert_eq!(s.image_id(&image_id), None, "nothing loaded");
    let temp = tempfile::tempdir().unwrap();
    let o = run(temp.path().to_str().unwrap());
    o.ok();
    assert_eq!(
        (o.out("source"), o.out("image-id")),
        ("artifact", image_id.as_str())
    );
}

#[test]
fn a_plain_http_services_registry_listed_as_insecure_is_pulled_by_the_action() {
    let s = stack();
    let net = job_with_plain_registry();
    let head = sha(0x67);
    let name = format!("it/{}", unique("runner-plain"));
    let tag = format!("main-{}", &head[..7]);
    let pushed = format!("{}/{name}:{tag}", s.registry);
    let id = s.build(&pushed, Some(&head), 4096);
    s.docker(&["push", "-q", &pushed]);
    s.docker(&["rmi", "-f", &pushed]);
    // `registry:5000` is a name only the job network knows: the daemon could not pull it
    let image = format!("registry:5000/{name}");
    let o = Step::new(
        &net,
        "workflow_run",
        workflow_run("push", &head, "main", None, false),
    )
    .with("image", &image)
    .with("insecure-registries", "registry:5000")
    .run();
    o.ok();
    assert_eq!(
        (o.out("image-id"), o.out("source")),
        (id.as_str(), "registry")
    );
    assert_eq!(o.out("revision"), head);
    assert!(o.summary.contains("pulled by\\: client"), "{}", o.summary);
    assert_eq!(
        s.image_id(&format!("{image}:{tag}")).as_deref(),
        Some(id.as_str())
    );
    s.docker(&["rmi", "-f", &id]);
}

//! The action image, built offline from the host's static binary: what it holds, and a run in the
//! runner's own `docker run` form (tests/common/runner.rs) on a job network, never the host's.

mod common;
use common::runner::*;
use common::*;

#[test]
fn the_action_image_runs_like_the_runner_runs_it() {
    let s = stack();
    let tag = action_image();
    let size: u64 = s
        .docker(&["inspect", "--format", "{{.Size}}", &tag])
        .parse()
        .unwrap();
    eprintln!("action image size: {size} bytes");
    assert!(
        size <= 15_000_000,
        "the action image is {size} bytes, over 15 MB"
    );
    // the OCI labels the release sets too: where the image came from, and which version
    let labels = s.docker(&["inspect", "--format", "{{json .Config.Labels}}", &tag]);
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION"),
        "{labels}"
    );
    for key in ["source", "revision"] {
        let v = labels[format!("org.opencontainers.image.{key}")].as_str();
        assert!(v.is_some_and(|v| !v.is_empty()), "{key}: {labels}");
    }
    // an empty /tmp, mode 1777: the runner sets no TMPDIR and mounts nothing there
    let container = s.docker(&["create", &tag]);
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("rootfs.tar");
    s.docker(&["export", "-o", exported.to_str().unwrap(), &container]);
    s.docker(&["rm", &container]);
    let mut archive = tar::Archive::new(std::fs::File::open(&exported).unwrap());
    let mut tmp = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().to_string();
        if path.trim_end_matches('/') == "tmp" || path.starts_with("tmp/") {
            tmp.push((path, entry.header().mode().unwrap() & 0o7777));
        }
    }
    assert_eq!(tmp, [("tmp/".to_string(), 0o1777)]);

    // a pull request's image, verified in a `services:` registry reached by its name
    let (net, tls) = job_with_registry();
    let head = sha(0x51);
    let name = format!("it/{}", unique("container"));
    let pr_tag = format!("pr-42-{}", &head[..7]);
    let digest = s.publish(&format!("{}/{name}", s.registry), &pr_tag, Some(&head));
    let o = Step::new(
        &net,
        "workflow_run",
        workflow_run("pull_request", &head, "feat/x", Some(42), false),
    )
    .with("image", &format!("registry:5000/{name}"))
    .with("mode", "verify")
    // a private CA, as `${{ github.workspace }}/ca.pem`: the runner translates the path
    .workspace_file("ca.pem", &std::fs::read(tls.ca()).unwrap())
    .env("SSL_CERT_FILE", "{workspace}/ca.pem")
    .run();
    o.ok();
    assert_eq!(o.out("digest"), digest);
    assert_eq!(o.out("image"), format!("registry:5000/{name}:{pr_tag}"));
    assert_eq!(
        (o.out("revision"), o.out("pr-number")),
        (head.as_str(), "42")
    );
    assert!(o.summary.starts_with("✅ **Resolved**"), "{}", o.summary);
    let shown = o
        .stdout
        .replace(&format!("::add-mask::{}", github::TOKEN), "");
    assert!(!shown.contains(github::TOKEN), "{}", o.stdout);
}

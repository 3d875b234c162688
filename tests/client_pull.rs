//! `pull-with: client`: the action fetches the image's blobs itself and loads them into the real
//! daemon. The image must be the one `docker pull` gives (same ID, same config); ranges are used
//! where the registry honours them and not needed where it does not; a lying blob loads nothing;
//! a cut connection is retried.

mod common;
use common::proxy::{Fault, Proxy};
use common::*;

/// A `FROM scratch` image of three layers (the first `big` random bytes, so that it is fetched
/// in several ranges), pushed to the stack's registry as `repo:tag` and removed locally: its ID.
fn publish_layers(s: &Stack, repo: &str, tag: &str, revision: &str, big: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let random = |n: usize| (0..n).map(|_| rand::random::<u8>()).collect::<Vec<u8>>();
    std::fs::write(dir.path().join("big"), random(big)).unwrap();
    std::fs::write(dir.path().join("mid"), random(100 << 10)).unwrap();
    std::fs::write(dir.path().join("small"), random(16)).unwrap();
    let df = format!(
        "FROM scratch\nCOPY big /big\nCOPY mid /mid\nCOPY small /small\nLABEL org.opencontainers.image.revision={revision}\n"
    );
    std::fs::write(dir.path().join("Dockerfile"), df).unwrap();
    let r = format!("{repo}:{tag}");
    s.docker(&[
        "build",
        "-q",
        "--no-cache",
        "-t",
        &r,
        dir.path().to_str().unwrap(),
    ]);
    s.docker(&["push", "-q", &r]);
    let id = s.docker(&["inspect", "--format", "{{.Id}}", &r]);
    s.docker(&["rmi", "-f", &r]);
    id
}

/// What `docker pull` and `docker load` must agree on: the ID, the config and the layers.
fn shape(s: &Stack, name: &str) -> String {
    s.docker(&[
        "inspect",
        "--format",
        "{{.Id}} {{json .Config}} {{json .RootFS}} {{.Os}}/{{.Architecture}}",
        name,
    ])
}

/// `path` of `host/path` on the stack's registry, for the registry API.
fn path_of(repo: &str) -> &str {
    repo.split_once('/').unwrap().1
}

/// An image of three layers (the largest `big` bytes) labelled with `sha(seed)`, pushed as
/// `main-<sha7>` to the open registry and reached through a proxy of ours: the commit, the tag,
/// the image ID, the proxy and the repository as the proxy serves it.
struct Layered {
    head: String,
    tag: String,
    id: String,
    proxy: Proxy,
    repo: String,
}

fn layered(s: &Stack, seed: u8, what: &str, big: usize) -> Layered {
    let head = sha(seed);
    let tag = format!("main-{}", &head[..7]);
    let name = unique(what);
    let id = publish_layers(s, &format!("{}/it/{name}", s.registry), &tag, &head, big);
    let proxy = Proxy::start(&s.registry);
    let repo = format!("{}/it/{name}", proxy.host());
    Layered {
        head,
        tag,
        id,
        proxy,
        repo,
    }
}

fn pull(repo_on: &str, head: &str, by: &str) -> Run {
    push_event(head)
        .input("image", repo_on)
        .input("pull-with", by)
}

#[test]
fn a_multi_layer_image_pulled_by_the_client_is_the_one_docker_pull_gives() {
    let s = stack();
    // through a proxy of ours that counts the range requests
    let Layered {
        head,
        tag,
        id,
        proxy,
        repo,
    } = layered(&s, 0xc1, "layers", 9 << 20);
    let local = unique("client-local");
    let o = pull(&repo, &head, "client")
        .input("local-tag", &format!("{local}:t"))
        .run();
    o.ok();
    assert_eq!(o.out("image-id"), id);
    assert_eq!(o.out("source"), "registry");
    assert!(o.summary.contains("pulled by\\: client"), "{}", o.summary);
    // the 9 MiB layer in ranges, the two small ones whole
    assert!(
        o.stdout.contains("(1 blob(s) in 5 ranges, 2 whole)"),
        "{}",
        o.stdout
    );
    let ranged = proxy
        .server
        .requests()
        .iter()
        .filter(|r| r.path.contains("/blobs/") && r.headers.contains_key("range"))
        .count();
    // 9 MiB (and the gzip framing) in ranges of 2 MiB
    assert_eq!(ranged, 5, "{:?}", proxy.server.requests());
    let by_client = shape(&s, &format!("{local}:t"));
    assert_eq!(
        s.image_id(&format!("{repo}:{tag}")).as_deref(),
        Some(id.as_str())
    );
    // no repository digest: the daemon never pulled it
    assert_eq!(
        s.docker(&["inspect", "--format", "{{len .RepoDigests}}", &id]),
        "0"
    );
    // the same image by the daemon's own pull
    s.docker(&["rmi", "-f", &id]);
    let o = pull(&repo, &head, "daemon").run();
    o.ok();
    assert!(!o.summary.contains("pulled by\\: client"), "{}", o.summary);
    assert_eq!(o.out("image-id"), id);
    assert_eq!(shape(&s, &id), by_client);
    // a second client pull finds the image held: nothing is fetched
    let blobs = format!("/v2/{}/blobs/", repo.split_once('/').unwrap().1);
    let before = proxy.server.count(&blobs);
    let o = pull(&repo, &head, "client").run();
    o.ok();
    assert_eq!(o.out("source"), "local");
    let after = proxy.server.count(&blobs);
    // the config only, read by the look-up
    assert_eq!(after - before, 1);
    s.docker(&["rmi", "-f", &id]);
}

#[test]
fn an_index_is_pulled_by_the_client_for_the_platform_the_daemon_would_choose() {
    let s = stack();
    let head = sha(0xc2);
    let name = unique("index");
    let repo = format!("{}/it/{name}", s.registry);
    let accept = "accept: application/vnd.docker.distribution.manifest.v2+json";
    let mut entries = Vec::new();
    let mut ids = Vec::new();
    for (arch, label) in [("arm64", sha(0xc3)), ("amd64", head.clone())] {
        let id = publish_layers(&s, &repo, arch, &label, 64 << 10);
        let m = curl(&[
            "-H",
            accept,
            &format!(
                "http://{}/v2/{}/manifests/{arch}",
                s.registry,
                path_of(&repo)
            ),
        ]);
        let d = common::fixtures::sha256(m.as_bytes());
        entries.push(
            serde_json::json!({"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": d, "size": m.len(), "platform": {"os": "linux", "architecture": arch}}),
        );
        ids.push(id);
    }
    let index = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": entries});
    let tag = format!("main-{}", &head[..7]);
    curl(&[
        "-X",
        "PUT",
        "-H",
        "content-type: application/vnd.docker.distribution.manifest.list.v2+json",
        "--data-binary",
        &index.to_string(),
        &format!(
            "http://{}/v2/{}/manifests/{tag}",
            s.registry,
            path_of(&repo)
        ),
    ]);
    let o = pull(&repo, &head, "client").run();
    o.ok();
    // the daemon's platform (linux/amd64), whose label is the expected commit
    assert_eq!(o.out("image-id"), ids[1]);
    assert_eq!(o.out("revision"), head);
    assert!(o.summary.contains("pulled by\\: client"), "{}", o.summary);
    assert_eq!(
        s.image_id(&format!("{repo}:{tag}")).as_deref(),
        Some(ids[1].as_str())
    );
    assert_eq!(
        s.image_id(&ids[0]),
        None,
        "the other platform is not loaded"
    );
    s.docker(&["rmi", "-f", &ids[1]]);
}

#[test]
fn a_registry_that_ignores_range_is_read_in_one_stream() {
    let s = stack();
    let Layered {
        head,
        tag,
        id,
        proxy,
        repo,
    } = layered(&s, 0xc4, "norange", 9 << 20);
    proxy.set(Fault::IgnoreRange);
    let o = pull(&repo, &head, "client").run();
    o.ok();
    assert_eq!(o.out("image-id"), id);
    assert_eq!(
        s.image_id(&format!("{repo}:{tag}")).as_deref(),
        Some(id.as_str())
    );
    // the large layer: its first range came back whole, then one stream read it
    let big: Vec<_> = proxy
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/blobs/") && r.headers.contains_key("range"))
        .collect();
    assert_eq!(big.len(), 1, "{big:?}");
    s.docker(&["rmi", "-f", &id]);
}

#[test]
fn a_lying_blob_fails_the_pull_and_nothing_is_loaded_or_tagged() {
    let s = stack();
    let Layered {
        head,
        tag: _,
        id,
        proxy,
        repo,
    } = layered(&s, 0xc5, "lying", 64 << 10);
    proxy.set(Fault::CorruptLayers);
    let before = s.all_tags();
    let o = pull(&repo, &head, "client")
        .input("local-tag", &format!("{}:t", unique("never")))
        .input("fallback", "none")
        .run();
    o.failed();
    let e = o.error();
    assert!(
        e.contains("integrity check failed")
            && e.contains("hashes to")
            && e.contains("nothing was loaded"),
        "{e}"
    );
    assert_eq!(s.all_tags(), before);
    assert_eq!(s.image_id(&id), None, "nothing loaded");
}

#[test]
fn a_cut_connection_is_retried() {
    let s = stack();
    let Layered {
        head,
        tag,
        id,
        proxy,
        repo,
    } = layered(&s, 0xc6, "cut", 9 << 20);
    // a range cut short is asked again; a whole stream cut short resumes where it broke off
    for fault in [Fault::CutBlobs(2), Fault::IgnoreRangeAndCut(1)] {
        proxy.set(fault);
        let o = pull(&repo, &head, "client").run();
        o.ok();
        assert_eq!(o.out("image-id"), id, "{fault:?}");
        assert!(
            o.stdout.contains("attempt 1 of 3 failed"),
            "{fault:?}: {}",
            o.stdout
        );
        assert_eq!(
            s.image_id(&format!("{repo}:{tag}")).as_deref(),
            Some(id.as_str())
        );
        s.docker(&["rmi", "-f", &id]);
    }
}

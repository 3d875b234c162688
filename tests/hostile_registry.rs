//! Hostile registries (issue 17, points 2, 3 and 5): a token, manifest or config that lies, drips
//! one byte every 5 s, or never ends. Each run is capped at 1 GiB of address space, so a
//! regression fails fast (an allocation failure aborts) instead of thrashing the machine; each
//! must fail with exactly one `::error::`, and prints its peak RSS and wall time. Issue 20's
//! cases follow: forged index children, blobs of the wrong length, a lying HEAD, an echoed
//! Authorization, host-only targets, huge API answers and events, and a slow uplink.
mod common;

use common::hostile::{HostileApi, HostileRegistry, Misbehaviour, Part};
use common::{sha, workflow_run, Run};

const CAP: u64 = 1 << 30;

fn case(part: Part, how: Misbehaviour, mode: &str) -> String {
    let reg = HostileRegistry::start(part, how);
    let run = Run::new(
        "workflow_run",
        workflow_run("push", &sha(0x51), "main", None, false),
    )
    .input("image", &format!("{}/hostile", reg.host))
    .input("mode", mode)
    .input("revision-check", "off")
    .input("retries", "1")
    .cap(CAP);
    let o = run.run();
    o.print_cost(&format!("{part:?}/{how:?}/{mode}"));
    // a signal (an allocation failure aborts) shows as a negative code
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    o.failed();
    let e = o.error();
    assert!(!e.contains("/token?"), "a URL with its query: {e}");
    e
}

#[test]
fn an_endless_manifest_token_or_config_is_refused_at_its_cap() {
    for (part, what) in [
        (Part::Manifest, "manifest"),
        (Part::Token, "token"),
        (Part::Config, "blob"),
    ] {
        let e = case(part, Misbehaviour::Endless, "verify");
        assert!(
            e.contains(what) && e.contains("larger than"),
            "{part:?}: {e}"
        );
    }
}

#[test]
fn a_dripping_manifest_stalls() {
    let e = case(Part::Manifest, Misbehaviour::Drip, "verify");
    assert!(e.contains("stalled"), "{e}");
}

#[test]
fn a_dripping_token_stalls() {
    let e = case(Part::Token, Misbehaviour::Drip, "verify");
    assert!(e.contains("stalled"), "{e}");
}

#[test]
fn a_dripping_config_stalls() {
    let e = case(Part::Config, Misbehaviour::Drip, "verify");
    assert!(e.contains("stalled"), "{e}");
}

#[test]
fn a_lying_manifest_or_config_is_tampering_and_never_falls_back() {
    for part in [Part::Manifest, Part::Config] {
        // pull mode with the default `fallback: artifact`: an integrity failure must not fall back
        let e = case(part, Misbehaviour::Lie, "pull");
        assert!(
            e.contains("integrity check failed") && e.contains("tampering"),
            "{part:?}: {e}"
        );
        assert!(!e.contains("artifact"), "{part:?} fell back: {e}");
        assert!(!e.contains("attempt 2"), "{part:?} retried: {e}");
    }
}

/// The GitHub API side (issue 17, points 2 and 3): a fork PR's look-up answered by a body that
/// never ends, or by one byte every 5 s.
#[test]
fn an_endless_or_dripping_github_api_answer_is_refused() {
    for (how, needle) in [
        (Misbehaviour::Endless, "larger than"),
        (Misbehaviour::Drip, "stalled"),
    ] {
        let api = HostileApi::start(how);
        let o = Run::new(
            "workflow_run",
            workflow_run("pull_request", &sha(0x52), "patch-1", None, true),
        )
        .input("image", "127.0.0.1:9/acme/charon")
        .input("mode", "verify")
        .input("allow-forks", "true")
        .input("github-token", "ghs_hostile-test-token")
        .input("retries", "1")
        .var("GITHUB_API_URL", &api.url)
        .cap(CAP)
        .run();
        o.print_cost(&format!("GitHub API/{how:?}"));
        assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
        o.failed();
        assert!(o.error().contains(needle), "{how:?}: {}", o.error());
        o.assert_no_secret("ghs_hostile-test-token");
    }
}

// ---- issue 20: the second hardening round ----

use common::hostile::{ForgedSource, Forgery, Huge, HugeApi, FORGED_PASSWORD, FORGED_USER};
use common::relay::{Mode, Relay};
use common::{stack, unique};
use std::time::Duration;

/// What a real registry of the stack holds: its tags of `path` (none when the repository is
/// unknown), read directly.
fn tags(registry: &str, path: &str) -> Vec<String> {
    let out = std::process::Command::new("curl")
        .args(["-s", &format!("http://{registry}/v2/{path}/tags/list")])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let mut t: Vec<String> = v["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    t.sort();
    t
}

/// The digest `path:tag` holds on a real registry of the stack, read directly.
fn digest_at(registry: &str, path: &str, tag: &str) -> Option<String> {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-D",
            "-",
            "-H",
            "accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json",
            &format!("http://{registry}/v2/{path}/manifests/{tag}"),
        ])
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_string();
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("docker-content-digest:")
            .map(|d| d.trim().to_string())
    })
}

/// A promotion of `image` (its tag from a push of `head` on main) to `targets`, under the cap.
fn promote_run(head: &str, image: &str, targets: &str) -> Run {
    Run::new(
        "workflow_run",
        workflow_run("push", head, "main", None, false),
    )
    .input("image", image)
    .input("mode", "promote")
    .input("promote-to", targets)
    .input("retries", "3")
    .cap(CAP)
}

/// The hostile-suite checks of a failed run: its code, one `::error::`, what it cost.
fn failed(o: &common::Outcome, what: &str) -> String {
    o.print_cost(what);
    assert_eq!(o.code, 1, "{what}: {}\n{}", o.stdout, o.stderr);
    o.failed();
    assert!(
        o.peak_rss_kib < 256 << 10,
        "{what}: peak RSS {} KiB",
        o.peak_rss_kib
    );
    o.error()
}

/// Rule 1: an index child whose "digest" is a tag or a path was used as a reference: `prod`
/// wrote the target's `prod` tag with an untested image, `../../<other>/manifests/prod`
/// replaced another repository's tag. Every digest from a server is checked first.
#[test]
fn an_index_child_that_is_not_a_digest_is_never_a_reference() {
    let s = stack();
    let head = sha(0x53);
    let victim = format!("it/{}", unique("victim"));
    let victim_digest = s.publish(&format!("{}/{victim}", s.registry), "prod", Some(&head));
    let target = format!("it/{}", unique("target"));
    for child in [
        "prod".to_string(),
        format!("../../{}/manifests/prod", victim.trim_start_matches("it/")),
    ] {
        let src = ForgedSource::start(&head, Forgery::ArmChild(child.clone()));
        let t = std::time::Instant::now();
        let o = promote_run(
            &head,
            &format!("{}/src", src.host),
            &format!("{}/{target}:release", s.registry),
        )
        .run();
        let e = failed(&o, &format!("index child `{child}`"));
        assert!(
            e.contains("integrity check failed") && e.contains("is not a `sha256:<64 hex>` digest"),
            "{child}: {e}"
        );
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        // nothing written: not the target, not the tag a server named, not another repository
        assert_eq!(tags(&s.registry, &target), Vec::<String>::new(), "{child}");
        assert_eq!(
            digest_at(&s.registry, &victim, "prod").as_deref(),
            Some(victim_digest.as_str()),
            "{child}: another repository's tag changed"
        );
        assert_eq!(tags(&s.registry, &victim), ["prod"], "{child}");
    }
    // a pinned index resolves its child by digest: a child named by tag is refused
    let src = ForgedSource::start(&head, Forgery::AmdChild("latest".into()));
    let o = Run::new(
        "workflow_run",
        workflow_run("push", &head, "main", None, false),
    )
    .input("image", &format!("{}/src@{}", src.host, src.top_digest))
    .input("mode", "verify")
    .cap(CAP)
    .run();
    let e = failed(&o, "pinned index with a child by tag");
    assert!(e.contains("index child digest `latest`"), "{e}");
}

/// Rule 4: a blob longer or shorter than its descriptor (no Content-Length to give it away
/// first) is an integrity error, fetched once, never "could not be reached" after retries.
#[test]
fn a_blob_longer_or_shorter_than_its_descriptor_is_integrity_not_retried() {
    let s = stack();
    let head = sha(0x54);
    for off in [4096i64, -4096] {
        let src = ForgedSource::start(&head, Forgery::LayerOff(off));
        let target = format!("it/{}", unique("blob"));
        let o = promote_run(
            &head,
            &format!("{}/src", src.host),
            &format!("{}/{target}:v1", s.registry),
        )
        .run();
        let e = failed(&o, &format!("layer {off:+} bytes"));
        assert!(
            e.contains("integrity check failed") && e.contains("its manifest says 50000 bytes"),
            "{off}: {e}"
        );
        assert!(!e.contains("could not be reached"), "{off}: {e}");
        assert_eq!(
            src.layer_gets.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "{off}: fetched again"
        );
        assert_eq!(tags(&s.registry, &target), Vec::<String>::new(), "{off}");
    }
}

/// Rule 6: a target whose `HEAD` claims the digest was counted in `promoted` without a byte
/// read. It is read back; a target that lied is written, then read back like any other.
#[test]
fn a_target_whose_head_claims_the_digest_is_read_back_and_written() {
    let s = stack();
    let head = sha(0x55);
    let src = format!("{}/it/{}", s.registry, unique("claimed"));
    let digest = s.publish(&src, &format!("main-{}", &head[..7]), Some(&head));
    let relay = Relay::start(&s.registry, Mode::LyingHead);
    *relay.claim.lock().unwrap() = digest.clone();
    let path = format!("it/{}", unique("liar"));
    assert_eq!(digest_at(&s.registry, &path, "prod"), None);
    let o = promote_run(&head, &src, &format!("{}/{path}:prod", relay.host)).run();
    o.print_cost("lying HEAD");
    o.ok();
    assert_eq!(
        o.out("promoted"),
        format!("{}/{path}:prod@{digest}", relay.host)
    );
    // written through the relay, and what the registry now holds is the source's digest
    assert!(relay.count("PUT", &format!("/v2/{path}/manifests/prod")) >= 1);
    assert_eq!(
        digest_at(&s.registry, &path, "prod").as_deref(),
        Some(digest.as_str())
    );
    assert!(
        o.peak_rss_kib < 256 << 10,
        "peak RSS {} KiB",
        o.peak_rss_kib
    );
}

/// Rule 5: a registry error that quotes our `Authorization: Basic …` header (and the
/// credentials it encodes) put base64(`user:password`) into the error and the summary.
#[test]
fn a_registry_error_quoting_our_authorization_is_redacted() {
    use base64::Engine;
    let src = ForgedSource::start(&sha(0x56), Forgery::EchoAuthorization);
    let o = Run::new(
        "workflow_run",
        workflow_run("push", &sha(0x56), "main", None, false),
    )
    .input("image", &format!("{}/src", src.host))
    .input("mode", "verify")
    .input("registry-username", FORGED_USER)
    .input("registry-password", FORGED_PASSWORD)
    .cap(CAP)
    .run();
    let e = failed(&o, "an error quoting Authorization");
    assert!(
        e.contains("malformed request") && e.contains("Basic ***"),
        "{e}"
    );
    let b64 = base64::engine::general_purpose::STANDARD
        .encode(format!("{FORGED_USER}:{FORGED_PASSWORD}"));
    for secret in [b64.as_str(), &b64[..24], FORGED_PASSWORD] {
        o.assert_no_secret(secret);
    }
    assert!(
        !o.summary.is_empty(),
        "the summary is written on failure too"
    );
}

/// Rule 8: `promote-to: localhost:5000` is, as Docker parses it, Docker Hub's `localhost`
/// repository with tag `5000`: refused as an input error before anything runs.
#[test]
fn a_promote_to_line_that_is_only_a_host_is_refused_before_anything_is_written() {
    let s = stack();
    let head = sha(0x57);
    let path = format!("it/{}", unique("hostonly"));
    let digest = s.publish(
        &format!("{}/{path}", s.registry),
        &format!("main-{}", &head[..7]),
        Some(&head),
    );
    for line in ["localhost:5000", &s.registry, "registry.example.com"] {
        let t = std::time::Instant::now();
        let o = promote_run(
            &head,
            &format!("{}/{path}", s.registry),
            &format!("{}/{path}:ok\n{line}", s.registry),
        )
        .run();
        let e = failed(&o, &format!("promote-to {line}"));
        assert!(
            e.contains("input `promote-to`")
                && e.contains(&format!("line `{line}` names only a registry host")),
            "{line}: {e}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{line}: {:?}",
            t.elapsed()
        );
        // the valid line before it was not written either
        assert_eq!(
            tags(&s.registry, &path),
            [format!("main-{}", &head[..7])],
            "{line}"
        );
    }
    assert_eq!(
        digest_at(&s.registry, &path, &format!("main-{}", &head[..7])).as_deref(),
        Some(digest.as_str())
    );
}

/// Rule 2, the API: a 16 MiB page of tiny JSON objects peaked at 2.8 GB parsed into a tree;
/// 400 `bundle_url`s each inflating to 16 MiB aborted after 247. Read into the fields used,
/// bundles one at a time, at most 32: peak RSS under 256 MiB, one `::error::`.
#[test]
fn pages_of_tiny_objects_and_hundreds_of_bundles_stay_under_256_mib() {
    let s = stack();
    // a fork's pull request looked up through two pages of tiny objects
    let api = HugeApi::start(Huge::TinyObjects);
    let o = Run::new(
        "workflow_run",
        workflow_run("pull_request", &sha(0x58), "patch-1", None, true),
    )
    .input("image", &format!("{}/it/{}", s.registry, unique("tiny")))
    .input("mode", "verify")
    .input("allow-forks", "true")
    .input("github-token", "ghs_hostile-test-token")
    .var("GITHUB_API_URL", &api.url)
    .cap(CAP)
    .run();
    let e = failed(&o, "16 MiB pages of tiny objects");
    assert!(e.contains("pull request"), "{e}");
    o.assert_no_secret("ghs_hostile-test-token");
    // 400 attestations, each a bundle_url inflating to just under 16 MiB
    let head = sha(0x59);
    let repo = format!("{}/it/{}", s.registry, unique("bundles"));
    s.publish(&repo, &format!("main-{}", &head[..7]), Some(&head));
    let api = HugeApi::start(Huge::Bundles { count: 400 });
    let o = Run::new(
        "workflow_run",
        workflow_run("push", &head, "main", None, false),
    )
    .input("image", &repo)
    .input("mode", "verify")
    .input("attestation", "fail")
    .input("github-token", "ghs_hostile-test-token")
    .var("GITHUB_API_URL", &api.url)
    .cap(CAP)
    .run();
    let e = failed(&o, "400 bundle URLs of 16 MiB each");
    assert!(e.contains("32 attestation(s), none valid"), "{e}");
    assert_eq!(
        api.bundle_gets.load(std::sync::atomic::Ordering::SeqCst),
        32,
        "the rest are not fetched"
    );
}

/// Rule 2, the event: a 60 MiB event file of tiny objects peaked at 5.3 GB. A valid event
/// resolves whatever padding it carries, in the fields used.
#[test]
fn a_60_mib_event_of_tiny_objects_resolves_under_256_mib() {
    let head = sha(0x5a);
    let event = workflow_run("push", &head, "main", None, false);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        // padding first and inside the run: tiny objects, the costliest tree per byte
        f.write_all(b"{\"padding\": [").unwrap();
        for _ in 0..(30 << 20) / 3 {
            f.write_all(b"{},").unwrap();
        }
        f.write_all(b"{}], \"workflow_run\": {\"more\": [").unwrap();
        for _ in 0..(30 << 20) / 3 {
            f.write_all(b"{},").unwrap();
        }
        f.write_all(b"{}]").unwrap();
        for (k, v) in event["workflow_run"].as_object().unwrap() {
            write!(f, ", {}: {v}", serde_json::Value::String(k.clone())).unwrap();
        }
        write!(f, "}}, \"repository\": {}}}", event["repository"]).unwrap();
    }
    assert!(std::fs::metadata(&path).unwrap().len() > 60 << 20);
    let mut r = Run::new("workflow_run", serde_json::json!({}))
        .input("image", "127.0.0.1:9/acme/app")
        .input("mode", "compute")
        .var("GITHUB_EVENT_PATH", path.to_str().unwrap())
        .cap(CAP);
    r.event = None;
    let o = r.run();
    o.print_cost("60 MiB event of tiny objects");
    o.ok();
    assert_eq!(o.out("tag"), format!("main-{}", &head[..7]));
    assert!(
        o.peak_rss_kib < 256 << 10,
        "peak RSS {} KiB",
        o.peak_rss_kib
    );
}

/// Rule 3: the 40 s headers limit wrapped the whole streamed PATCH, so any blob whose upload
/// took longer failed. Through an uplink that takes 512 KiB a second, a 24 MiB layer takes at
/// least 48 s to send and is promoted; the stall rule guards the sending instead. (Larger than
/// the socket buffers, which take the first megabytes at once.)
#[test]
fn a_slow_uplink_is_sending_not_waiting_for_headers() {
    let s = stack();
    let head = sha(0x5b);
    let src = format!("{}/it/{}", s.registry, unique("slowsrc"));
    let tag = format!("main-{}", &head[..7]);
    s.build(&format!("{src}:{tag}"), Some(&head), 24 << 20);
    s.docker(&["push", "-q", &format!("{src}:{tag}")]);
    s.docker(&["rmi", "-f", &format!("{src}:{tag}")]);
    let relay = Relay::start(&s.registry, Mode::SlowUpload(512 << 10));
    let path = format!("it/{}", unique("slowdst"));
    let o = promote_run(&head, &src, &format!("{}/{path}:v1", relay.host)).run();
    o.print_cost("a 24 MiB layer through a 512 KiB/s uplink");
    o.ok();
    assert!(
        o.wall > Duration::from_secs(40),
        "the upload took {:?}: not slow enough to prove the rule",
        o.wall
    );
    let digest = o.out("digest").to_string();
    assert_eq!(digest_at(&s.registry, &path, "v1"), Some(digest));
    assert!(
        o.peak_rss_kib < 256 << 10,
        "peak RSS {} KiB",
        o.peak_rss_kib
    );
}

/// Rule 1 in the promotion itself (the library, without the resolve that refuses the index
/// first): an index's children are all checked before anything is written.
#[test]
fn promotion_checks_every_index_child_before_writing() {
    use image_resolver::adapters::registry::{Registry, RegistryConfig, Target};
    use image_resolver::core::reference::ImageRef;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let s = stack();
    let src = ForgedSource::start(&sha(0x5c), Forgery::ArmChild("prod".into()));
    let reg = |host: &str| {
        Registry::new(RegistryConfig {
            registry: host.into(),
            plain_http: true,
            credentials: None,
            retries: 2,
        })
    };
    let (from, to) = (reg(&src.host), reg(&s.registry));
    let path = format!("it/{}", unique("children"));
    let targets = [Target {
        registry: &to,
        reference: ImageRef::parse(&format!("{}/{path}:release", s.registry)).unwrap(),
    }];
    let source = ImageRef::parse(&format!("{}/src@{}", src.host, src.top_digest)).unwrap();
    let e = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(from.promote(&source, &targets, false, &|_| {}))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("integrity check failed") && e.contains("index child digest `prod`"),
        "{e}"
    );
    // found on the source, before any target is asked (or its referrers looked for)
    assert!(e.contains("Nothing from this answer was used"), "{e}");
    assert_eq!(tags(&s.registry, &path), Vec::<String>::new());
    // not even the valid child: nothing is written before every child is checked
    assert_eq!(src.layer_gets.load(std::sync::atomic::Ordering::SeqCst), 0);
}

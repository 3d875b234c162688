//! What travels with a digest, through the binary on the real stack: referrers (Sigstore
//! bundles, cosign signatures) carried by promotion in the tag scheme (the stack's
//! distribution 2.8 has no referrers API) and through the referrers API of a stand-in; a hostile
//! referrers index; a promote dry run; and bundles found in the registry when the GitHub API has
//! none or is rate-limited.
mod common;

use common::github::{pull_json, FakeGitHub, Fault, World, TOKEN};
use common::standin::{Auth, Quirks, Referrers, StandIn};
use common::{push_event, sha, stack, unique, Outcome, Run, Stack};
use serde_json::{json, Value};
use sha2::Digest;
use std::process::Command;

const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const PASSWORD: &str = "referrers-test-password";

fn digest_of(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

/// A registry as the tests write to it: `host:port` and, for the auth registry or a stand-in,
/// Basic credentials.
struct Reg {
    host: String,
    creds: Option<(String, String)>,
}

impl Reg {
    fn open(s: &Stack) -> Reg {
        Reg {
            host: s.registry.clone(),
            creds: None,
        }
    }
    fn auth(s: &Stack) -> Reg {
        Reg {
            host: s.auth_registry.clone(),
            creds: Some((s.user.clone(), s.pass.clone())),
        }
    }
    fn of(host: &str) -> Reg {
        Reg {
            host: host.into(),
            creds: Some(("ci".into(), PASSWORD.into())),
        }
    }

    /// One request with curl: status, headers (lower-cased names) and body.
    fn call(
        &self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let (head, out) = (dir.path().join("head"), dir.path().join("out"));
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("http://{}{url}", self.host)
        };
        let mut c = Command::new("curl");
        c.args(["-s", "-X", method, "-D"])
            .arg(&head)
            .arg("-o")
            .arg(&out)
            .args(["-w", "%{http_code}"])
            .args(["-H", &format!("accept: {OCI_MANIFEST}, {OCI_INDEX}, application/vnd.docker.distribution.manifest.v2+json")]);
        if let Some((u, p)) = &self.creds {
            c.args(["-u", &format!("{u}:{p}")]);
        }
        if let Some(t) = content_type {
            c.args(["-H", &format!("content-type: {t}")]);
        }
        if let Some(b) = body {
            let f = dir.path().join("body");
            std::fs::write(&f, b).unwrap();
            c.arg("--data-binary").arg(format!("@{}", f.display()));
        }
        c.arg(&url);
        let o = c.output().unwrap();
        let status: u16 = String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        let headers = std::fs::read_to_string(&head)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, std::fs::read(&out).unwrap_or_default())
    }

    fn blob(&self, path: &str, bytes: &[u8]) -> (String, usize) {
        let digest = digest_of(bytes);
        let (status, headers, _) =
            self.call("POST", &format!("/v2/{path}/blobs/uploads/"), None, None);
        assert_eq!(status, 202, "upload start on {}", self.host);
        let loc = headers
            .iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.clone())
            .unwrap();
        let sep = if loc.contains('?') { '&' } else { '?' };
        let (status, _, body) = self.call(
            "PUT",
            &format!("{loc}{sep}digest={digest}"),
            Some("application/octet-stream"),
            Some(bytes),
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        (digest, bytes.len())
    }

    fn put(&self, path: &str, reference: &str, media_type: &str, bytes: &[u8]) {
        let (status, _, body) = self.call(
            "PUT",
            &format!("/v2/{path}/manifests/{reference}"),
            Some(media_type),
            Some(bytes),
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    }

    /// The manifest under `reference`, if any, checked against its digest when it is one.
    fn get(&self, path: &str, reference: &str) -> Option<Vec<u8>> {
        let (status, _, body) = self.call(
            "GET",
            &format!("/v2/{path}/manifests/{reference}"),
            None,
            None,
        );
        match status {
            200 => {
                if reference.starts_with("sha256:") {
                    assert_eq!(digest_of(&body), reference);
                }
                Some(body)
            }
            404 => None,
            s => panic!("GET {path}:{reference} on {}: {s}", self.host),
        }
    }

    fn tags(&self, path: &str) -> Vec<String> {
        let (status, _, body) = self.call("GET", &format!("/v2/{path}/tags/list"), None, None);
        if status == 404 {
            return Vec::new();
        }
        let v: Value = serde_json::from_slice(&body).unwrap();
        let mut t: Vec<String> = v["tags"]
            .as_array()
            .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        t.sort();
        t
    }

    /// An artifact (empty config, one layer) whose `subject` is `subject`; its digest and its
    /// descriptor as an index lists it.
    fn attach(
        &self,
        path: &str,
        subject: &str,
        artifact_type: &str,
        layer: &[u8],
    ) -> (String, Value) {
        let sub = self.get(path, subject).expect("the subject is there");
        let sub_type = serde_json::from_slice::<Value>(&sub).unwrap()["mediaType"]
            .as_str()
            .unwrap()
            .to_string();
        let (config, _) = self.blob(path, b"{}");
        let (layer_digest, layer_size) = self.blob(path, layer);
        let m = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": artifact_type, "digest": layer_digest, "size": layer_size}],
            "subject": {"mediaType": sub_type, "digest": subject, "size": sub.len()},
            "annotations": {"org.opencontainers.image.created": "2026-12-07T00:00:00Z"},
        }))
        .unwrap();
        let digest = digest_of(&m);
        self.put(path, &digest, OCI_MANIFEST, &m);
        let d = json!({
            "mediaType": OCI_MANIFEST, "digest": digest, "size": m.len(),
            "artifactType": artifact_type,
        });
        (digest, d)
    }

    /// The OCI 1.1 fallback index `sha256-<hex>`, as a client writes it where the registry has
    /// no referrers API.
    fn fallback(&self, path: &str, subject: &str, entries: Vec<Value>) {
        let idx = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
        }))
        .unwrap();
        self.put(path, &subject.replace(':', "-"), OCI_INDEX, &idx);
    }

    /// A cosign-style signature under `sha256-<hex>.sig`; its digest.
    fn cosign_sig(&self, path: &str, subject: &str, signature: &str) -> String {
        let payload =
            json!({"critical": {"image": {"docker-manifest-digest": subject}}}).to_string();
        let (config, config_size) = self.blob(path, b"{\"architecture\":\"\",\"os\":\"\"}");
        let (layer, layer_size) = self.blob(path, payload.as_bytes());
        let m = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
            "layers": [{
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": layer, "size": layer_size,
                "annotations": {"dev.cosignproject.cosign/signature": signature},
            }],
        }))
        .unwrap();
        self.put(
            path,
            &format!("{}.sig", subject.replace(':', "-")),
            OCI_MANIFEST,
            &m,
        );
        digest_of(&m)
    }

    /// The digests the fallback index `sha256-<hex>` lists, and the index's own digest.
    fn listed(&self, path: &str, subject: &str) -> Option<(Vec<String>, String)> {
        let b = self.get(path, &subject.replace(':', "-"))?;
        let v: Value = serde_json::from_slice(&b).unwrap();
        let mut d: Vec<String> = v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["digest"].as_str().unwrap().to_string())
            .collect();
        d.sort();
        Some((d, digest_of(&b)))
    }
}

/// An image with a revision label at `<open registry>/it/<unique>:main-<sha7>`, with a Sigstore
/// bundle referrer (listed in a fallback index) and a cosign signature.
struct Source {
    head: String,
    path: String,
    repo: String,
    tag: String,
    digest: String,
    bundle: String,
    sig: String,
}

fn source(s: &Stack, seed: u8, what: &str) -> Source {
    let head = sha(seed);
    let path = format!("it/{}", unique(what));
    let repo = format!("{}/{path}", s.registry);
    let tag = format!("main-{}", &head[..7]);
    let digest = s.publish(&repo, &tag, Some(&head));
    let open = Reg::open(s);
    let (bundle, d) = open.attach(
        &path,
        &digest,
        BUNDLE,
        br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#,
    );
    open.fallback(&path, &digest, vec![d]);
    let sig = open.cosign_sig(&path, &digest, "MEUCIQ==");
    Source {
        head,
        path,
        repo,
        tag,
        digest,
        bundle,
        sig,
    }
}

fn promote(s: &Stack, src: &Source, targets: &str) -> Run {
    push_event(&src.head)
        .input("image", &src.repo)
        .input("mode", "promote")
        .input("promote-to", targets)
        .input("promote-username", &s.user)
        .input("promote-password", &s.pass)
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
}

/// The summary as read: without the backslashes that keep server text from being markdown.
fn summary_has(o: &Outcome, part: &str) {
    let read = o.summary.replace('\\', "");
    assert!(read.contains(part), "{part:?} not in:\n{}", o.summary);
}

#[test]
fn referrers_travel_by_tag_scheme_to_another_repository_and_registry_once() {
    let s = stack();
    let src = source(&s, 0xc1, "ref-src");
    let near = format!("it/{}", unique("ref-near"));
    let far = format!("it/{}", unique("ref-far"));
    let targets = format!(
        "{}/{near}:latest\n{}/{far}:latest",
        s.registry, s.auth_registry
    );
    let o = promote(&s, &src, &targets).run();
    o.ok();
    o.assert_no_secret(&s.pass);
    for (reg, path) in [(Reg::open(&s), &near), (Reg::auth(&s), &far)] {
        assert_eq!(digest_of(&reg.get(path, "latest").unwrap()), src.digest);
        // the bundle by digest (hashed on read), listed in the target's fallback index
        assert!(reg.get(path, &src.bundle).is_some(), "{path}: bundle");
        let (listed, _) = reg.listed(path, &src.digest).expect("a fallback index");
        assert_eq!(listed, vec![src.bundle.clone()], "{path}");
        // the cosign signature under its tag
        let sig_tag = format!("{}.sig", src.digest.replace(':', "-"));
        assert_eq!(
            digest_of(&reg.get(path, &sig_tag).unwrap()),
            src.sig,
            "{path}"
        );
    }
    summary_has(&o, "2 referrers carried");
    assert!(
        o.stderr.contains("referrers written 2") || o.stdout.contains("referrers written 2"),
        "{}",
        o.stdout
    );

    // a second run: every target and referrer is there; nothing is rewritten
    let before: Vec<_> = [(Reg::open(&s), &near), (Reg::auth(&s), &far)]
        .iter()
        .map(|(r, p)| r.listed(p, &src.digest).unwrap().1)
        .collect();
    let o = promote(&s, &src, &targets).run();
    o.ok();
    summary_has(&o, "already there: 2 referrers carried, 2 already there");
    assert!(!o.summary.contains("| written |"), "{}", o.summary);
    let after: Vec<_> = [(Reg::open(&s), &near), (Reg::auth(&s), &far)]
        .iter()
        .map(|(r, p)| r.listed(p, &src.digest).unwrap().1)
        .collect();
    assert_eq!(before, after, "the fallback indexes are not rewritten");
}

#[test]
fn a_same_repository_promotion_carries_nothing() {
    let s = stack();
    let src = source(&s, 0xc2, "ref-same");
    let o = promote(&s, &src, &format!("{}:latest", src.repo)).run();
    o.ok();
    assert!(!o.summary.contains("referrer"), "{}", o.summary);
    let listed = Reg::open(&s).listed(&src.path, &src.digest).unwrap().0;
    assert_eq!(
        listed,
        vec![src.bundle.clone()],
        "the source's index is as it was"
    );
}

fn stand_in(s: &Stack, referrers: Referrers) -> StandIn {
    StandIn::start(
        &s.registry,
        Auth::Basic {
            realm: "referrers".into(),
            user: "ci".into(),
            password: PASSWORD.into(),
        },
        Quirks {
            referrers,
            ..Default::default()
        },
    )
}

#[test]
fn the_referrers_api_of_a_registry_that_has_one_is_read_and_fed() {
    let s = stack();
    // a page of one entry: the second referrer is behind `Link: …; rel="next"`
    let api = stand_in(&s, Referrers::Api { page: 1 });
    let head = sha(0xc3);
    let path = format!("it/{}", unique("api-src"));
    let tag = format!("main-{}", &head[..7]);
    let digest = s.publish(&format!("{}/{path}", s.registry), &tag, Some(&head));
    let reg = Reg::of(&api.host);
    let (bundle, _) = reg.attach(&path, &digest, BUNDLE, br#"{"bundle":1}"#);
    let (sbom, _) = reg.attach(
        &path,
        &digest,
        "application/spdx+json",
        br#"{"spdxVersion":"SPDX-2.3"}"#,
    );
    let dst = format!("it/{}", unique("api-dst"));
    api.clear();
    let o = push_event(&head)
        .input("image", &format!("{}/{path}", api.host))
        .input("mode", "promote")
        .input("promote-to", &format!("{}/{dst}:latest", api.host))
        .input("registry-username", "ci")
        .input("registry-password", PASSWORD)
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    summary_has(&o, "2 referrers carried");
    assert_eq!(
        api.count("GET", "/referrers/"),
        2,
        "both pages of the source's referrers; the target said it indexed each (OCI-Subject)"
    );
    assert!(api.count("GET", "page=1") >= 1, "the next page followed");
    // indexed by the target's API from their `subject`: no fallback tag is written
    let (status, _, body) = reg.call(
        "GET",
        &format!("/v2/{dst}/referrers/{digest}?page=0"),
        None,
        None,
    );
    assert_eq!(status, 200);
    let first: Value = serde_json::from_slice(&body).unwrap();
    let (_, _, body) = reg.call(
        "GET",
        &format!("/v2/{dst}/referrers/{digest}?page=1"),
        None,
        None,
    );
    let second: Value = serde_json::from_slice(&body).unwrap();
    let mut got: Vec<String> = [first, second]
        .iter()
        .flat_map(|v| v["manifests"].as_array().unwrap().clone())
        .map(|e| e["digest"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut want = vec![bundle, sbom];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        Reg::open(&s).get(&dst, &digest.replace(':', "-")),
        None,
        "no fallback index where the referrers API is"
    );
}

#[test]
fn a_hostile_referrers_index_is_an_integrity_error_and_nothing_is_written() {
    let s = stack();
    let bad = stand_in(&s, Referrers::Hostile);
    let head = sha(0xc4);
    let path = format!("it/{}", unique("hostile-src"));
    let tag = format!("main-{}", &head[..7]);
    s.publish(&format!("{}/{path}", s.registry), &tag, Some(&head));
    let dst = format!("it/{}", unique("hostile-dst"));
    bad.clear();
    let o = push_event(&head)
        .input("image", &format!("{}/{path}", bad.host))
        .input("mode", "promote")
        .input("promote-to", &format!("{}/{dst}:latest", bad.host))
        .input("registry-username", "ci")
        .input("registry-password", PASSWORD)
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.failed();
    let e = o.error();
    assert!(
        e.contains("referrer digest")
            && e.contains("is not a `sha256:<64 hex>` digest")
            && e.contains("tampering"),
        "{e}"
    );
    assert_eq!(bad.writes(), 0, "nothing written: {:?}", bad.seen());
    assert!(Reg::open(&s).tags(&dst).is_empty());
}

#[test]
fn a_promote_dry_run_reports_each_target_and_writes_nothing() {
    let s = stack();
    let src = source(&s, 0xc5, "dry-src");
    let near = format!("it/{}", unique("dry-near"));
    let far = format!("it/{}", unique("dry-far"));
    let before = Reg::open(&s).tags(&src.path);
    let o = promote(
        &s,
        &src,
        &format!(
            "{}:{}\n{}/{near}:latest\n{}/{far}:latest",
            src.repo, src.tag, s.registry, s.auth_registry
        ),
    )
    .input("dry-run", "true")
    .run();
    o.ok();
    // only the target that holds the digest already is in `promoted`
    assert_eq!(
        o.out("promoted"),
        format!("{}:{}@{}", src.repo, src.tag, src.digest)
    );
    assert!(
        o.summary.starts_with("✅ **Promotion planned (dry run)**"),
        "{}",
        o.summary
    );
    summary_has(&o, "Dry run: nothing was written.");
    summary_has(
        &o,
        &format!("| `{}/{near}:latest` | would be written |", s.registry),
    );
    summary_has(&o, "already there |");
    summary_has(
        &o,
        &format!(
            "{}/{near}:latest` would be written: 2 blobs to mount; 2 referrers to carry",
            s.registry
        ),
    );
    summary_has(
        &o,
        &format!(
            "{}/{far}:latest` would be written: 2 blobs to copy; 2 referrers to carry",
            s.auth_registry
        ),
    );
    assert_eq!(
        Reg::open(&s).tags(&src.path),
        before,
        "the source is as it was"
    );
    assert!(Reg::open(&s).tags(&near).is_empty(), "nothing in {near}");
    assert!(Reg::auth(&s).tags(&far).is_empty(), "nothing in {far}");
}

/// The real GitHub bundle of tests/fixtures, stored in the registry as actions/attest stores it;
/// its subject is another digest, so it is judged `invalid` — found and judged, from the registry.
fn registry_bundle_is_judged(world: World, what: &str, logged: &str) {
    let s = stack();
    let head = sha(0xc6);
    let path = format!("it/{}", unique("bundled"));
    let repo = format!("{}/{path}", s.registry);
    let tag = format!("main-{}", &head[..7]);
    let digest = s.publish(&repo, &tag, Some(&head));
    let bundle = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/attestations/cli-gh-2.96.0-slsa.sigstore.json"),
    )
    .unwrap();
    let open = Reg::open(&s);
    let (_, d) = open.attach(&path, &digest, BUNDLE, &bundle);
    open.fallback(&path, &digest, vec![d]);
    let gh = FakeGitHub::start(world);
    let o = Run::new(
        "workflow_run",
        common::workflow_run("push", &head, "main", None, false),
    )
    .input("image", &repo)
    .input("mode", "verify")
    .input("attestation", "warn")
    .input("github-token", TOKEN)
    .var("GITHUB_API_URL", &gh.api_url())
    .run();
    o.ok();
    assert_eq!(o.out("attestation"), "invalid", "{what}");
    summary_has(&o, "is invalid (from the registry)");
    assert!(gh.api_calls() >= 1, "{what}: the API was asked first");
    assert!(
        o.stdout.contains(logged),
        "{what}: {logged:?} not in\n{}",
        o.stdout
    );
}

#[test]
fn a_bundle_in_the_registry_is_judged_when_the_api_has_none() {
    registry_bundle_is_judged(World::default(), "404", "the GitHub API has no attestation");
}

#[test]
fn a_bundle_in_the_registry_is_judged_when_the_api_is_rate_limited() {
    let world = World {
        faults: vec![Fault {
            path_contains: "/attestations/".into(),
            status: 403,
            headers: vec![
                ("x-ratelimit-remaining".into(), "0".into()),
                ("retry-after".into(), "1".into()),
            ],
            times: 100,
        }],
        ..Default::default()
    };
    registry_bundle_is_judged(
        world,
        "403 rate limit",
        "the GitHub API could not give the attestations",
    );
}

#[test]
fn a_dry_run_needs_only_read_access() {
    let s = stack();
    // anonymous tokens are pull-only, as on ghcr.io and Docker Hub for public repositories
    let public = StandIn::start(
        &s.registry,
        Auth::Bearer {
            realm: "/token".into(),
            service: String::new(),
            field: "token",
            user: "ci".into(),
            password: PASSWORD.into(),
            anonymous_pull: true,
        },
        Quirks::default(),
    );
    let src = source(&s, 0xc7, "dry-public");
    let dst = format!("it/{}", unique("dry-public-dst"));
    public.clear();
    let o = push_event(&src.head)
        .input("image", &format!("{}/{}", public.host, src.path))
        .input("mode", "promote")
        .input("promote-to", &format!("{}/{dst}:latest", public.host))
        .input("dry-run", "true")
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    summary_has(
        &o,
        "would be written: 2 blobs to mount; 2 referrers to carry",
    );
    assert_eq!(public.writes(), 0, "{:?}", public.seen());
    let asked: Vec<String> = public.token_scopes().into_iter().flatten().collect();
    assert!(
        !asked.is_empty() && asked.iter().all(|s| s.ends_with(":pull")),
        "{asked:?}"
    );
}

#[test]
fn a_target_keeps_its_own_signature_and_referrers_index_entries() {
    let s = stack();
    let src = source(&s, 0xc8, "own-src");
    let dst = format!("it/{}", unique("own-dst"));
    let open = Reg::open(&s);
    // the target already holds the image, its own cosign signature and its own referrer
    let o = promote(&s, &src, &format!("{}/{dst}:latest", s.registry)).run();
    o.ok();
    let sig_tag = format!("{}.sig", src.digest.replace(':', "-"));
    open.cosign_sig(&dst, &src.digest, "MEYCIQD=");
    let (theirs, d) = open.attach(&dst, &src.digest, "application/spdx+json", b"{\"own\":1}");
    open.fallback(&dst, &src.digest, vec![d]);
    let own_sig = digest_of(&open.get(&dst, &sig_tag).unwrap());

    let o = promote(&s, &src, &format!("{}/{dst}:latest", s.registry)).run();
    o.ok();
    summary_has(
        &o,
        "1 cosign tag the target holds with other content left as it is",
    );
    assert_eq!(
        digest_of(&open.get(&dst, &sig_tag).unwrap()),
        own_sig,
        "not overwritten"
    );
    let mut want = vec![theirs, src.bundle.clone()];
    want.sort();
    assert_eq!(
        open.listed(&dst, &src.digest).unwrap().0,
        want,
        "merged, nothing dropped"
    );
}

#[test]
fn a_referrers_route_that_redirects_away_or_lists_nothing_is_no_referrers_api() {
    let s = stack();
    // github.com's web UI as ghcr.io's referrers route reaches it: rate-limited
    let web = common::server::Server::start("127.0.0.1", |_| {
        common::server::Reply::json(429, json!({"message": "rate limited"}))
    });
    for (quirk, what) in [
        (Referrers::Elsewhere(web.base.clone()), "redirect"),
        (Referrers::EmptyOk, "empty 200"),
    ] {
        let reg = stand_in(&s, quirk);
        let head = sha(0xc9);
        let path = format!("it/{}", unique("noapi-src"));
        let tag = format!("main-{}", &head[..7]);
        let digest = s.publish(&format!("{}/{path}", s.registry), &tag, Some(&head));
        let via = Reg::of(&reg.host);
        let (bundle, d) = via.attach(&path, &digest, BUNDLE, br#"{"b":2}"#);
        via.fallback(&path, &digest, vec![d]);
        let dst = format!("it/{}", unique("noapi-dst"));
        let o = push_event(&head)
            .input("image", &format!("{}/{path}", reg.host))
            .input("mode", "promote")
            .input("promote-to", &format!("{}/{dst}:latest", reg.host))
            .input("registry-username", "ci")
            .input("registry-password", PASSWORD)
            .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .run();
        o.ok();
        summary_has(&o, "1 referrer carried");
        let (listed, _) = Reg::open(&s)
            .listed(&dst, &digest)
            .unwrap_or_else(|| panic!("{what}: the target's fallback index"));
        assert_eq!(listed, vec![bundle], "{what}");
    }
    assert!(
        web.count("/v2/") >= 1,
        "the redirect was followed, and not believed"
    );
}

#[test]
fn bundles_in_the_registry_are_fetched_at_most_thirty_two_per_digest() {
    let s = stack();
    let relay = common::relay::Relay::start(&s.registry, common::relay::Mode::Forward);
    let head = sha(0xca);
    let path = format!("it/{}", unique("many-bundles"));
    let tag = format!("main-{}", &head[..7]);
    let digest = s.publish(&format!("{}/{path}", s.registry), &tag, Some(&head));
    let open = Reg::open(&s);
    let entries: Vec<Value> = (0..33)
        .map(|i| {
            open.attach(&path, &digest, BUNDLE, format!("{{\"n\":{i}}}").as_bytes())
                .1
        })
        .collect();
    open.fallback(&path, &digest, entries);
    let gh = FakeGitHub::start(World::default());
    relay.clear();
    let o = Run::new(
        "workflow_run",
        common::workflow_run("push", &head, "main", None, false),
    )
    .input("image", &format!("{}/{path}", relay.host))
    .input("mode", "verify")
    .input("attestation", "warn")
    .input("github-token", TOKEN)
    .var("GITHUB_API_URL", &gh.api_url())
    .run();
    o.ok();
    assert_eq!(o.out("attestation"), "invalid");
    summary_has(&o, "32 attestation(s), none valid");
    // the image's config, then one layer per bundle judged: the 33rd is not fetched
    assert_eq!(relay.count("GET", "/blobs/"), 1 + 32, "{:?}", relay.seen());
}

#[test]
fn a_fallback_tag_that_serves_the_subject_itself_lists_no_referrers() {
    let s = stack();
    let gitlab = StandIn::start(
        &s.registry,
        Auth::Basic {
            realm: "gitlab".into(),
            user: "ci".into(),
            password: PASSWORD.into(),
        },
        Quirks {
            dash_is_digest: true,
            ..Default::default()
        },
    );
    // a two-platform index: served in place of its fallback tag, its children would pass for
    // referrers
    let path = format!("it/{}", unique("dashed"));
    let open = Reg::open(&s);
    let v2 = "application/vnd.docker.distribution.manifest.v2+json";
    let entries: Vec<Value> = [("amd64", 0xcb), ("arm64", 0xcc)]
        .iter()
        .map(|(arch, seed)| {
            let d = s.publish(&format!("{}/{path}", s.registry), arch, Some(&sha(*seed)));
            let m = open.get(&path, &d).unwrap();
            json!({"mediaType": v2, "digest": d, "size": m.len(),
                   "platform": {"os": "linux", "architecture": arch}})
        })
        .collect();
    let list = "application/vnd.docker.distribution.manifest.list.v2+json";
    let index =
        serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": list, "manifests": entries}))
            .unwrap();
    open.put(&path, "multi", list, &index);
    let digest = digest_of(&index);
    // the quirk holds: the fallback tag reads as the index
    let via = Reg::of(&gitlab.host);
    assert_eq!(
        via.get(&path, &digest.replace(':', "-")),
        Some(index.clone())
    );

    use image_resolver::adapters::registry::{Registry, RegistryConfig};
    let reg = Registry::new(RegistryConfig {
        registry: gitlab.host.clone(),
        plain_http: true,
        credentials: Some(("ci".into(), PASSWORD.into())),
        retries: 1,
    });
    let found = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(
            reg.referrers(&format!("{}/{path}", gitlab.host), &digest, None, &|m| {
                println!("{m}")
            }),
        )
        .unwrap();
    assert_eq!(
        found,
        Vec::new(),
        "the index's children are not its referrers"
    );
}

#[test]
fn a_referrer_the_target_refuses_fails_the_step_naming_the_target_that_holds_the_digest() {
    let s = stack();
    let strict = StandIn::start(
        &s.registry,
        Auth::Basic {
            realm: "strict".into(),
            user: "ci".into(),
            password: PASSWORD.into(),
        },
        Quirks {
            deny_digest_puts: true,
            ..Default::default()
        },
    );
    let src = source(&s, 0xcd, "refused-src");
    let dst = format!("it/{}", unique("refused-dst"));
    let o = push_event(&src.head)
        .input("image", &src.repo)
        .input("mode", "promote")
        .input("promote-to", &format!("{}/{dst}:latest", strict.host))
        .input("promote-username", "ci")
        .input("promote-password", PASSWORD)
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.failed();
    let e = o.error();
    assert!(
        e.contains(&format!(
            "promoting to `{}/{dst}:latest` failed: carrying its referrers",
            strict.host
        )) && e.contains("lack push permission")
            && e.contains(&format!(
                "already holding the digest: {}/{dst}:latest@{}",
                strict.host, src.digest
            )),
        "{e}"
    );
    assert_eq!(
        digest_of(&Reg::open(&s).get(&dst, "latest").unwrap()),
        src.digest
    );
}

/// Clean mode on a registry with the referrers API: the untagged referrers of a closed pull
/// request's image (a bundle, an SBOM) are deleted with it, first; a dry run only lists them.
#[test]
fn clean_deletes_the_untagged_referrers_the_api_lists_with_their_subject() {
    let s = stack();
    let api = stand_in(&s, Referrers::Api { page: 10 });
    let head = sha(0xc7);
    let path = format!("it/{}", unique("clean-refs"));
    let tag = format!("pr-5-{}", &head[..7]);
    let digest = s.publish(&format!("{}/{path}", s.registry), &tag, Some(&head));
    let reg = Reg::of(&api.host);
    let (bundle, _) = reg.attach(&path, &digest, BUNDLE, br#"{"bundle":5}"#);
    let (sbom, _) = reg.attach(&path, &digest, "application/spdx+json", b"{}");
    let gh = FakeGitHub::start(World {
        pulls: [(5, pull_json(5, Some("2026-01-01T00:00:00Z")))].into(),
        ..Default::default()
    });
    let clean = |dry: &str| {
        Run::new("schedule", json!({"schedule": "0 3 * * *"}))
            .var("GITHUB_API_URL", &gh.api_url())
            .var("GITHUB_SHA", &sha(0x11))
            .var("GITHUB_REF_NAME", "main")
            .input("image", &format!("{}/{path}", api.host))
            .input("mode", "clean")
            .input("dry-run", dry)
            .input("github-token", TOKEN)
            .input("registry-username", "ci")
            .input("registry-password", PASSWORD)
            .run()
    };
    let o = clean("true");
    o.ok();
    assert!(o.stdout.contains("2 referrer(s) listed"), "{}", o.stdout);
    let open = Reg::open(&s);
    for d in [&digest, &bundle, &sbom] {
        assert!(
            open.get(&path, d).is_some(),
            "a dry run deletes nothing: {d}"
        );
    }
    api.clear();
    let o = clean("false");
    o.ok();
    assert_eq!(o.out("removed"), format!("{}/{path}:{tag}", api.host));
    for d in [&digest, &bundle, &sbom] {
        assert!(open.get(&path, d).is_none(), "deleted: {d}");
    }
    // the referrers before their subject
    let deletes: Vec<String> = api
        .seen()
        .into_iter()
        .filter(|r| r.method == "DELETE" && !r.path.ends_with(&"0".repeat(64)))
        .map(|r| r.path)
        .collect();
    assert_eq!(deletes.len(), 3, "{deletes:#?}");
    assert!(deletes[2].ends_with(&digest), "{deletes:#?}");
}

/// End to end with a bundle the tests' own Sigstore signed: the GitHub API has no attestation, the
/// registry holds the bundle beside the image (fallback index), it verifies, bound to the label's
/// commit; then promotion carries it to another registry, where a verify of the target finds and
/// verifies it again.
#[cfg(feature = "test-trust-root")]
#[test]
fn a_signed_bundle_in_the_registry_verifies_and_travels_with_the_promotion() {
    use common::sigstore::{Identity, TestSigstore, TRUST_ROOT_VAR};
    let s = stack();
    let sigstore = TestSigstore::new();
    let dir = tempfile::tempdir().unwrap();
    let root = sigstore.write_root(dir.path());
    let head = sha(0xc8);
    let path = format!("it/{}", unique("signed-in-registry"));
    let repo = format!("{}/{path}", s.registry);
    let tag = format!("main-{}", &head[..7]);
    let digest = s.publish(&repo, &tag, Some(&head));
    let bundle = sigstore.sign(&digest, &Identity::github(&head));
    let open = Reg::open(&s);
    let (stored, d) = open.attach(&path, &digest, BUNDLE, &bundle);
    open.fallback(&path, &digest, vec![d]);
    let gh = FakeGitHub::start(World::default());
    let run = |image: &str, mode: &str| {
        push_event(&head)
            .input("image", image)
            .input("mode", mode)
            .input("attestation", "fail")
            .input(
                "attestation-workflow",
                "acme/charon/.github/workflows/build.yml@refs/heads/main",
            )
            .input("github-token", TOKEN)
            .input("promote-username", &s.user)
            .input("promote-password", &s.pass)
            .var("GITHUB_API_URL", &gh.api_url())
            .var(TRUST_ROOT_VAR, root.to_str().unwrap())
            .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    };
    let target = format!("{}/{path}", s.auth_registry);
    let o = run(&repo, "promote").input("promote-to", &target).run();
    o.ok();
    assert_eq!(o.out("attestation"), "verified");
    summary_has(&o, "Attestation verified (from the registry)");
    summary_has(&o, "the revision label's commit");
    summary_has(&o, "1 referrer");
    // the bundle and its fallback index are in the target now: verified there as well
    let auth = Reg::auth(&s);
    assert_eq!(
        auth.listed(&path, &digest).map(|(l, _)| l),
        Some(vec![stored.clone()])
    );
    let o = run(&target, "verify")
        .input("registry-username", &s.user)
        .input("registry-password", &s.pass)
        .run();
    o.ok();
    assert_eq!(o.out("attestation"), "verified");
    summary_has(&o, "Attestation verified (from the registry)");
}

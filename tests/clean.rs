//! `mode: clean` through the binary, on the stack's registry (distribution, `delete: enabled`)
//! and our GitHub: which tags go, which digests stay, and that nothing goes when anything
//! cannot be read. Images are written to the registry directly (blobs and manifests), so each
//! test builds exactly the graph it needs.
mod common;

use common::fixtures::sha256;
use common::github::{pull_json, FakeGitHub, Packages, World, TOKEN};
use common::relay::{Mode, Relay};
use common::standin::{Auth, Quirks, StandIn};
use common::{stack, unique, Outcome, Run};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Command;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OLD: &str = "2026-01-01T00:00:00Z";

fn curl(args: &[&str], body: Option<&[u8]>) -> String {
    let mut cmd = Command::new("curl");
    cmd.arg("-sS").arg("-f").args(args);
    let dir = tempfile::tempdir().unwrap();
    if let Some(b) = body {
        let f = dir.path().join("body");
        std::fs::write(&f, b).unwrap();
        cmd.arg("--data-binary").arg(format!("@{}", f.display()));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into()
}

/// The registry's view of one repository, written and read over the distribution API.
struct Repo {
    registry: String,
    path: String,
}

impl Repo {
    fn new(what: &str) -> Repo {
        Repo {
            registry: stack().registry,
            path: format!("clean/{}", unique(what)),
        }
    }
    fn name(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }
    fn url(&self, rest: &str) -> String {
        format!("http://{}/v2/{}/{rest}", self.registry, self.path)
    }
    fn blob(&self, data: &[u8]) -> Value {
        let digest = sha256(data);
        let head = curl(
            &[
                "-X",
                "POST",
                "-D",
                "-",
                "-o",
                "/dev/null",
                &self.url("blobs/uploads/"),
            ],
            None,
        );
        let location = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("Location: ")
                    .or_else(|| l.strip_prefix("location: "))
            })
            .expect("upload location")
            .trim()
            .to_string();
        let location = if location.starts_with('/') {
            format!("http://{}{location}", self.registry)
        } else {
            location
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        curl(
            &[
                "-X",
                "PUT",
                "-H",
                "content-type: application/octet-stream",
                &format!("{location}{sep}digest={digest}"),
            ],
            Some(data),
        );
        json!({"mediaType": "application/octet-stream", "digest": digest, "size": data.len()})
    }
    fn manifest(&self, reference: &str, media_type: &str, doc: &Value) -> String {
        let bytes = serde_json::to_vec(doc).unwrap();
        curl(
            &[
                "-X",
                "PUT",
                "-H",
                &format!("content-type: {media_type}"),
                &self.url(&format!("manifests/{reference}")),
            ],
            Some(&bytes),
        );
        sha256(&bytes)
    }
    /// An image of its own (`seed` makes its layer and config unique), created at `created`.
    fn image(&self, reference: &str, seed: &str, created: &str) -> String {
        let doc = self.image_doc(seed, created);
        self.manifest(reference, OCI_MANIFEST, &doc)
    }
    /// An image no tag names (an index's child), put by its digest.
    fn untagged(&self, seed: &str) -> String {
        let doc = self.image_doc(seed, OLD);
        let digest = sha256(&serde_json::to_vec(&doc).unwrap());
        self.manifest(&digest, OCI_MANIFEST, &doc)
    }
    fn image_doc(&self, seed: &str, created: &str) -> Value {
        let layer = self.blob(format!("layer {seed} {}", self.path).as_bytes());
        let config = json!({"architecture": "amd64", "os": "linux", "created": created,
            "config": {"Labels": {"seed": seed}}, "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]}});
        let mut config = self.blob(&serde_json::to_vec(&config).unwrap());
        config["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
        let mut layer = layer;
        layer["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar");
        json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]})
    }
    /// Many tags of one manifest, through one curl (a config file of requests).
    fn tag_many(&self, tags: &[String], digest: &str) {
        let dir = tempfile::tempdir().unwrap();
        let body = curl(
            &[
                "-H",
                &format!("accept: {OCI_MANIFEST}"),
                &self.url(&format!("manifests/{digest}")),
            ],
            None,
        );
        let file = dir.path().join("manifest.json");
        std::fs::write(&file, &body).unwrap();
        let cfg: Vec<String> = tags
            .iter()
            .map(|t| {
                format!(
                    "url = \"{}\"\nrequest = \"PUT\"\nheader = \"content-type: {OCI_MANIFEST}\"\ndata-binary = \"@{}\"\nsilent\nshow-error\nfail\nretry = 3\nretry-all-errors\noutput = \"/dev/null\"\n",
                    self.url(&format!("manifests/{t}")),
                    file.display()
                )
            })
            .collect();
        let cfg = cfg.join("next\n");
        let list = dir.path().join("requests");
        std::fs::write(&list, cfg).unwrap();
        let out = Command::new("curl").arg("-K").arg(&list).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fn tag(&self, tag: &str, digest: &str) {
        let bytes = curl(
            &[
                "-H",
                &format!("accept: {OCI_MANIFEST}, {OCI_INDEX}"),
                &self.url(&format!("manifests/{digest}")),
            ],
            None,
        );
        let doc: Value = serde_json::from_str(&bytes).unwrap();
        let media_type = doc["mediaType"].as_str().unwrap().to_string();
        curl(
            &[
                "-X",
                "PUT",
                "-H",
                &format!("content-type: {media_type}"),
                &self.url(&format!("manifests/{tag}")),
            ],
            Some(bytes.as_bytes()),
        );
    }
    fn index(&self, tag: &str, children: &[&str]) -> String {
        let manifests: Vec<Value> = children
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let size = curl(
                    &[
                        "-H",
                        &format!("accept: {OCI_MANIFEST}"),
                        &self.url(&format!("manifests/{d}")),
                    ],
                    None,
                )
                .len();
                let arch = ["amd64", "arm64"][i % 2];
                json!({"mediaType": OCI_MANIFEST, "digest": d, "size": size,
                       "platform": {"os": "linux", "architecture": arch}})
            })
            .collect();
        self.manifest(
            tag,
            OCI_INDEX,
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}),
        )
    }
    fn tags(&self) -> BTreeSet<String> {
        let v: Value =
            serde_json::from_str(&curl(&[&self.url("tags/list?n=10000")], None)).unwrap();
        v["tags"]
            .as_array()
            .map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }
    /// A manifest's own bytes and those of the blobs it names (config and layers).
    fn bytes_of(&self, digest: &str) -> u64 {
        let body = curl(
            &[
                "-H",
                &format!("accept: {OCI_MANIFEST}, {OCI_INDEX}"),
                &self.url(&format!("manifests/{digest}")),
            ],
            None,
        );
        let doc: Value = serde_json::from_str(&body).unwrap();
        let blobs: u64 = doc["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(doc.get("config"))
            .map(|d| d["size"].as_u64().unwrap())
            .sum();
        body.len() as u64 + blobs
    }
    fn has(&self, digest: &str) -> bool {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-I", "-H"])
            .arg(format!("accept: {OCI_MANIFEST}, {OCI_INDEX}"))
            .arg(self.url(&format!("manifests/{digest}")))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout) == "200"
    }
}

/// The same repository, reached through a relay in front of the registry.
fn through(r: &Repo, relay: &Relay) -> String {
    format!("{}/{}", relay.host, r.path)
}

fn set(tags: &[&str]) -> BTreeSet<String> {
    tags.iter().map(|t| t.to_string()).collect()
}

/// A closed pull request's `closed_at`, two days ago.
fn two_days_ago() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 2 * 86_400;
    // RFC 3339 from Unix seconds: days to a civil date (Howard Hinnant's algorithm)
    let (days, rem) = ((t / 86_400) as i64, t % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn github(pulls: &[(u64, Option<&str>)], branches: &[&str]) -> FakeGitHub {
    FakeGitHub::start(World {
        pulls: pulls.iter().map(|(n, c)| (*n, pull_json(*n, *c))).collect(),
        branches: branches.iter().map(|b| b.to_string()).collect(),
        list_page: Some(2),
        ..Default::default()
    })
}

fn sweep(gh: &FakeGitHub, image: &str) -> Run {
    sweep_of(gh).input("image", image)
}

fn sweep_of(gh: &FakeGitHub) -> Run {
    Run::new("schedule", json!({"schedule": "0 3 * * *"}))
        .var("GITHUB_API_URL", &gh.api_url())
        .var("GITHUB_SHA", &common::sha(0x11))
        .var("GITHUB_REF_NAME", "main")
        .input("mode", "clean")
        .input("github-token", TOKEN)
}

fn removed(o: &Outcome) -> BTreeSet<String> {
    o.out("removed").lines().map(String::from).collect()
}

#[test]
fn a_sweep_removes_closed_and_gone_and_keeps_the_rest_with_what_they_share() {
    let r = Repo::new("sweep");
    let closed = two_days_ago();
    let gh = github(
        &[
            (1, None),
            (2, Some(&closed)),
            (3, Some(&closed)),
            (5, Some(&closed)),
        ],
        &["main", "feature/x", "c", "d"],
    );
    // PR #1 open; #2 closed, its digest promoted to v1.0; #3 closed alone; #4 unknown to GitHub
    let open = r.image("pr-1-aaaaaaa", "open", OLD);
    let shared = r.image("pr-2-bbbbbbb", "shared", OLD);
    r.tag("v1.0", &shared);
    let alone = r.image("pr-3-ccccccc", "alone", OLD);
    let signature = r.image(&format!("sha256-{}.sig", &alone[7..]), "sig", OLD);
    let no_pr = r.image("pr-4-ddddddd", "nopr", OLD);
    // branches: main exists, `gone` does not (old image), `fresh` does not (new image)
    let main = r.image("main-eeeeeee", "main", OLD);
    let gone = r.image("gone-fffffff", "gone", OLD);
    let fresh = r.image("fresh-1234567", "fresh", "2999-01-01T00:00:00Z");
    let latest = r.image("latest", "latest", OLD);
    let other = r.image("nightly", "nightly", OLD);
    // a multi-platform PR image whose arm64 child a kept index shares
    let amd = r.untagged("amd");
    let arm = r.untagged("arm");
    let pr_index = r.index("pr-5-0123456", &[&amd, &arm]);
    let release = r.index("release-index", &[&arm]);
    let o = sweep(&gh, &r.name())
        .input("keep", "latest\nrelease-*")
        .run();
    o.ok();
    let name = r.name();
    assert_eq!(
        removed(&o),
        set(&[
            &format!("{name}:pr-2-bbbbbbb"),
            &format!("{name}:pr-3-ccccccc"),
            &format!("{name}:sha256-{}.sig", &alone[7..]),
            &format!("{name}:gone-fffffff"),
            &format!("{name}:pr-5-0123456"),
        ]),
        "{}",
        o.stdout
    );
    assert_eq!(
        r.tags(),
        set(&[
            "pr-1-aaaaaaa",
            "v1.0",
            "pr-4-ddddddd",
            "main-eeeeeee",
            "fresh-1234567",
            "latest",
            "nightly",
            "release-index",
        ])
    );
    // the digest promoted to v1.0 survives as v1.0; the shared child survives; the rest goes
    for (d, stays) in [
        (&open, true),
        (&shared, true),
        (&no_pr, true),
        (&main, true),
        (&fresh, true),
        (&latest, true),
        (&other, true),
        (&arm, true),
        (&release, true),
        (&alone, false),
        (&signature, false),
        (&gone, false),
        (&pr_index, false),
        (&amd, false),
    ] {
        assert_eq!(r.has(d), stays, "{d}");
    }
    assert!(o.summary.contains("Cleaned"), "{}", o.summary);
    assert!(
        o.summary
            .contains(r"PR \#2 closed 2 days ago\; the digest stays\: `v1.0` shares it"),
        "{}",
        o.summary
    );
    assert!(o.summary.contains(r"PR \#1 is open"), "{}", o.summary);
    // open PRs listed once (two pages), branches once (two pages), each other PR asked once
    let calls: Vec<String> = gh.api.requests().into_iter().map(|r| r.path).collect();
    let count = |p: &str| calls.iter().filter(|c| c.contains(p)).count();
    assert_eq!(count("/pulls?state=open"), 1, "{calls:?}");
    assert_eq!(count("/branches"), 2, "{calls:?}");
    for n in [2, 3, 4, 5] {
        assert_eq!(count(&format!("/pulls/{n}")), 1, "{calls:?}");
    }
    assert_eq!(
        count("/pulls/1"),
        0,
        "an open PR is known from the list: {calls:?}"
    );
}

#[test]
fn a_dry_run_and_a_close_not_yet_due_remove_nothing() {
    let r = Repo::new("dry");
    let closed = two_days_ago();
    let gh = github(&[(7, Some(&closed))], &["main"]);
    let d = r.image("pr-7-abcdef0", "dry", OLD);
    let before = r.tags();
    let o = sweep(&gh, &r.name()).input("dry-run", "true").run();
    o.ok();
    assert_eq!(removed(&o), set(&[&format!("{}:pr-7-abcdef0", r.name())]));
    assert!(o.summary.contains("dry run"), "{}", o.summary);
    assert_eq!(r.tags(), before);
    let o = sweep(&gh, &r.name()).input("clean-after", "3d").run();
    o.ok();
    assert_eq!(o.out("removed"), "");
    assert!(
        o.summary.contains(r"PR \#7 closed only 2 days ago"),
        "{}",
        o.summary
    );
    assert_eq!(r.tags(), before);
    assert!(r.has(&d));
}

#[test]
fn the_close_event_cleans_that_pull_request_only() {
    let r = Repo::new("close");
    let closed = two_days_ago();
    let gh = github(&[(8, Some(&closed)), (9, Some(&closed))], &["main"]);
    r.image("pr-8-abcdef0", "eight", OLD);
    r.image("pr-9-abcdef0", "nine", OLD);
    let event = json!({"action": "closed", "number": 8,
        "pull_request": {"number": 8, "state": "closed",
            "head": {"ref": "b8", "sha": common::sha(0x08), "repo": {"id": 1, "full_name": "acme/charon"}},
            "base": {"ref": "main", "sha": common::sha(0xee), "repo": {"id": 1, "full_name": "acme/charon"}}}});
    let o = Run::new("pull_request", event)
        .var("GITHUB_API_URL", &gh.api_url())
        .input("mode", "clean")
        .input("clean-after", "0")
        .input("image", &r.name())
        .input("github-token", TOKEN)
        .run();
    o.ok();
    assert_eq!(removed(&o), set(&[&format!("{}:pr-8-abcdef0", r.name())]));
    assert_eq!(r.tags(), set(&["pr-9-abcdef0"]));
    let calls: Vec<String> = gh.api.requests().into_iter().map(|r| r.path).collect();
    assert!(
        calls.iter().all(|c| c.ends_with("/pulls/8")),
        "only PR #8 is asked: {calls:?}"
    );
}

#[test]
fn a_deleted_branch_is_clean_mode_s_input() {
    let r = Repo::new("branch");
    let gh = github(&[], &["main"]);
    r.image("feature-x-abcdef0", "fx", OLD);
    r.image("other-abcdef0", "other", OLD);
    let o = Run::new(
        "push",
        json!({"ref": "refs/heads/feature/x", "deleted": true,
            "before": common::sha(0x01), "after": "0".repeat(40)}),
    )
    .var("GITHUB_API_URL", &gh.api_url())
    .var("GITHUB_REF_NAME", "feature/x")
    .input("mode", "clean")
    .input("image", &r.name())
    .input("github-token", TOKEN)
    .run();
    o.ok();
    assert_eq!(
        removed(&o),
        set(&[&format!("{}:feature-x-abcdef0", r.name())])
    );
    assert_eq!(r.tags(), set(&["other-abcdef0"]));
}

#[test]
fn several_images_are_each_cleaned_and_the_outputs_hold_their_union() {
    let (a, b) = (Repo::new("api"), Repo::new("web"));
    let closed = two_days_ago();
    let gh = github(&[(3, Some(&closed))], &["main"]);
    a.image("pr-3-abcdef0", "a", OLD);
    b.image("pr-3-abcdef0", "b", OLD);
    b.image("main-abcdef0", "b2", OLD);
    let o = sweep_of(&gh)
        .input("images", &format!("api={}\nweb={}", a.name(), b.name()))
        .run();
    o.ok();
    let both = set(&[
        &format!("{}:pr-3-abcdef0", a.name()),
        &format!("{}:pr-3-abcdef0", b.name()),
    ]);
    assert_eq!(removed(&o), both);
    let images: Value = serde_json::from_str(o.out("images")).unwrap();
    assert_eq!(
        images["web"]["removed"],
        json!([format!("{}:pr-3-abcdef0", b.name())])
    );
    assert_eq!(b.tags(), set(&["main-abcdef0"]));
    assert!(a.tags().is_empty());
    let calls: Vec<String> = gh.api.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        calls.iter().filter(|c| c.contains("/pulls/3")).count(),
        1,
        "{calls:?}"
    );
}

#[test]
fn an_unreadable_answer_removes_nothing_and_names_what_failed() {
    let r = Repo::new("closed");
    let closed = two_days_ago();
    let gh = github(&[(4, Some(&closed))], &["main"]);
    r.image("pr-4-abcdef0", "four", OLD);
    r.image("gone-abcdef0", "gone", OLD);
    gh.world.lock().unwrap().faults.push(common::github::Fault {
        path_contains: "/pulls/4".into(),
        status: 502,
        headers: vec![],
        times: 100,
    });
    let before = r.tags();
    let o = sweep(&gh, &r.name()).input("retries", "1").run();
    o.failed();
    let e = o.error();
    assert!(
        e.contains("pull request #4") && e.contains(&r.name()) && e.contains("nothing removed"),
        "{e}"
    );
    assert!(e.contains("502"), "{e}");
    assert_eq!(r.tags(), before);
    // the branch list failing is the same: nothing removed
    let gh = github(&[(4, Some(&closed))], &["main"]);
    gh.world.lock().unwrap().faults.push(common::github::Fault {
        path_contains: "/branches".into(),
        status: 502,
        headers: vec![],
        times: 100,
    });
    let o = sweep(&gh, &r.name()).input("retries", "1").run();
    o.failed();
    assert!(o.error().contains("listing the branches"), "{}", o.error());
    assert_eq!(r.tags(), before);
}

#[test]
fn docker_hub_is_refused_before_anything_is_read() {
    let gh = github(&[], &[]);
    let o = sweep(&gh, "docker.io/acme/charon").run();
    o.failed();
    assert!(o.error().contains("Docker Hub"), "{}", o.error());
    assert_eq!(gh.api.requests().len(), 0);
}

/// ghcr.io's registry API over TLS (token auth; the actor and `github-token` are the login, as
/// GitHub documents for `GITHUB_TOKEN`), reached through `HTTPS_PROXY`: the stack's registry
/// behind a stand-in, which refuses every other destination. Its registry API would delete
/// (distribution behind it does): the tests check that nothing is deleted through it, since
/// ghcr.io's deletes nothing.
fn ghcr() -> StandIn {
    StandIn::start_tls(
        &stack().registry,
        &["ghcr.io"],
        Auth::Bearer {
            realm: "https://ghcr.io/token".into(),
            service: "ghcr.io".into(),
            field: "token",
            user: "octocat".into(),
            password: TOKEN.into(),
            anonymous_pull: false,
        },
        Quirks::default(),
    )
}

fn via(registry: &StandIn, r: Run) -> Run {
    r.var("HTTPS_PROXY", &format!("http://{}", registry.host))
        .var(
            "SSL_CERT_FILE",
            registry.tls.as_ref().unwrap().ca().to_str().unwrap(),
        )
}

impl Repo {
    /// A repository of owner `acme` two levels deep (package `clean/<unique>`), seen from the
    /// stack's registry; as ghcr.io names it: `ghcr_name`.
    fn of_acme(what: &str) -> Repo {
        Repo {
            registry: stack().registry,
            path: format!("acme/clean/{}", unique(what)),
        }
    }
    fn ghcr_name(&self) -> String {
        format!("ghcr.io/{}", self.path)
    }
    /// The package name as one path segment (`clean%2F…`).
    fn package_segment(&self) -> String {
        self.path.trim_start_matches("acme/").replace('/', "%2F")
    }
}

/// Our GitHub with the Packages API over the stack's registry: packages of `acme`.
fn github_with_packages(pulls: &[(u64, Option<&str>)], org: bool) -> FakeGitHub {
    FakeGitHub::start(World {
        pulls: pulls.iter().map(|(n, c)| (*n, pull_json(*n, *c))).collect(),
        branches: vec!["main".into()],
        list_page: Some(2),
        packages: Some(Packages {
            registry: stack().registry,
            owner: "acme".into(),
            org,
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Requests of `method` to our GitHub whose path holds `part`.
fn api_calls(gh: &FakeGitHub, method: &str, part: &str) -> Vec<String> {
    gh.api
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.path.contains(part))
        .map(|r| r.path)
        .collect()
}

#[test]
fn ghcr_deletes_package_versions_and_a_digest_also_v1_0_survives_as_v1_0() {
    let r = Repo::of_acme("ghcr");
    let closed = two_days_ago();
    let gh = github_with_packages(&[(1, None), (2, Some(&closed)), (3, Some(&closed))], true);
    let registry = ghcr();
    let open = r.image("pr-1-aaaaaaa", "open", OLD);
    let shared = r.image("pr-2-bbbbbbb", "shared", OLD);
    r.tag("v1.0", &shared);
    // a closed PR's multi-platform image: the index and its untagged children are versions
    let amd = r.untagged("amd");
    let arm = r.untagged("arm");
    let index = r.index("pr-3-ccccccc", &[&amd, &arm]);
    let freed = [&index, &amd, &arm]
        .map(|d| r.bytes_of(d))
        .iter()
        .sum::<u64>();
    let name = r.ghcr_name();
    let o = via(&registry, sweep(&gh, &name)).run();
    o.ok();
    assert_eq!(
        removed(&o),
        set(&[
            &format!("{name}:pr-2-bbbbbbb"),
            &format!("{name}:pr-3-ccccccc")
        ]),
        "{}",
        o.stdout
    );
    assert_eq!(r.tags(), set(&["pr-1-aaaaaaa", "v1.0"]));
    for (d, stays) in [
        (&open, true),
        (&shared, true),
        (&index, false),
        (&amd, false),
        (&arm, false),
    ] {
        assert_eq!(r.has(d), stays, "{d}");
    }
    // nothing deleted through the registry API; pr-2's tag moved to a placeholder there
    assert_eq!(
        registry.count("DELETE", "/v2/"),
        0,
        "{:#?}",
        registry.seen()
    );
    assert_eq!(registry.count("PUT", "/manifests/pr-2-bbbbbbb"), 1);
    // the owner's kind asked once; the package named as one segment, under `orgs`
    assert_eq!(api_calls(&gh, "GET", "/users/acme").len(), 1);
    let segment = format!(
        "/orgs/acme/packages/container/{}/versions",
        r.package_segment()
    );
    let deletes = api_calls(&gh, "DELETE", "/packages/");
    // the index, its two children, and pr-2's placeholder
    assert_eq!(deletes.len(), 4, "{deletes:?}");
    assert!(deletes.iter().all(|p| p.contains(&segment)), "{deletes:?}");
    assert!(
        o.summary
            .contains(r"PR \#2 closed 2 days ago\; the digest stays\: `v1.0` shares it"),
        "{}",
        o.summary
    );
    // bytes no longer referenced: the index, and its untagged children with their blobs
    assert!(
        o.summary.contains(&format!(
            "3 manifest(s) deleted, {} no longer referenced",
            image_resolver::core::size::human(freed)
        )),
        "{freed}: {}",
        o.summary
    );
}

#[test]
fn ghcr_dry_run_changes_nothing_and_a_user_s_package_is_read_under_users() {
    let r = Repo::of_acme("ghcr-dry");
    let closed = two_days_ago();
    let gh = github_with_packages(&[(4, Some(&closed))], false);
    let registry = ghcr();
    let d = r.image("pr-4-abcdef0", "dry", OLD);
    let o = via(&registry, sweep(&gh, &r.ghcr_name()))
        .input("dry-run", "true")
        .run();
    o.ok();
    assert_eq!(
        removed(&o),
        set(&[&format!("{}:pr-4-abcdef0", r.ghcr_name())])
    );
    assert!(r.has(&d));
    assert_eq!(registry.writes(), 0, "{:#?}", registry.seen());
    assert!(api_calls(&gh, "DELETE", "/").is_empty());
    // the versions were read (a dry run checks what it would delete is there)
    let reads = api_calls(&gh, "GET", "/users/acme/packages/container/");
    assert!(!reads.is_empty(), "{:?}", gh.api.requests());
}

#[test]
fn ghcr_without_package_permissions_or_on_a_502_removes_nothing() {
    let r = Repo::of_acme("ghcr-denied");
    let closed = two_days_ago();
    r.image("pr-5-abcdef0", "five", OLD);
    let shared = r.image("pr-6-abcdef0", "six", OLD);
    r.tag("v2", &shared);
    let before = r.tags();
    let registry = ghcr();
    let pulls = [(5, Some(closed.as_str())), (6, Some(closed.as_str()))];
    // listing refused: the token lacks `packages: read`
    let gh = github_with_packages(&pulls, true);
    gh.world.lock().unwrap().faults.push(common::github::Fault {
        path_contains: "/packages/container/".into(),
        status: 403,
        headers: vec![],
        times: 100,
    });
    let o = via(&registry, sweep(&gh, &r.ghcr_name())).run();
    o.failed();
    let e = o.error();
    assert!(
        e.contains("packages: read")
            && e.contains(&format!(
                "package `clean/{}` of `acme`",
                r.path.rsplit('/').next().unwrap()
            ))
            && e.contains("nothing removed"),
        "{e}"
    );
    assert_eq!(r.tags(), before);
    // deleting refused: `packages: read` only
    let gh = github_with_packages(&pulls, true);
    gh.world
        .lock()
        .unwrap()
        .packages
        .as_mut()
        .unwrap()
        .read_only = true;
    let o = via(&registry, sweep(&gh, &r.ghcr_name())).run();
    o.failed();
    let e = o.error();
    assert!(
        e.contains("packages: write") && e.contains("nothing removed"),
        "{e}"
    );
    assert_eq!(r.tags(), before);
    // the Packages API failing (502) after its retries: nothing removed, nothing deleted
    let gh = github_with_packages(&pulls, true);
    gh.world.lock().unwrap().faults.push(common::github::Fault {
        path_contains: "/versions".into(),
        status: 502,
        headers: vec![],
        times: 100,
    });
    let o = via(&registry, sweep(&gh, &r.ghcr_name()))
        .input("retries", "2")
        .run();
    o.failed();
    let e = o.error();
    assert!(
        e.contains("502") && e.contains("listing the versions") && e.contains("nothing removed"),
        "{e}"
    );
    assert!(api_calls(&gh, "DELETE", "/").is_empty());
    assert_eq!(registry.writes(), 0, "{:#?}", registry.seen());
    assert_eq!(r.tags(), before);
}

#[test]
fn ghcr_a_deletion_failing_midway_names_the_tags_already_removed() {
    let r = Repo::of_acme("ghcr-midway");
    let closed = two_days_ago();
    let gh = github_with_packages(&[(7, Some(&closed)), (8, Some(&closed))], true);
    let registry = ghcr();
    let a = r.image("pr-7-abcdef0", "seven", OLD);
    let b = r.image("pr-8-abcdef0", "eight", OLD);
    // versions are numbered from 1000 in digest order, and deleted in digest order: the
    // second deletion fails
    let (first, second) = if a < b {
        ("pr-7-abcdef0", "pr-8-abcdef0")
    } else {
        ("pr-8-abcdef0", "pr-7-abcdef0")
    };
    gh.world.lock().unwrap().faults.push(common::github::Fault {
        path_contains: "/versions/1001".into(),
        status: 502,
        headers: vec![],
        times: 100,
    });
    let o = via(&registry, sweep(&gh, &r.ghcr_name()))
        .input("retries", "1")
        .run();
    o.failed();
    let e = o.error();
    let name = r.ghcr_name();
    assert!(
        e.contains("version 1001")
            && e.contains("already removed (1)")
            && e.contains(&format!("`{name}:{first}`"))
            && !e.contains(&format!("`{name}:{second}`")),
        "{e}"
    );
    assert!(
        o.summary.contains(&format!("{name}:{first}")),
        "{}",
        o.summary
    );
    assert_eq!(r.tags(), set(&[second]));
}

#[test]
fn a_tag_list_or_manifest_that_cannot_be_read_removes_nothing() {
    let r = Repo::new("unreadable");
    let closed = two_days_ago();
    let gh = github(&[(3, Some(&closed))], &["main"]);
    r.image("pr-3-abcdef0", "three", OLD);
    r.image("v2", "v2", OLD);
    let relay = Relay::start(&r.registry, Mode::BadGateway("/tags/list"));
    let before = r.tags();
    let o = sweep(&gh, &through(&r, &relay)).input("retries", "1").run();
    o.failed();
    let e = o.error();
    assert!(
        e.contains("listing the tags of") && e.contains(&r.path) && e.contains("nothing removed"),
        "{e}"
    );
    // one manifest unreadable: the repository is left whole
    relay.set(Mode::BadGateway("/manifests/v2"));
    let o = sweep(&gh, &through(&r, &relay)).input("retries", "1").run();
    o.failed();
    let e = o.error();
    assert!(
        e.contains("reading the manifest of") && e.contains("v2") && e.contains("nothing removed"),
        "{e}"
    );
    assert_eq!(r.tags(), before);
    assert_eq!(relay.count("DELETE", "/manifests/"), 0);
    assert_eq!(relay.count("PUT", "/manifests/"), 0);
}

#[test]
fn a_registry_that_does_not_delete_is_left_as_it_was() {
    let r = Repo::new("nodelete");
    let closed = two_days_ago();
    let gh = github(&[(3, Some(&closed)), (4, Some(&closed))], &["main"]);
    // one tag removed alone (its digest is v1's), one whose digest would be deleted
    let shared = r.image("pr-3-abcdef0", "three", OLD);
    r.tag("v1", &shared);
    r.image("pr-4-abcdef0", "four", OLD);
    let before = r.tags();
    let relay = Relay::start(&r.registry, Mode::NoDelete);
    let o = sweep(&gh, &through(&r, &relay)).input("retries", "1").run();
    o.failed();
    let e = o.error();
    assert!(
        e.contains("cannot delete") && e.contains("405") && e.contains("nothing removed"),
        "{e}"
    );
    assert_eq!(r.tags(), before);
    assert_eq!(relay.count("PUT", "/manifests/"), 0, "{:?}", relay.seen());
}

#[test]
fn a_tag_list_longer_than_a_page_is_read_whole() {
    let r = Repo::new("pages");
    let closed = two_days_ago();
    let gh = github(&[(3, Some(&closed))], &["main"]);
    let d = r.image("pr-3-abcdef0", "three", OLD);
    // past one page of 1000 (this registry sends them all at once, ignoring `n`; a registry
    // that pages is followed by `Link`, see the adapter's tests)
    let kept: Vec<String> = (0..1005).map(|i| format!("z-{i:04}")).collect();
    let keep_digest = r.image("a-keep", "keep", OLD);
    r.tag_many(&kept, &keep_digest);
    let relay = Relay::start(&r.registry, Mode::Forward);
    let o = sweep(&gh, &through(&r, &relay)).run();
    o.ok();
    assert_eq!(
        o.out("removed"),
        format!("{}:pr-3-abcdef0", through(&r, &relay))
    );
    let pages: Vec<String> = relay
        .seen()
        .into_iter()
        .filter(|s| s.path.contains("/tags/list"))
        .map(|s| s.path)
        .collect();
    assert!(!pages.is_empty() && pages.len() <= 2, "{pages:?}");
    assert_eq!(r.tags().len(), 1006);
    assert!(!r.has(&d));
    assert!(r.has(&keep_digest));
}

/// A registry that pages its tag list as distribution 3 does (`n`, `last`, `Link`), or one
/// whose `Link` never moves on.
fn paging_registry(total: usize, stuck: bool) -> common::server::Server {
    use common::server::{Reply, Request};
    common::server::Server::start("127.0.0.1", move |r: &Request| {
        let (_, query) = r.path.split_once('?').unwrap_or((&r.path, ""));
        let q: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
        let n: usize = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(100);
        let all: Vec<String> = (0..total).map(|i| format!("t-{i:05}")).collect();
        let start = q
            .get("last")
            .map_or(0, |l| all.iter().position(|t| t > l).unwrap_or(total));
        let page: Vec<&String> = all.iter().skip(start).take(n).collect();
        let mut reply = Reply::json(200, json!({"name": "x/y", "tags": page}));
        if start + n < total {
            let last = if stuck {
                "t-00000"
            } else {
                page.last().unwrap().as_str()
            };
            // the target names another host: only its `last` may be used
            reply = reply.header(
                "link",
                &format!(
                    "<http://elsewhere.invalid/v2/x/y/tags/list?n={n}&last={last}>; rel=\"next\""
                ),
            );
        }
        reply
    })
}

#[test]
fn a_paged_tag_list_is_followed_by_its_link_and_never_elsewhere() {
    use image_resolver::adapters::registry::{Registry, RegistryConfig};
    let block = |f| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    };
    let server = paging_registry(2500, false);
    let reg = Registry::new(RegistryConfig {
        registry: server.host.clone(),
        plain_http: true,
        credentials: None,
        retries: 1,
    });
    let repo = format!("{}/x/y", server.host);
    let tags = block(reg.tags(&repo, &|_: &str| {})).unwrap();
    assert_eq!(tags.len(), 2500);
    assert_eq!(tags.first().map(String::as_str), Some("t-00000"));
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(
        paths[1].contains("last=t-00999") && paths[2].contains("last=t-01999"),
        "{paths:?}"
    );
    // a `Link` that sends us back to the same page fails the list: nothing is removed then
    let server = paging_registry(2500, true);
    let reg = Registry::new(RegistryConfig {
        registry: server.host.clone(),
        plain_http: true,
        credentials: None,
        retries: 1,
    });
    let e = block(reg.tags(&format!("{}/x/y", server.host), &|_: &str| {})).unwrap_err();
    assert!(
        e.to_string()
            .contains("next page starts where this one did"),
        "{e}"
    );
}

#[test]
fn a_registry_failing_midway_names_the_tags_already_removed() {
    let r = Repo::new("midway");
    let closed = two_days_ago();
    let gh = github(&[(3, Some(&closed)), (4, Some(&closed))], &["main"]);
    let a = r.image("pr-3-abcdef0", "three", OLD);
    let b = r.image("pr-4-abcdef0", "four", OLD);
    // digests are deleted in digest order: the second one's deletion fails
    let (first, (second, failing)) = if a < b {
        ("pr-3-abcdef0", ("pr-4-abcdef0", b))
    } else {
        ("pr-4-abcdef0", ("pr-3-abcdef0", a))
    };
    let part: &'static str = Box::leak(format!("/manifests/{failing}").into_boxed_str());
    let relay = Relay::start(&r.registry, Mode::BadGateway(part));
    let o = sweep(&gh, &through(&r, &relay)).input("retries", "1").run();
    o.failed();
    let e = o.error();
    let name = through(&r, &relay);
    assert!(
        e.contains(&format!("deleting `{name}@{failing}`"))
            && e.contains("already removed (1)")
            && e.contains(&format!("`{name}:{first}`"))
            && !e.contains(&format!("`{name}:{second}`")),
        "{e}"
    );
    assert_eq!(r.tags(), set(&[second]));
}

//! Promotion against the real registries of the stack: the adapter called as a library (the
//! orchestrator's `mode: promote` comes on top of it). Every target must end with the source's
//! digest; a relay in front of the registry counts requests and declines mounts or denies pushes.
mod common;

use common::relay::{Mode, Relay};
use common::{curl, stack, unique, Stack};
use image_resolver::adapters::registry::{Promoted, Registry, RegistryConfig, Target};
use image_resolver::core::platform::Platform;
use image_resolver::core::promote::{lines, parse_targets, TargetVars};
use image_resolver::core::reference::ImageRef;
use image_resolver::core::tag::{Sanitize, Vars};
use serde_json::json;

fn registry(host: &str, creds: Option<(&str, &str)>) -> Registry {
    Registry::new(RegistryConfig {
        registry: host.into(),
        plain_http: true,
        credentials: creds.map(|(u, p)| (u.into(), p.into())),
        retries: 2,
    })
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn log(m: &str) {
    println!("{m}");
}

fn amd64() -> Platform {
    Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    }
}

/// References are parsed once, here, as the flow does before it calls the adapter.
fn image(reference: &str) -> ImageRef {
    ImageRef::parse(reference).unwrap_or_else(|e| panic!("{reference}: {e}"))
}

/// The digest `reference` resolves to (the index's for a multi-platform image).
fn digest_of(reg: &Registry, reference: &str, platform: &Platform) -> String {
    block(reg.inspect(&image(reference), platform, &log))
        .unwrap_or_else(|e| panic!("{reference}: {e}"))
        .digest
}

fn promote(
    src: &Registry,
    source: &str,
    targets: &[(&Registry, String)],
) -> Result<Vec<Promoted>, String> {
    let targets: Vec<Target> = targets
        .iter()
        .map(|(r, t)| Target {
            registry: r,
            reference: image(t),
        })
        .collect();
    block(src.promote(&image(source), &targets, false, &log)).map_err(|e| e.to_string())
}

/// One image pushed as `it/<unique>:v1` to the open registry (the daemon pushes directly; its
/// chunked uploads are not the relay's business); returns the repository as seen through
/// `host` (the registry itself or a relay in front of it) and the digest.
fn source(s: &Stack, host: &str, what: &str) -> (String, String) {
    let path = format!("it/{}", unique(what));
    let digest = s.publish(
        &format!("{}/{path}", s.registry),
        "v1",
        Some(&common::sha(0x71)),
    );
    (format!("{host}/{path}"), digest)
}

#[test]
fn same_repository_is_one_manifest_put_and_a_rerun_writes_nothing() {
    let s = stack();
    let relay = Relay::start(&s.registry, Mode::Forward);
    let (repo, digest) = source(&s, &relay.host, "same");
    let reg = registry(&relay.host, None);
    relay.clear();
    let src = format!("{repo}@{digest}");
    let out = promote(&reg, &src, &[(&reg, format!("{repo}:latest"))]).unwrap();
    assert_eq!(
        out,
        vec![Promoted {
            reference: format!("{repo}:latest@{digest}"),
            written: true,
            blobs: Default::default(),
            referrers: Default::default(),
        }]
    );
    assert_eq!(relay.count("PUT", "/manifests/"), 1, "{:?}", relay.seen());
    assert_eq!(relay.count("POST", "/blobs/uploads/"), 0);
    assert_eq!(relay.count("HEAD", "/blobs/"), 0, "no blob is looked at");
    assert_eq!(digest_of(&reg, &format!("{repo}:latest"), &amd64()), digest);

    relay.clear();
    let again = promote(&reg, &src, &[(&reg, format!("{repo}:latest"))]).unwrap();
    assert!(!again[0].written);
    let writes: Vec<_> = relay
        .seen()
        .into_iter()
        .filter(|r| r.method != "GET" && r.method != "HEAD")
        .collect();
    assert!(writes.is_empty(), "a rerun writes nothing: {writes:?}");
}

#[test]
fn cross_repository_mounts_and_copies_when_the_mount_is_declined() {
    let s = stack();
    let relay = Relay::start(&s.registry, Mode::Forward);
    let (repo, digest) = source(&s, &relay.host, "mount");
    let reg = registry(&relay.host, None);
    let src = format!("{repo}@{digest}");

    relay.clear();
    let taken = format!("{}/it/{}:v1", relay.host, unique("mounted"));
    promote(&reg, &src, &[(&reg, taken.clone())]).unwrap();
    let mounts: Vec<_> = relay
        .seen()
        .into_iter()
        .filter(|r| r.path.contains("mount="))
        .collect();
    assert!(
        mounts.len() == 2 && mounts.iter().all(|r| r.status == 201),
        "config and layer mounted: {mounts:?}"
    );
    assert_eq!(relay.count("PATCH", ""), 0, "nothing streamed");
    assert_eq!(digest_of(&reg, &taken, &amd64()), digest);

    relay.set(Mode::DeclineMounts);
    relay.clear();
    let declined = format!("{}/it/{}:v1", relay.host, unique("declined"));
    promote(&reg, &src, &[(&reg, declined.clone())]).unwrap();
    let seen = relay.seen();
    assert!(
        seen.iter()
            .filter(|r| r.path.contains("mount="))
            .all(|r| r.status == 202),
        "{seen:?}"
    );
    assert_eq!(relay.count("PATCH", "/blobs/uploads/"), 2, "{seen:?}");
    assert_eq!(relay.count("PUT", "digest=sha256"), 2, "{seen:?}");
    assert_eq!(digest_of(&reg, &declined, &amd64()), digest);
}

/// Issue 27: looking for referrers costs a digest without any one `GET` of the referrers route
/// and a `HEAD` per tag scheme (never a manifest `GET`, which Docker Hub counts as a pull), and
/// writes nothing more than the image.
#[test]
fn looking_for_referrers_costs_five_reads_and_writes_nothing_when_there_are_none() {
    let s = stack();
    let relay = Relay::start(&s.registry, Mode::Forward);
    let (repo, digest) = source(&s, &relay.host, "noref");
    let reg = registry(&relay.host, None);
    relay.clear();
    let target = format!("{}/it/{}:v1", relay.host, unique("noref-dst"));
    let out = promote(&reg, &format!("{repo}@{digest}"), &[(&reg, target)]).unwrap();
    assert_eq!(out[0].referrers, Default::default());
    let seen = relay.seen();
    assert_eq!(relay.count("GET", "/referrers/"), 1, "{seen:?}");
    assert_eq!(relay.count("HEAD", "/manifests/sha256-"), 4, "{seen:?}");
    assert_eq!(relay.count("GET", "/manifests/sha256-"), 0, "{seen:?}");
    assert_eq!(
        relay.count("PUT", "/manifests/"),
        1,
        "only the image: {seen:?}"
    );
}

#[test]
fn cross_registry_streams_blobs_with_credentials_and_skips_those_present() {
    let s = stack();
    let (repo, digest) = source(&s, &s.registry, "xreg");
    let open = registry(&s.registry, None);
    let relay = Relay::start(&s.auth_registry, Mode::Forward);
    let auth = registry(&relay.host, Some((&s.user, &s.pass)));
    let target_repo = format!("{}/it/{}", relay.host, unique("copied"));
    let src = format!("{repo}@{digest}");
    let out = promote(
        &open,
        &src,
        &[
            (&auth, format!("{target_repo}:latest")),
            (&auth, format!("{target_repo}:stable")),
        ],
    )
    .unwrap();
    assert!(out.iter().all(|p| p.written), "{out:?}");
    assert_eq!(
        relay.count("PATCH", "/blobs/uploads/"),
        2,
        "two blobs streamed once: the second tag found them"
    );
    for tag in ["latest", "stable"] {
        assert_eq!(
            digest_of(&auth, &format!("{target_repo}:{tag}"), &amd64()),
            digest
        );
    }
}

#[test]
fn a_two_platform_index_is_copied_whole() {
    let s = stack();
    let repo = format!("{}/it/{}", s.registry, unique("index"));
    let path = repo.split_once('/').unwrap().1.to_string();
    let v2 = "application/vnd.docker.distribution.manifest.v2+json";
    let mut entries = Vec::new();
    for (arch, seed) in [("amd64", 0x72), ("arm64", 0x73)] {
        let d = s.publish(&repo, arch, Some(&common::sha(seed)));
        let m = curl(&[
            "-H",
            &format!("accept: {v2}"),
            &format!("http://{}/v2/{path}/manifests/{d}", s.registry),
        ]);
        entries.push(json!({"mediaType": v2, "digest": d, "size": m.len(),
                            "platform": {"os": "linux", "architecture": arch}}));
    }
    let list = "application/vnd.docker.distribution.manifest.list.v2+json";
    let index = json!({"schemaVersion": 2, "mediaType": list, "manifests": entries});
    curl(&[
        "-X",
        "PUT",
        "-H",
        &format!("content-type: {list}"),
        "--data-binary",
        &index.to_string(),
        &format!("http://{}/v2/{path}/manifests/multi", s.registry),
    ]);
    let open = registry(&s.registry, None);
    let auth = registry(&s.auth_registry, Some((&s.user, &s.pass)));
    let digest = digest_of(&open, &format!("{repo}:multi"), &amd64());
    let mounted = format!("{}/it/{}:multi", s.registry, unique("index-mounted"));
    let copied = format!("{}/it/{}:multi", s.auth_registry, unique("index-copied"));
    promote(
        &open,
        &format!("{repo}@{digest}"),
        &[(&open, mounted.clone()), (&auth, copied.clone())],
    )
    .unwrap();
    let arm = Platform {
        architecture: "arm64".into(),
        ..amd64()
    };
    let children: Vec<String> = [amd64(), arm.clone()]
        .iter()
        .map(|p| {
            block(open.inspect(&image(&format!("{repo}:multi")), p, &log))
                .unwrap()
                .manifest_digest
        })
        .collect();
    assert_ne!(children[0], children[1]);
    for (reg, target) in [(&open, &mounted), (&auth, &copied)] {
        // each platform resolves, config included: every child and blob is there
        for (p, child) in [amd64(), arm.clone()].iter().zip(&children) {
            let img = block(reg.inspect(&image(target), p, &log)).unwrap();
            assert_eq!(
                (&img.digest, &img.manifest_digest),
                (&digest, child),
                "{target} {p}"
            );
        }
    }
}

#[test]
fn template_targets_render_and_keep_the_digest() {
    let s = stack();
    let (repo, digest) = source(&s, &s.registry, "tmpl");
    let vars = Vars {
        sha: Some(common::sha(0x71)),
        short_sha: Some(common::sha(0x71)[..7].into()),
        ..Vars::default()
    };
    let other = format!("{}/it/{}", s.registry, unique("tmpl-{name}"));
    let text = format!("{repo}:sha-{{short_sha}}\n\n{repo}\n{other}:{{tag}}-promoted\n");
    let targets = parse_targets(
        &lines(&text),
        &TargetVars {
            vars: &vars,
            raw_branch: Some("main"),
            sanitize: Sanitize::Strict,
            source_tag: Some("v1"),
            name: "api",
        },
    )
    .unwrap();
    let open = registry(&s.registry, None);
    let list: Vec<(&Registry, String)> = targets.iter().map(|t| (&open, t.to_string())).collect();
    let out = promote(&open, &format!("{repo}@{digest}"), &list).unwrap();
    let want = [
        format!("{repo}:sha-{}", &common::sha(0x71)[..7]),
        format!("{repo}:v1"),
        format!("{}:v1-promoted", other.replace("{name}", "api")),
    ];
    assert_eq!(
        out.iter().map(|p| p.reference.clone()).collect::<Vec<_>>(),
        want.iter()
            .map(|w| format!("{w}@{digest}"))
            .collect::<Vec<_>>()
    );
    // `repo:v1` is the source itself: already there, untouched
    assert_eq!(
        out.iter().map(|p| p.written).collect::<Vec<_>>(),
        [true, false, true]
    );
    for w in &want {
        assert_eq!(digest_of(&open, w, &amd64()), digest);
    }
}

#[test]
fn a_denied_push_names_the_target_and_what_was_written() {
    let s = stack();
    let (repo, digest) = source(&s, &s.registry, "denied");
    let open = registry(&s.registry, None);
    let src = format!("{repo}@{digest}");

    // the auth registry without credentials
    let anonymous = registry(&s.auth_registry, None);
    let target = format!("{}/it/{}:latest", s.auth_registry, unique("noauth"));
    let e = promote(&open, &src, &[(&anonymous, target.clone())]).unwrap_err();
    assert!(
        e.contains(&format!("`{target}`"))
            && e.contains(&format!("no credentials for `{}` (401)", s.auth_registry)),
        "{e}"
    );
    assert!(e.contains("no target was written"), "{e}");

    // credentials that read but may not write: the first target is written, the second refused
    let relay = Relay::start(&s.auth_registry, Mode::DenyPush);
    let read_only = registry(&relay.host, Some((&s.user, &s.pass)));
    let ok = format!("{repo}:promoted");
    let refused = format!("{}/it/{}:latest", relay.host, unique("ro"));
    let e = promote(
        &open,
        &src,
        &[(&open, ok.clone()), (&read_only, refused.clone())],
    )
    .unwrap_err();
    assert!(
        e.contains(&format!("promoting to `{refused}` failed"))
            && e.contains("the credentials lack push permission")
            && e.contains(&format!("{ok}@{digest}")),
        "{e}"
    );
    assert!(!e.contains(&s.pass), "{e}");
}

// ---- through the binary: `mode: promote` ----

use common::github::{merged_pr_json, pr_json, FakeGitHub, World, TOKEN};
use common::{merged_promotion, push_event, sha, Outcome};

/// Whether `reference` exists (the open or the auth registry).
fn exists(s: &Stack, reference: &str) -> bool {
    let creds = reference
        .starts_with(&s.auth_registry)
        .then_some((s.user.as_str(), s.pass.as_str()));
    let host = reference.split('/').next().unwrap();
    match block(registry(host, creds).inspect(&image(reference), &amd64(), &log)) {
        Ok(_) => true,
        Err(e) if e.is_not_found() => false,
        Err(e) => panic!("{reference}: {e}"),
    }
}

#[test]
fn promote_mode_copies_the_verified_image_to_every_target() {
    let s = stack();
    let head = sha(0x81);
    let repo = format!("{}/it/{}", s.registry, unique("e2e"));
    let tag = format!("main-{}", &head[..7]);
    let digest = s.publish(&repo, &tag, Some(&head));
    let other = format!("{}/it/{}", s.auth_registry, unique("e2e-prod"));
    let o = push_event(&head)
        .input("image", &repo)
        .input("mode", "promote")
        .input(
            "promote-to",
            &format!("{repo}:latest\n{repo}:sha-{{short_sha}}\n\n{other}\n"),
        )
        .input("promote-username", &s.user)
        .input("promote-password", &s.pass)
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    o.assert_no_secret(&s.pass);
    let want: Vec<String> = [
        format!("{repo}:latest"),
        format!("{repo}:sha-{}", &head[..7]),
        format!("{other}:{tag}"),
    ]
    .iter()
    .map(|t| format!("{t}@{digest}"))
    .collect();
    assert_eq!(o.out("promoted"), want.join("\n"));
    assert_eq!(
        (o.out("digest"), o.out("promote-skipped")),
        (digest.as_str(), "")
    );
    let open = registry(&s.registry, None);
    let auth = registry(&s.auth_registry, Some((&s.user, &s.pass)));
    assert_eq!(
        digest_of(&open, &format!("{repo}:latest"), &amd64()),
        digest
    );
    assert_eq!(
        digest_of(&auth, &format!("{other}:{tag}"), &amd64()),
        digest
    );
}

#[test]
fn a_stale_source_writes_nothing() {
    let s = stack();
    let head = sha(0x82);
    let repo = format!("{}/it/{}", s.registry, unique("stale"));
    let tag = format!("main-{}", &head[..7]);
    s.publish(&repo, &tag, Some(&sha(0x83)));
    let o = push_event(&head)
        .input("image", &repo)
        .input("mode", "promote")
        .input("promote-to", &format!("{repo}:latest"))
        .run();
    o.failed();
    assert!(o.error().contains(&sha(0x83)), "{}", o.error());
    assert!(!exists(&s, &format!("{repo}:latest")), "nothing written");
}

/// A push to main that (maybe) merged a pull request, with our GitHub answering.
struct Merged {
    repo: String,
    digest: String,
    merge: String,
    gh: FakeGitHub,
}

/// PR #7 built `pr-7-<head>` from `head`; `main` now has `merge`. `pulls` is what
/// `commits/{merge}/pulls` lists; `same_tree` whether `head` and `merge` share a tree.
fn merged_setup(seed: u8, pulls: Vec<serde_json::Value>, same_tree: bool, pushed: bool) -> Merged {
    let s = stack();
    let (head, merge) = (sha(seed), sha(seed + 1));
    let repo = format!("{}/it/{}", s.registry, unique("merged"));
    let digest = if pushed {
        s.publish(&repo, &format!("pr-7-{}", &head[..7]), Some(&head))
    } else {
        String::new()
    };
    let mut trees = std::collections::HashMap::new();
    trees.insert(head.clone(), "t1".repeat(20).replace("t1", "a1"));
    let merge_tree = if same_tree { "a1" } else { "b2" };
    trees.insert(merge.clone(), merge_tree.repeat(20));
    let gh = FakeGitHub::start(World {
        commit_pulls: pulls,
        trees,
        ..Default::default()
    });
    Merged {
        repo,
        digest,
        merge,
        gh,
    }
}

fn run_merged(m: &Merged) -> Outcome {
    merged_promotion(&m.merge, &m.gh)
        .input("image", &m.repo)
        .input(
            "promote-to",
            &format!("{}:latest\n{}:sha-{{short_sha}}", m.repo, m.repo),
        )
        .run()
}

#[test]
fn a_merged_pull_request_with_the_same_tree_promotes_its_tested_image() {
    let (head, merge) = (sha(0x90), sha(0x91));
    let m = merged_setup(
        0x90,
        vec![merged_pr_json(7, &head, "feat", &merge)],
        true,
        true,
    );
    let o = run_merged(&m);
    o.ok();
    assert_eq!(
        o.out("promoted"),
        format!(
            "{r}:latest@{d}\n{r}:sha-{s}@{d}",
            r = m.repo,
            d = m.digest,
            s = &merge[..7]
        )
    );
    assert_eq!(o.out("promote-skipped"), "");
    assert!(m.gh.api_calls() <= 3, "{} API calls", m.gh.api_calls());
    let open = registry(&stack().registry, None);
    assert_eq!(
        digest_of(&open, &format!("{}:latest", m.repo), &amd64()),
        m.digest
    );
}

fn assert_skipped(o: &Outcome, m: &Merged, why: &str) {
    o.ok();
    assert_eq!((o.out("promoted"), o.out("promote-skipped")), ("", why));
    assert!(
        o.stdout.lines().any(|l| l
            .starts_with("::notice title=image-resolver%3A Promotion skipped::")
            && l.contains(why)
            && l.contains("build")),
        "{}",
        o.stdout
    );
    assert!(
        o.summary.contains("Skipped") && o.summary.contains(why),
        "{}",
        o.summary
    );
    assert!(
        !exists(&stack(), &format!("{}:latest", m.repo)),
        "nothing written"
    );
}

#[test]
fn a_different_tree_skips_and_says_to_build() {
    let (head, merge) = (sha(0x92), sha(0x93));
    let m = merged_setup(
        0x92,
        vec![merged_pr_json(7, &head, "feat", &merge)],
        false,
        true,
    );
    assert_skipped(&run_merged(&m), &m, "tree-differs");
}

#[test]
fn an_open_pull_request_or_another_merge_commit_is_no_merged_pr() {
    let merge = sha(0x95);
    // the pushed commit is an open PR's head
    let open = merged_setup(0x94, vec![pr_json(8, &merge, "acme", "wip")], true, true);
    assert_skipped(&run_merged(&open), &open, "no-merged-pr");
    // merged, but by another commit (the pushed one was its head)
    let mut other = merged_pr_json(9, &merge, "feat", &sha(0x99));
    other["head"]["sha"] = json!(merge);
    let m = merged_setup(0x94, vec![other], true, true);
    assert_skipped(&run_merged(&m), &m, "no-merged-pr");
    assert_eq!(m.gh.api_calls(), 1, "one look-up, nothing else");
}

#[test]
fn a_merged_pull_request_without_an_image_is_no_image() {
    let (head, merge) = (sha(0x96), sha(0x97));
    let m = merged_setup(
        0x96,
        vec![merged_pr_json(7, &head, "feat", &merge)],
        true,
        false,
    );
    assert_skipped(&run_merged(&m), &m, "no-image");
}

#[test]
fn downstream_verify_accepts_a_promoted_image_by_tree() {
    let s = stack();
    let (head, merge) = (sha(0xa0), sha(0xa1));
    let repo = format!("{}/it/{}", s.registry, unique("bytree"));
    // what the promotion wrote: the PR's image under main's tag
    s.publish(&repo, &format!("main-{}", &merge[..7]), Some(&head));
    let verify = |same: bool| {
        let mut trees = std::collections::HashMap::new();
        trees.insert(head.clone(), "a1".repeat(20));
        trees.insert(merge.clone(), if same { "a1" } else { "b2" }.repeat(20));
        let gh = FakeGitHub::start(World {
            trees,
            ..Default::default()
        });
        let o = push_event(&merge)
            .input("image", &repo)
            .input("mode", "verify")
            .input("github-token", TOKEN)
            .var("GITHUB_API_URL", &gh.api_url())
            .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .run();
        (o, gh.api_calls())
    };
    let (o, calls) = verify(true);
    o.ok();
    assert!(o.stdout.contains("matched by tree"), "{}", o.stdout);
    assert_eq!((o.out("revision"), calls), (head.as_str(), 2));
    let (o, _) = verify(false);
    o.failed();
    assert!(o.error().contains(&head), "{}", o.error());
}

/// Issue 20, rule 7: with several images, one promoted and one skipped is a warning, never a
/// plain success, and each image says in `images` whether (and why) it was skipped.
#[test]
fn a_partial_promotion_is_a_warning_and_each_image_says_why() {
    let s = stack();
    let (head, merge) = (sha(0xb0), sha(0xb1));
    let base = format!("{}/it/{}", s.registry, unique("partial"));
    let (api, web) = (format!("{base}-api"), format!("{base}-web"));
    // only api's image was pushed on the pull request: web is `no-image`
    let digest = s.publish(&api, &format!("pr-7-{}", &head[..7]), Some(&head));
    let mut trees = std::collections::HashMap::new();
    trees.insert(head.clone(), "a1".repeat(20));
    trees.insert(merge.clone(), "a1".repeat(20));
    let gh = FakeGitHub::start(World {
        commit_pulls: vec![merged_pr_json(7, &head, "feat", &merge)],
        trees,
        ..Default::default()
    });
    let o = merged_promotion(&merge, &gh)
        .input("images", &format!("api={api}\nweb={web}"))
        .input("promote-to", &format!("{base}-{{name}}:latest"))
        .run();
    o.ok();
    let v: serde_json::Value = serde_json::from_str(o.out("images")).unwrap();
    assert_eq!(v["api"]["promote-skipped"], "", "{v}");
    assert_eq!(v["web"]["promote-skipped"], "no-image", "{v}");
    assert_eq!(
        v["api"]["promoted"],
        json!([format!("{api}:latest@{digest}")])
    );
    assert_eq!(v["web"]["promoted"], json!([]));
    assert_eq!(
        (o.out("promoted"), o.out("promote-skipped")),
        (format!("{api}:latest@{digest}").as_str(), "no-image")
    );
    assert!(exists(&s, &format!("{api}:latest")));
    assert!(!exists(&s, &format!("{web}:latest")));
    // the verdict: a warning, promoted 1 of 2, never a plain ✅
    let verdict = o
        .summary
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap();
    assert!(
        verdict.starts_with("⚠️ **Promoted** 1 of 2 images to 1 target"),
        "{}",
        o.summary
    );
    assert!(!o.summary.contains("✅ **"), "{}", o.summary);
    assert!(
        o.summary
            .contains("> ⏭️ **web**: nothing promoted\\: the image of pull request \\#7 is not in the registry"),
        "{}",
        o.summary
    );
    // the pushed commit is linked, not the pull request's head
    assert!(
        o.summary.contains(&format!("/commit/{merge})"))
            && !o.summary.contains(&format!("/commit/{head})")),
        "{}",
        o.summary
    );
}

/// Issue 22: the promote summary lists every target with what became of it.
#[test]
fn the_promote_summary_lists_each_target() {
    let s = stack();
    let head = sha(0xb2);
    let repo = format!("{}/it/{}", s.registry, unique("listed"));
    let tag = format!("main-{}", &head[..7]);
    let digest = s.publish(&repo, &tag, Some(&head));
    let o = push_event(&head)
        .input("image", &repo)
        .input("mode", "promote")
        .input("promote-to", &format!("{repo}:latest\n{repo}:{tag}"))
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    let short = &digest["sha256:".len().."sha256:".len() + 12];
    assert!(
        o.summary.starts_with(&format!(
            "✅ **Promoted** `{repo}@sha256:{short}…` to 2 targets"
        )),
        "{}",
        o.summary
    );
    assert!(
        o.summary.contains(&format!(
            "| `{repo}:latest` | written |\n| `{repo}:{tag}` | already there |"
        )),
        "{}",
        o.summary
    );
}

/// Issue 22: a skipped promotion links the pushed commit and shows the revision as judged.
#[test]
fn a_skipped_promotion_shows_the_revision_as_judged() {
    let (head, merge) = (sha(0xb4), sha(0xb5));
    let m = merged_setup(
        0xb4,
        vec![merged_pr_json(7, &head, "feat", &merge)],
        false,
        true,
    );
    let o = run_merged(&m);
    assert_skipped(&o, &m, "tree-differs");
    assert!(o.summary.contains("| matched |"), "{}", o.summary);
    assert!(!o.summary.contains("not checked"), "{}", o.summary);
    assert!(
        o.summary.contains(&format!("/commit/{merge})")),
        "{}",
        o.summary
    );
}

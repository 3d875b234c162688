//! Content-addressed images (`paths`, issue 24) through the binary on the real stack, with our
//! GitHub serving the commits and trees of a real git repository built here: `{tree}` must be
//! what the contract's shell one-liner gives in that repository.
mod common;

use common::github::{FakeGitHub, World, TOKEN};
use common::relay::{Mode, Relay};
use common::{push_event, stack, unique, Outcome, Run};
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The services of the example workflow: each built from its own directory and the shared
/// libraries (and the `proto` file for some).
const SERVICES: [(&str, &str); 6] = [
    ("api", "services/api libs/common libs/auth"),
    ("web", "services/web libs/common"),
    ("worker", "services/worker libs/common libs/queue"),
    (
        "billing",
        "services/billing libs/common libs/auth proto/billing.proto",
    ),
    ("search", "services/search libs/common"),
    ("notify", "services/notify libs/queue"),
];

/// A repository of six services and shared libraries, three commits: `one`; `web_changed`
/// (only services/web changed); `common_changed` (libs/common changed).
struct Repo {
    dir: tempfile::TempDir,
    one: String,
    web_changed: String,
    common_changed: String,
}

fn write(d: &Path, file: &str, text: &str) {
    std::fs::create_dir_all(d.join(file).parent().unwrap()).unwrap();
    std::fs::write(d.join(file), text).unwrap();
}

fn repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    for (name, _) in SERVICES {
        write(d, &format!("services/{name}/main.go"), name);
        write(d, &format!("services/{name}/Dockerfile"), "FROM scratch");
    }
    for lib in ["common", "auth", "queue"] {
        write(d, &format!("libs/{lib}/lib.go"), lib);
    }
    write(d, "proto/billing.proto", "syntax = \"proto3\";");
    write(d, "README.md", "six services");
    let commit = |msg: &str| {
        git(d, &["add", "-A"]);
        git(d, &["commit", "-q", "-m", msg]);
        git(d, &["rev-parse", "HEAD"])
    };
    let one = commit("one");
    write(d, "services/web/main.go", "web, changed");
    let web_changed = commit("web");
    write(d, "libs/common/lib.go", "common, changed");
    let common_changed = commit("common");
    Repo {
        dir,
        one,
        web_changed,
        common_changed,
    }
}

impl Repo {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The contract's one-liner, run by a shell in the repository.
    fn tree(&self, sha: &str, paths: &str) -> String {
        let script = r#"for p in $PATHS; do printf '%s\t%s\n' "$p" "$(git rev-parse -q --verify "$SHA:$p" || echo -)"; done | LC_ALL=C sort | sha256sum | cut -c1-16"#;
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(self.path())
            .env("PATHS", paths)
            .env("SHA", sha)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn github(&self) -> FakeGitHub {
        FakeGitHub::start(World {
            git: Some(self.path().to_path_buf()),
            ..Default::default()
        })
    }
}

/// A run of the push of `head`, with our GitHub and no daemon.
fn run(head: &str, gh: &FakeGitHub) -> Run {
    push_event(head)
        .input("github-token", TOKEN)
        .var("GITHUB_API_URL", &gh.api_url())
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
}

fn images_json(o: &Outcome) -> serde_json::Value {
    serde_json::from_str(o.out("images")).unwrap()
}

#[test]
fn the_tree_output_is_what_git_computes_for_directories_files_and_missing_paths() {
    let r = repo();
    let gh = r.github();
    let repo = format!("{}/it/{}", stack().registry, unique("tree-compute"));
    let paths = "services/api libs/common proto/billing.proto no/such/path README.md/x";
    let o = run(&r.one, &gh)
        .input("image", &repo)
        .input("mode", "compute")
        .input("paths", paths)
        .run();
    o.ok();
    let want = r.tree(&r.one, paths);
    assert_eq!(o.out("tree"), want);
    assert_eq!(o.out("tree-image"), format!("{repo}:tree-{want}"));
    assert_eq!(
        o.out("tag"),
        format!("main-{}", &r.one[..7]),
        "the commit's tag"
    );
    // the commit, then the root, services/, libs/ and proto/ trees: each once
    assert_eq!(
        (gh.calls_to("/git/commits/"), gh.calls_to("/git/trees/")),
        (1, 4)
    );
    assert!(
        o.summary.contains(&format!("tree `{want}`")),
        "{}",
        o.summary
    );
    // a tree-tag template of our own
    let o = run(&r.one, &gh)
        .input("image", &repo)
        .input("mode", "compute")
        .input("paths", paths)
        .input("tree-tag", "src-{tree}")
        .run();
    assert_eq!(o.ok().out("tree-image"), format!("{repo}:src-{want}"));
}

#[test]
fn several_images_with_shared_paths_ask_each_tree_once() {
    let r = repo();
    let gh = r.github();
    let base = format!("{}/it/{}", stack().registry, unique("tree-six"));
    let lines: Vec<String> = SERVICES
        .iter()
        .map(|(name, paths)| format!("{name}={base}-{name} {paths}"))
        .collect();
    let o = run(&r.web_changed, &gh)
        .input("images", &lines.join("\n"))
        .input("mode", "compute")
        .run();
    o.ok();
    let v = images_json(&o);
    for (name, paths) in SERVICES {
        let want = r.tree(&r.web_changed, paths);
        assert_eq!(v[name]["tree"], want, "{name}");
        assert_eq!(v[name]["tree-image"], format!("{base}-{name}:tree-{want}"));
    }
    // the commit once; the root, services/, libs/ and proto/ trees once, whatever the images
    assert_eq!(
        (gh.calls_to("/git/commits/"), gh.calls_to("/git/trees/")),
        (1, 4),
        "{}",
        o.stdout
    );
    // `paths` is every line's default; a line's own replace it
    let o = run(&r.one, &gh)
        .input(
            "images",
            &format!("api={base}-api services/api\nweb={base}-web"),
        )
        .input("paths", "libs/common")
        .input("mode", "compute")
        .run();
    let v = images_json(o.ok());
    assert_eq!(v["api"]["tree"], r.tree(&r.one, "services/api"));
    assert_eq!(v["web"]["tree"], r.tree(&r.one, "libs/common"));
}

#[test]
fn a_truncated_tree_or_an_unknown_commit_is_an_error_naming_it() {
    let r = repo();
    let gh = r.github();
    let root = git(r.path(), &["rev-parse", &format!("{}^{{tree}}", r.one)]);
    gh.world.lock().unwrap().truncated.push(root.clone());
    let repo = format!("{}/it/{}", stack().registry, unique("tree-trunc"));
    let fails_with = |sha: &str, want: &str| {
        let o = run(sha, &gh)
            .input("image", &repo)
            .input("mode", "compute")
            .input("paths", "services/api")
            .run();
        o.failed();
        assert!(o.error().contains(want), "{}", o.error());
    };
    fails_with(&r.one, &format!("tree `{root}` is listed as truncated"));
    let stranger = "5".repeat(40);
    fails_with(
        &stranger,
        &format!("commit `{stranger}` is not in `acme/charon`"),
    );
}

#[test]
fn consumers_find_the_image_by_tree_tag_or_commit_tag_matched_by_paths() {
    let s = stack();
    let r = repo();
    let paths = SERVICES[0].1;
    let repo = format!("{}/it/{}", s.registry, unique("tree-consume"));
    // built at `one`, pushed under its tree tag only
    let tree = r.tree(&r.one, paths);
    assert_eq!(tree, r.tree(&r.web_changed, paths), "web changed, not api");
    let digest = s.publish(&repo, &format!("tree-{tree}"), Some(&r.one));
    // verify at `web_changed`: its commit tag is missing, its tree tag holds `one`'s image
    let gh = r.github();
    let o = run(&r.web_changed, &gh)
        .input("image", &repo)
        .input("mode", "verify")
        .input("paths", paths)
        .run();
    o.ok();
    assert_eq!(
        (o.out("tag"), o.out("digest"), o.out("revision")),
        (
            format!("tree-{tree}").as_str(),
            digest.as_str(),
            r.one.as_str()
        )
    );
    assert_eq!(o.out("image"), format!("{repo}:tree-{tree}"));
    assert!(o.summary.contains("matched by paths"), "{}", o.summary);
    assert!(o.stdout.contains("matched by paths"), "{}", o.stdout);
    // pull, the same way: the daemon holds it under what was found
    let o = run(&r.web_changed, &gh)
        .input("image", &repo)
        .input("paths", paths)
        .input("local-tag", "{name}:{tree}")
        .var("DOCKER_HOST", &s.docker_host)
        .run();
    o.ok();
    assert_eq!(o.out("source"), "registry");
    assert!(s.image_id(&format!("{repo}:tree-{tree}")).is_some());
    // `{tree}` in a template
    let name = repo.rsplit('/').next().unwrap();
    assert_eq!(o.out("local-image"), format!("{name}:{tree}"));
    assert!(s.image_id(&format!("{name}:{tree}")).is_some());
    // by the commit's tag, labelled with the commit that built it
    let tag = format!("main-{}", &r.web_changed[..7]);
    let promoted = s.publish(&repo, &tag, Some(&r.one));
    let o = run(&r.web_changed, &gh)
        .input("image", &repo)
        .input("mode", "verify")
        .input("paths", paths)
        .run();
    o.ok();
    assert_eq!(
        (o.out("tag"), o.out("digest")),
        (tag.as_str(), promoted.as_str())
    );
    assert!(o.summary.contains("matched by paths"), "{}", o.summary);
}

#[test]
fn a_label_whose_paths_differ_is_a_mismatch_that_names_them() {
    let s = stack();
    let r = repo();
    let paths = SERVICES[0].1;
    let repo = format!("{}/it/{}", s.registry, unique("tree-mismatch"));
    // `common_changed`'s tag, built at `one`: libs/common differs
    s.publish(
        &repo,
        &format!("main-{}", &r.common_changed[..7]),
        Some(&r.one),
    );
    let gh = r.github();
    let o = run(&r.common_changed, &gh)
        .input("image", &repo)
        .input("mode", "verify")
        .input("paths", paths)
        .run();
    o.failed();
    let e = o.error();
    assert!(
        e.starts_with("::error title=image-resolver%3A Revision mismatch::"),
        "{e}"
    );
    assert!(e.contains(&r.one) && e.contains("`libs/common` ("), "{e}");
    assert!(!e.contains("`services/api` ("), "only what differs: {e}");
}

#[test]
fn promote_by_tree_writes_this_commits_tag_or_skips_to_build() {
    let s = stack();
    let r = repo();
    let paths = SERVICES[0].1;
    let relay = Relay::start(&s.registry, Mode::Forward);
    let path = format!("it/{}", unique("tree-promote"));
    let tree = r.tree(&r.one, paths);
    let digest = s.publish(
        &format!("{}/{path}", s.registry),
        &format!("tree-{tree}"),
        Some(&r.one),
    );
    let repo = format!("{}/{path}", relay.host);
    let gh = r.github();
    relay.clear();
    let tag = format!("main-{}", &r.web_changed[..7]);
    let o = run(&r.web_changed, &gh)
        .input("image", &repo)
        .input("mode", "promote")
        .input("promote-source", "tree")
        .input("paths", paths)
        .run();
    o.ok();
    assert_eq!(o.out("promoted"), format!("{repo}:{tag}@{digest}"));
    assert_eq!(
        (o.out("promote-skipped"), o.out("tag")),
        ("", format!("tree-{tree}").as_str())
    );
    assert_eq!(relay.count("PUT", "/manifests/"), 1, "{:?}", relay.seen());
    assert_eq!(relay.count("POST", "/blobs/uploads/"), 0);
    assert!(o.stdout.contains("matched by paths"), "{}", o.stdout);
    // promote-to adds targets, `{tree}` included
    let o = run(&r.web_changed, &gh)
        .input("image", &repo)
        .input("mode", "promote")
        .input("promote-source", "tree")
        .input("promote-to", &format!("{repo}:latest\n{repo}:src-{{tree}}"))
        .input("paths", paths)
        .run();
    o.ok();
    assert_eq!(
        o.out("promoted"),
        [tag.as_str(), "latest", &format!("src-{tree}")]
            .map(|t| format!("{repo}:{t}@{digest}"))
            .join("\n")
    );
    // libs/common changed: no image of these files yet
    let skipped_tag = format!("main-{}", &r.common_changed[..7]);
    relay.clear();
    let o = run(&r.common_changed, &gh)
        .input("image", &repo)
        .input("mode", "promote")
        .input("promote-source", "tree")
        .input("paths", paths)
        .run();
    o.ok();
    let new_tree = r.tree(&r.common_changed, paths);
    assert_eq!(
        (
            o.out("promoted"),
            o.out("promote-skipped"),
            o.out("image"),
            o.out("tree-image")
        ),
        (
            "",
            "no-image",
            format!("{repo}:{skipped_tag}").as_str(),
            format!("{repo}:tree-{new_tree}").as_str()
        )
    );
    assert!(
        o.stdout.lines().any(|l| l
            .starts_with("::notice title=image-resolver%3A Promotion skipped::")
            && l.contains(&format!("tree-{new_tree}"))
            && l.contains("build")),
        "{}",
        o.stdout
    );
    assert_eq!(relay.count("PUT", ""), 0, "nothing written");
}

#[test]
fn promote_by_tree_refuses_an_image_whose_label_has_other_files() {
    let s = stack();
    let r = repo();
    let paths = SERVICES[0].1;
    let repo = format!("{}/it/{}", s.registry, unique("tree-stale"));
    // under `one`'s tree tag, but labelled with a commit whose libs/common differs
    let tree = r.tree(&r.one, paths);
    s.publish(&repo, &format!("tree-{tree}"), Some(&r.common_changed));
    let gh = r.github();
    let o = run(&r.web_changed, &gh)
        .input("image", &repo)
        .input("mode", "promote")
        .input("promote-source", "tree")
        .input("paths", paths)
        .run();
    o.failed();
    assert!(o.error().contains("`libs/common` ("), "{}", o.error());
    let tag = format!("main-{}", &r.web_changed[..7]);
    let reference = format!("{repo}:{tag}");
    let path = reference
        .split_once('/')
        .unwrap()
        .1
        .replace(':', "/manifests/");
    let status = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}/v2/{path}", s.registry))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&status.stdout),
        "404",
        "nothing written"
    );
}

/// The example workflows' cost (workflows-examples/tree-*.yml): the producer's job per service
/// (a promote step, and for the one service whose files changed a compute step before its
/// build), then the consumer's one pull step over the six images. Printed, and held to "a few
/// dozen".
#[test]
fn the_example_workflow_costs_a_few_dozen_api_requests() {
    let s = stack();
    let r = repo();
    let base = format!("{}/it/{}", s.registry, unique("tree-budget"));
    // every service built at `one`, under its tree tag
    for (name, paths) in SERVICES {
        let tree = r.tree(&r.one, paths);
        s.publish(
            &format!("{base}-{name}"),
            &format!("tree-{tree}"),
            Some(&r.one),
        );
    }
    let gh = r.github();
    let mut per_step = Vec::new();
    for (name, paths) in SERVICES {
        let before = gh.api_calls();
        let o = run(&r.web_changed, &gh)
            .input("image", &format!("{base}-{name}"))
            .input("mode", "promote")
            .input("promote-source", "tree")
            .input("paths", paths)
            .run();
        o.ok();
        let want = if name == "web" { "no-image" } else { "" };
        assert_eq!(o.out("promote-skipped"), want, "{name}");
        // skipped: the job's compute step gives the build its names and labels
        if name == "web" {
            let o = run(&r.web_changed, &gh)
                .input("image", &format!("{base}-{name}"))
                .input("mode", "compute")
                .input("paths", paths)
                .run();
            assert_eq!(
                o.ok().out("tree-image"),
                format!("{base}-web:tree-{}", r.tree(&r.web_changed, paths))
            );
        }
        per_step.push(gh.api_calls() - before);
    }
    let producer: usize = per_step.iter().sum();
    // the build pushed web's image for `web_changed`; the consumer verifies all six at once
    s.publish(
        &format!("{base}-web"),
        &format!("main-{}", &r.web_changed[..7]),
        Some(&r.web_changed),
    );
    let lines: Vec<String> = SERVICES
        .iter()
        .map(|(name, paths)| format!("{name}={base}-{name} {paths}"))
        .collect();
    let before = gh.api_calls();
    // pull, as the consumer workflow does
    let o = run(&r.web_changed, &gh)
        .input("images", &lines.join("\n"))
        .input("fallback", "none")
        .var("DOCKER_HOST", &s.docker_host)
        .run();
    o.ok();
    let consumer = gh.api_calls() - before;
    eprintln!("API requests: producer {producer} (per step {per_step:?}), consumer {consumer}");
    assert!(producer <= 48, "producer: {per_step:?}");
    assert!(consumer <= 12, "consumer: {consumer}");
    // every image is under the commit's tag now: web built, the others promoted by tree
    let v = images_json(&o);
    for (name, _) in SERVICES {
        assert_eq!(
            v[name]["tag"],
            format!("main-{}", &r.web_changed[..7]),
            "{name}"
        );
        let built = if name == "web" {
            &r.web_changed
        } else {
            &r.one
        };
        assert_eq!(&v[name]["revision"], built.as_str(), "{name}");
    }
    assert!(o.summary.contains("matched by paths"), "{}", o.summary);
}

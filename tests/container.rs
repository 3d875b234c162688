//! The action image, built offline from the host's static binary, run exactly as the runner runs a
//! container action: hyphenated INPUT_ names, /github/workflow/event.json, the output file under
//! /github/file_commands, the workspace at /github/workspace, the Docker socket mounted.

mod common;
use common::*;
use std::process::Command;

#[test]
fn the_action_image_runs_like_the_runner_runs_it() {
    let s = stack();
    let static_bin = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/x86_64-unknown-linux-gnu/release/image-resolver"
    );
    assert!(
        std::path::Path::new(static_bin).exists(),
        "build the static binary first (scripts/test.sh does)"
    );
    let tag = format!("{}:test", unique("image-resolver"));
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/build-image.sh"
    ))
    .arg(&tag)
    .env("IR_PREBUILT", "1")
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "build-image.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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

    let head = sha(0x51);
    let repo = format!("{}/it/{}", s.registry, unique("container"));
    let digest = s.publish(&repo, &format!("pr-42-{}", &head[..7]), Some(&head));
    let dir = tempfile::tempdir().unwrap();
    let (workflow, files, workspace) = (
        dir.path().join("workflow"),
        dir.path().join("file_commands"),
        dir.path().join("workspace"),
    );
    for d in [&workflow, &files, &workspace] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(
        workflow.join("event.json"),
        workflow_run("pull_request", &head, "feat/x", Some(42), false).to_string(),
    )
    .unwrap();
    std::fs::write(files.join("set_output_0b1c"), "").unwrap();
    std::fs::write(files.join("step_summary_0b1c"), "").unwrap();
    let socket = s.docker_host.trim_start_matches("unix://");
    let local = format!("{}:local", unique("charon"));
    let mount = |host: &std::path::Path, inside: &str| format!("{}:{inside}", host.display());
    let run = s.docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--workdir",
        "/github/workspace",
        "-v",
        &format!("{socket}:/var/run/docker.sock"),
        "-v",
        &mount(&workflow, "/github/workflow"),
        "-v",
        &mount(&files, "/github/file_commands"),
        "-v",
        &mount(&workspace, "/github/workspace"),
        "-e",
        &format!("INPUT_IMAGE={repo}"),
        "-e",
        &format!("INPUT_LOCAL-TAG={local}"),
        "-e",
        "INPUT_GITHUB-TOKEN=ghs_container_token_xyz",
        "-e",
        "INPUT_REVISION-CHECK=fail",
        "-e",
        "INPUT_TAG=",
        "-e",
        "GITHUB_EVENT_NAME=workflow_run",
        "-e",
        "GITHUB_EVENT_PATH=/github/workflow/event.json",
        "-e",
        "GITHUB_OUTPUT=/github/file_commands/set_output_0b1c",
        "-e",
        "GITHUB_STEP_SUMMARY=/github/file_commands/step_summary_0b1c",
        "-e",
        "GITHUB_REPOSITORY=acme/charon",
        "-e",
        "GITHUB_WORKSPACE=/github/workspace",
        "-e",
        "GITHUB_ACTIONS=true",
        "-e",
        "RUNNER_DEBUG=",
        &tag,
    ]);
    assert!(
        !run.contains("ghs_container_token_xyz")
            || run.matches("ghs_container_token_xyz").count() == 1,
        "{run}"
    );
    let outputs = parse_outputs(&std::fs::read_to_string(files.join("set_output_0b1c")).unwrap());
    assert_eq!(outputs["tag"], format!("pr-42-{}", &head[..7]));
    assert_eq!(outputs["digest"], digest);
    assert_eq!(outputs["source"], "registry");
    assert_eq!(outputs["pr-number"], "42");
    assert_eq!(
        s.image_id(&local).as_deref(),
        Some(outputs["image-id"].as_str())
    );
    assert!(std::fs::read_to_string(files.join("step_summary_0b1c"))
        .unwrap()
        .starts_with("✅ **Resolved**"));
}

//! The release's shape, checked where it can be on one amd64 machine without network: action.yml
//! names the image as HEAD or as a release commit does, the pin script writes exactly the released
//! form, the Dockerfile builds one static binary per platform of the manifest list, the release
//! workflow pushes both platforms, attests the image and pins it before tagging, and the static
//! binary the image ships is a static x86-64 ELF. (The arm64 binary needs the aarch64 Rust
//! standard library, which cannot be installed offline: its build is exercised by release.yml.)

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(text: &str) -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(text).expect("YAML")
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// `docker://ghcr.io/OWNER/image-resolver:v1` (HEAD) or `…:vX.Y.Z@sha256:<64 hex>` (a release).
fn image_form(image: &str) -> Result<Option<(String, String)>, String> {
    let rest = image
        .strip_prefix("docker://ghcr.io/")
        .ok_or("not a ghcr.io image")?;
    let (repo, tag) = rest.split_once(':').ok_or("no tag")?;
    if !repo.ends_with("/image-resolver") {
        return Err(format!("repository {repo}"));
    }
    match tag.split_once("@sha256:") {
        None if tag == "v1" => Ok(None),
        None => Err(format!("tag {tag} without a digest")),
        Some((version, hex)) => {
            let v = version.strip_prefix('v').ok_or("version without v")?;
            let parts: Vec<&str> = v.split('.').collect();
            let numeric = parts.len() == 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            if !numeric || !is_hex64(hex) {
                return Err(format!("{version}@sha256:{hex}"));
            }
            Ok(Some((version.to_string(), hex.to_string())))
        }
    }
}

#[test]
fn action_yml_names_the_image_as_head_or_as_a_release() {
    let a = yaml(&read("action.yml"));
    assert_eq!(a["runs"]["using"].as_str(), Some("docker"));
    let image = a["runs"]["image"].as_str().expect("runs.image");
    image_form(image).unwrap_or_else(|e| panic!("runs.image `{image}`: {e}"));
    for bad in [
        "docker://ghcr.io/image-resolver/image-resolver:latest",
        "docker://ghcr.io/image-resolver/image-resolver:v1.2.0",
        "docker://ghcr.io/image-resolver/image-resolver:v1.2.0@sha256:00",
        "docker://docker.io/image-resolver/image-resolver:v1",
        "Dockerfile",
    ] {
        assert!(image_form(bad).is_err(), "{bad}");
    }
}

fn pin(version: &str, digest: &str, file: &Path) -> std::process::Output {
    Command::new(Path::new(ROOT).join("scripts/pin-action-image.sh"))
        .args([version, digest])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn the_pin_script_writes_the_released_form_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("action.yml");
    let original = read("action.yml");
    std::fs::write(&file, &original).unwrap();
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    for version in ["1.2.0", "1.2.1"] {
        let out = pin(version, &digest, &file);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pinned = std::fs::read_to_string(&file).unwrap();
    let (before, after) = (yaml(&original), yaml(&pinned));
    let image = after["runs"]["image"].as_str().unwrap();
    assert_eq!(
        image_form(image),
        Ok(Some(("v1.2.1".into(), digest[7..].to_string()))),
        "{image}"
    );
    assert!(image.starts_with("docker://ghcr.io/image-resolver/image-resolver:v1.2.1@"));
    // only that line changed
    let changed: Vec<(&str, &str)> = original
        .lines()
        .zip(pinned.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(original.lines().count(), pinned.lines().count());
    for key in ["inputs", "outputs", "name", "description", "branding"] {
        assert_eq!(before[key], after[key], "{key}");
    }

    // refused, file untouched: a `v` prefix, a short digest, a file without (or with two) image lines
    for (version, digest) in [
        ("v1.2.2", digest.as_str()),
        ("1.2", digest.as_str()),
        ("1.2.2", "sha256:00"),
    ] {
        let out = pin(version, digest, &file);
        assert_eq!(out.status.code(), Some(2), "{version} {digest}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains('`'),
            "names the value"
        );
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), pinned);
    let twice = format!(
        "{}\n{}\n",
        pinned.trim_end(),
        pinned
            .lines()
            .find(|l| l.starts_with("  image: docker://"))
            .unwrap()
    );
    std::fs::write(&file, twice).unwrap();
    let out = pin("1.2.2", &digest, &file);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has 2"),
        "{out:?}"
    );
}

#[test]
fn the_dockerfile_builds_one_static_binary_per_platform() {
    let d = read("Dockerfile");
    let builder = d
        .lines()
        .find(|l| l.starts_with("FROM ") && l.ends_with(" AS builder"))
        .expect("a builder stage");
    // the builder runs on the build machine and cross-compiles: no emulation in the release
    assert!(
        builder.starts_with("FROM --platform=$BUILDPLATFORM "),
        "{builder}"
    );
    assert!(d.contains("scripts/static-build.sh \"$TARGETARCH\" \"$BUILDARCH\""));
    let script = read("scripts/static-build.sh");
    for (arch, target) in [
        ("amd64", "x86_64-unknown-linux-gnu"),
        ("arm64", "aarch64-unknown-linux-gnu"),
    ] {
        assert!(
            script.lines().any(|l| l
                .trim_start()
                .starts_with(&format!("{arch}) target={target} "))),
            "{arch} → {target}"
        );
    }
    assert!(script.contains("+crt-static"));
    // any other platform is refused before anything is built
    let out = Command::new(Path::new(ROOT).join("scripts/static-build.sh"))
        .arg("riscv64")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`riscv64`"));
    // both image stages carry the OCI labels
    for stage in ["runtime", "release"] {
        let body = d
            .split("\nFROM ")
            .find(|s| {
                s.lines()
                    .next()
                    .is_some_and(|l| l.ends_with(&format!(" AS {stage}")))
            })
            .unwrap_or_else(|| panic!("stage {stage}"));
        for label in ["source=$SOURCE", "revision=$REVISION", "version=$VERSION"] {
            assert!(
                body.contains(&format!("org.opencontainers.image.{label}")),
                "{stage}: {label}"
            );
        }
    }
}

#[test]
fn the_release_pushes_both_platforms_attests_and_pins_before_tagging() {
    let w = yaml(&read(".github/workflows/release.yml"));
    assert!(w["on"]["workflow_dispatch"]["inputs"]["version"].is_mapping());
    let job = &w["jobs"]["release"];
    for (perm, want) in [
        ("contents", "write"),
        ("packages", "write"),
        ("id-token", "write"),
        ("attestations", "write"),
    ] {
        assert_eq!(job["permissions"][perm].as_str(), Some(want), "{perm}");
    }
    let steps = job["steps"].as_sequence().unwrap();
    let uses = |name: &str| {
        steps
            .iter()
            .position(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(name)))
            .unwrap_or_else(|| panic!("no {name} step"))
    };
    // every action pinned by commit
    for s in steps {
        if let Some(u) = s["uses"].as_str() {
            let sha = u.split_once('@').map(|(_, r)| r).unwrap_or_default();
            assert!(
                sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
                "{u}"
            );
        }
    }
    let build = &steps[uses("docker/build-push-action")];
    assert_eq!(
        build["with"]["platforms"].as_str(),
        Some("linux/amd64,linux/arm64")
    );
    assert_eq!(build["with"]["target"].as_str(), Some("release"));
    let args = build["with"]["build-args"].as_str().unwrap();
    for a in ["VERSION=", "REVISION=${{ github.sha }}", "SOURCE="] {
        assert!(args.contains(a), "{a}");
    }
    let attest = &steps[uses("actions/attest-build-provenance")];
    assert_eq!(
        attest["with"]["subject-digest"].as_str(),
        Some("${{ steps.build.outputs.digest }}")
    );
    assert_eq!(attest["with"]["push-to-registry"].as_bool(), Some(true));
    let run_of = |needle: &str| {
        steps
            .iter()
            .position(|s| s["run"].as_str().is_some_and(|r| r.contains(needle)))
            .unwrap_or_else(|| panic!("no step runs {needle}"))
    };
    // order: builder pin checked → build → attest → pin action.yml → tag → move v1
    let pin_step = run_of("scripts/pin-action-image.sh");
    assert!(run_of("AS builder") < uses("docker/build-push-action"));
    assert!(uses("docker/build-push-action") < uses("actions/attest-build-provenance"));
    assert!(uses("actions/attest-build-provenance") < pin_step);
    let script = steps[pin_step]["run"].as_str().unwrap();
    let at = |s: &str| script.find(s).unwrap_or_else(|| panic!("{s}"));
    assert!(at("pin-action-image.sh") < at("refs/tags/v$VERSION"));
    assert!(at("refs/tags/v$VERSION") < at("refs/tags/v1"));
}

/// (ELF machine, has a program interpreter): x86-64 is 62, aarch64 183; a static binary has no
/// PT_INTERP.
fn elf_facts(path: &Path) -> (u16, bool) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..5], b"\x7fELF\x02", "{}: a 64-bit ELF", path.display());
    assert_eq!(b[5], 1, "little-endian");
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36) as usize, u16_at(0x38));
    let interp = (0..phnum as usize)
        .any(|i| u32::from_le_bytes(b[phoff + i * phentsize..][..4].try_into().unwrap()) == 3);
    (u16_at(0x12), interp)
}

#[test]
fn elf_facts_reads_a_dynamic_host_binary() {
    // the test binary itself: x86-64 on this machine, linked dynamically
    let me = std::env::current_exe().unwrap();
    let (machine, interp) = elf_facts(&me);
    assert_eq!(
        machine,
        if cfg!(target_arch = "x86_64") {
            62
        } else {
            183
        }
    );
    assert!(
        interp,
        "a dynamically linked test binary has an interpreter"
    );
}

#[test]
fn the_shipped_binary_is_a_static_x86_64_elf() {
    let bin = Path::new(ROOT).join("target/x86_64-unknown-linux-gnu/release/image-resolver");
    assert!(
        bin.exists(),
        "build the static binary first (scripts/test.sh does)"
    );
    assert_eq!(elf_facts(&bin), (62, false), "x86-64, no interpreter");
}

#[test]
fn the_shipped_binary_has_no_route_for_the_tests_trust_root() {
    // the variable the `test-trust-root` build reads (src/provenance/trust/README.md): the
    // release build never enables the feature, so not even the name is in it
    let bin = Path::new(ROOT).join("target/x86_64-unknown-linux-gnu/release/image-resolver");
    let bytes = std::fs::read(&bin).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the static binary first (scripts/test.sh does)",
            bin.display()
        )
    });
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!has(b"IMAGE_RESOLVER_TEST_TRUST_ROOT"));
    // the pinned roots are in it: the search would find a string that is there
    assert!(has(b"fulcio.githubapp.com"));
    // and the tests' build, which has the route, does name the variable
    if cfg!(feature = "test-trust-root") {
        let test_build = std::fs::read(env!("CARGO_BIN_EXE_image-resolver")).unwrap();
        let needle = b"IMAGE_RESOLVER_TEST_TRUST_ROOT";
        assert!(test_build.windows(needle.len()).any(|w| w == needle));
    }
}

//! action.yml and the code's config must name the same inputs and outputs.

use image_resolver::config::INPUT_NAMES;
use image_resolver::core::outputs::OUTPUT_NAMES;
use std::collections::BTreeSet;

fn action() -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml"))
        .expect("action.yml");
    serde_yaml_ng::from_str(&text).expect("action.yml is YAML")
}

fn keys(v: &serde_yaml_ng::Value, section: &str) -> BTreeSet<String> {
    v[section]
        .as_mapping()
        .unwrap_or_else(|| panic!("action.yml has no {section}"))
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn inputs_match_the_config() {
    let want: BTreeSet<String> = INPUT_NAMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(keys(&action(), "inputs"), want);
}

#[test]
fn outputs_match_the_code() {
    let want: BTreeSet<String> = OUTPUT_NAMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(keys(&action(), "outputs"), want);
}

#[test]
fn every_input_is_documented_and_runs_a_prebuilt_image() {
    let a = action();
    for name in INPUT_NAMES {
        let i = &a["inputs"][name];
        assert!(
            i["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name} has no description"
        );
        assert!(i.get("default").is_some(), "{name} has no default");
    }
    // `image` or `images`: neither alone is required
    assert_eq!(a["inputs"]["image"]["required"].as_bool(), Some(false));
    assert_eq!(
        a["inputs"]["github-token"]["default"].as_str(),
        Some("${{ github.token }}")
    );
    assert_eq!(a["runs"]["using"].as_str(), Some("docker"));
    assert!(a["runs"]["image"]
        .as_str()
        .unwrap()
        .starts_with("docker://ghcr.io/"));
    assert!(a["branding"]["icon"].as_str().is_some());
}

//! Content-addressed images: `{tree}`, what an image is built from, as a value a shell can
//! compute too (the contract's one-liner over `git rev-parse`).

use sha2::{Digest, Sha256};

/// One path of `paths` at a commit: its git object id (a tree for a directory, a blob for a
/// file, a commit for a submodule), or `None` where the path does not exist.
pub type Object = (String, Option<String>);

/// `{tree}`: the first 16 hex digits of the sha256 of the lines `<path>\t<object>\n`, sorted by
/// byte order as `LC_ALL=C sort` sorts them, `-` for a missing path.
pub fn tree_value(objects: &[Object]) -> String {
    let mut lines: Vec<String> = objects
        .iter()
        .map(|(path, object)| format!("{path}\t{}\n", object.as_deref().unwrap_or("-")))
        .collect();
    lines.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let digest = Sha256::digest(lines.concat().as_bytes());
    hex::encode(digest)[..16].to_string()
}

/// The paths whose objects differ between two commits (each as `path` with both objects), for
/// the mismatch's explanation. Both lists are over the same paths, in the same order.
pub fn differing(a: &[Object], b: &[Object]) -> Vec<String> {
    let shown = |o: &Option<String>| match o {
        Some(id) => id[..id.len().min(12)].to_string(),
        None => "missing".to_string(),
    };
    a.iter()
        .zip(b)
        .filter(|((_, x), (_, y))| x != y)
        .map(|((path, x), (_, y))| format!("`{path}` ({} here, {} there)", shown(y), shown(x)))
        .collect()
}

/// A path of `paths` as the one-liner takes it: relative to the repository root, plain
/// components only, so `git rev-parse "$SHA:$p"` and the API walk name the same object.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') {
        return Err(format!(
            "`{path}` is absolute: write it relative to the repository root"
        ));
    }
    if path.ends_with('/') {
        return Err(format!(
            "`{path}` ends with `/`: write the directory without it (`{}`)",
            path.trim_end_matches('/')
        ));
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "`{path}` has an empty, `.` or `..` component: write the path from the repository root"
        ));
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return Err(format!("`{path}` holds a control character or a backslash"));
    }
    Ok(())
}

/// `paths` as given: separated by spaces or lines, each checked, none twice.
pub fn parse_paths(text: &str) -> Result<Vec<String>, String> {
    let mut paths: Vec<String> = Vec::new();
    for p in text.split_whitespace() {
        check_path(p)?;
        if paths.iter().any(|q| q == p) {
            return Err(format!("`{p}` is listed twice"));
        }
        paths.push(p.to_string());
    }
    Ok(paths)
}

/// One image's content address at the expected commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// `{tree}`.
    pub value: String,
    /// `tree-tag` rendered with it.
    pub tag: String,
    /// The objects it was computed from, in `paths` order.
    pub objects: Vec<Object>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(path: &str, id: Option<&str>) -> Object {
        (path.to_string(), id.map(str::to_string))
    }

    #[test]
    fn values() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        // (objects, the exact text hashed)
        let cases: Vec<(Vec<Object>, String)> = vec![
            (
                vec![o("services/api", Some(&a))],
                format!("services/api\t{a}\n"),
            ),
            (vec![o("gone", None)], "gone\t-\n".into()),
            // sorted by bytes, whatever the order given: `-` (0x2d) sorts before `/` (0x2f)
            (
                vec![o("libs/common", Some(&b)), o("libs-x", Some(&a))],
                format!("libs-x\t{a}\nlibs/common\t{b}\n"),
            ),
            (vec![], String::new()),
        ];
        for (objects, text) in cases {
            let want = &hex::encode(Sha256::digest(text.as_bytes()))[..16];
            assert_eq!(tree_value(&objects), want, "{objects:?}");
            assert_eq!(tree_value(&objects).len(), 16);
        }
        let swapped = [o("x", Some(&a)), o("y", None)];
        let back = [o("y", None), o("x", Some(&a))];
        assert_eq!(tree_value(&swapped), tree_value(&back));
        assert_ne!(
            tree_value(&swapped),
            tree_value(&[o("x", Some(&b)), o("y", None)])
        );
    }

    #[test]
    fn differing_paths_are_named() {
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        let here = [o("api", Some(&a)), o("libs", Some(&a)), o("new", Some(&b))];
        let there = [o("api", Some(&a)), o("libs", Some(&b)), o("new", None)];
        assert_eq!(
            differing(&there, &here),
            [
                "`libs` (aaaaaaaaaaaa here, bbbbbbbbbbbb there)",
                "`new` (bbbbbbbbbbbb here, missing there)"
            ]
        );
        assert!(differing(&here, &here).is_empty());
    }

    #[test]
    fn paths_are_plain_and_relative() {
        assert_eq!(
            parse_paths("services/api  libs/common\nDockerfile\n").unwrap(),
            ["services/api", "libs/common", "Dockerfile"]
        );
        assert!(parse_paths("").unwrap().is_empty());
        for bad in ["/etc", "a/", "a//b", "./a", "a/../b", "a a"] {
            let r = parse_paths(bad);
            assert!(r.is_err(), "{bad}: {r:?}");
        }
        assert!(parse_paths("a a").unwrap_err().contains("twice"));
    }

    /// The value the contract's one-liner gives for these lines (`printf … | LC_ALL=C sort |
    /// sha256sum | cut -c1-16`), whatever order they come in: byte order puts `libs-extra`
    /// before `libs/common` and `services/api` before `services/api/main.go`. The one-liner in
    /// a real repository is run against the binary in tests/tree.rs.
    #[test]
    fn sorted_by_bytes_as_the_shell_one_liner_sorts() {
        let id = |c: char| Some(c.to_string().repeat(40));
        let objects: Vec<Object> = vec![
            ("services/api".into(), id('a')),
            ("libs/common".into(), id('b')),
            ("libs-extra".into(), id('c')),
            ("Dockerfile".into(), id('d')),
            ("no/such/path".into(), None),
            ("services/api/main.go".into(), id('e')),
        ];
        assert_eq!(tree_value(&objects), "c7114f7ba3ea60e9");
        let mut reversed = objects.clone();
        reversed.reverse();
        assert_eq!(tree_value(&reversed), "c7114f7ba3ea60e9");
    }
}

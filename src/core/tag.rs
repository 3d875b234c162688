//! Tag templates and branch sanitizing.

use super::reference::is_valid_tag;

const MAX_TAG: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sanitize {
    /// lower-case; each run outside [a-z0-9._-] becomes one `-`; `-` runs collapse; `.`/`-` trimmed at both ends
    Strict,
    /// docker/metadata-action's rule: case kept, each run outside [a-zA-Z0-9._-] becomes `-`
    MetadataAction,
}

/// Strips the ref prefix a branch may carry (`refs/heads/x`, `refs/tags/v1`) and sanitizes it.
pub fn sanitize_branch(raw: &str, style: Sanitize) -> String {
    let name = raw
        .strip_prefix("refs/heads/")
        .or_else(|| raw.strip_prefix("refs/tags/"))
        .unwrap_or(raw);
    match style {
        Sanitize::Strict => {
            let mut out = String::with_capacity(name.len());
            for c in name.chars() {
                let c = c.to_ascii_lowercase();
                let keep = c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || c == '.'
                    || c == '_'
                    || c == '-';
                let c = if keep { c } else { '-' };
                if !(c == '-' && out.ends_with('-')) {
                    out.push(c);
                }
            }
            trim_edges(&out).to_string()
        }
        Sanitize::MetadataAction => {
            let mut out = String::with_capacity(name.len());
            let mut in_run = false;
            for c in name.chars() {
                if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                    out.push(c);
                    in_run = false;
                } else if !in_run {
                    out.push('-');
                    in_run = true;
                }
            }
            out
        }
    }
}

fn trim_edges(s: &str) -> &str {
    s.trim_matches(|c| c == '.' || c == '-')
}

/// The values a template may use. `None` means the event does not provide it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    pub pr: Option<u64>,
    pub branch: Option<String>,
    pub sha: Option<String>,
    pub short_sha: Option<String>,
    pub run_id: Option<u64>,
    pub run_number: Option<u64>,
    pub run_attempt: Option<u64>,
    /// The image's name, for templates that name one image (`local-tag`, `artifact-name`, …).
    pub name: Option<String>,
    /// The image's `{tree}` (with `paths`), for `tree-tag` and `promote-to`.
    pub tree: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("template `{template}` uses `{{{var}}}`, {}", unavailable_why(var))]
    Unavailable { template: String, var: String },
    #[error("template `{template}` has unknown variable `{{{var}}}` (known: pr, branch, sha, short_sha, run_id, run_number, run_attempt, name, tree)")]
    UnknownVar { template: String, var: String },
    #[error("template `{0}` has an unclosed `{{`")]
    Unclosed(String),
    #[error("branch `{0}` sanitizes to nothing: set the `tag` input or use a template without {{branch}}")]
    EmptyBranch(String),
    #[error("template `{template}` renders `{tag}`, which is not a valid tag ([A-Za-z0-9_][A-Za-z0-9._-]{{0,127}})")]
    Invalid { template: String, tag: String },
}

/// `{tree}` is missing for another reason than the event: it exists only with `paths`, and only
/// where the image's files are known (the commit's own tag is rendered before they are).
fn unavailable_why(var: &str) -> &'static str {
    match var {
        "tree" => "which exists only with `paths`, in `tree-tag`, `promote-to` and `local-tag`",
        _ => "which this event does not provide",
    }
}

enum Piece<'a> {
    Lit(&'a str),
    Var(&'a str),
}

fn pieces(template: &str) -> Result<Vec<Piece<'_>>, TagError> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Lit(&rest[..open]));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| TagError::Unclosed(template.to_string()))?
            + open;
        out.push(Piece::Var(&rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Lit(rest));
    }
    Ok(out)
}

/// Renders a tag template. `raw_branch` is sanitized here; when the result would pass 128
/// characters only `{branch}` is shortened (and re-trimmed), so every other part survives.
pub fn render(
    template: &str,
    vars: &Vars,
    raw_branch: Option<&str>,
    style: Sanitize,
) -> Result<String, TagError> {
    let parts = pieces(template)?;
    let mut fixed_len = 0;
    let mut branch_uses = 0;
    let mut rendered: Vec<Option<String>> = Vec::with_capacity(parts.len());
    for p in &parts {
        let value = match p {
            Piece::Lit(s) => Some(s.to_string()),
            Piece::Var("branch") => {
                branch_uses += 1;
                None
            }
            Piece::Var(v) => Some(var_value(template, v, vars)?),
        };
        if let Some(s) = &value {
            fixed_len += s.len();
        }
        rendered.push(value);
    }
    let mut branch = String::new();
    if let Some(room) = MAX_TAG.saturating_sub(fixed_len).checked_div(branch_uses) {
        let raw = raw_branch.ok_or_else(|| TagError::Unavailable {
            template: template.into(),
            var: "branch".into(),
        })?;
        branch = sanitize_branch(raw, style);
        if branch.is_empty() {
            return Err(TagError::EmptyBranch(raw.to_string()));
        }
        if branch.len() > room {
            // sanitized text is ASCII, so any byte index is a char boundary
            branch.truncate(room);
            branch = trim_edges(&branch).to_string();
            if branch.is_empty() {
                return Err(TagError::Invalid {
                    template: template.into(),
                    tag: "(no room left for {branch})".into(),
                });
            }
        }
    }
    let tag: String = rendered
        .into_iter()
        .map(|v| v.unwrap_or_else(|| branch.clone()))
        .collect();
    if !is_valid_tag(&tag) {
        return Err(TagError::Invalid {
            template: template.into(),
            tag,
        });
    }
    Ok(tag)
}

fn var_value(template: &str, var: &str, vars: &Vars) -> Result<String, TagError> {
    let unavailable = || TagError::Unavailable {
        template: template.into(),
        var: var.into(),
    };
    let num = |v: Option<u64>| v.map(|n| n.to_string()).ok_or_else(unavailable);
    match var {
        "pr" => num(vars.pr),
        "sha" => vars.sha.clone().ok_or_else(unavailable),
        "short_sha" => vars.short_sha.clone().ok_or_else(unavailable),
        "run_id" => num(vars.run_id),
        "run_number" => num(vars.run_number),
        "run_attempt" => num(vars.run_attempt),
        "name" => vars.name.clone().ok_or_else(unavailable),
        "tree" => vars.tree.clone().ok_or_else(unavailable),
        _ => Err(TagError::UnknownVar {
            template: template.into(),
            var: var.into(),
        }),
    }
}

/// Renders an artifact-name template; names are not tags, so nothing is sanitized but `{branch}`.
pub fn render_name(
    template: &str,
    vars: &Vars,
    raw_branch: Option<&str>,
) -> Result<String, TagError> {
    let mut out = String::new();
    for p in pieces(template)? {
        match p {
            Piece::Lit(s) => out.push_str(s),
            Piece::Var("branch") => {
                let raw = raw_branch.ok_or_else(|| TagError::Unavailable {
                    template: template.into(),
                    var: "branch".into(),
                })?;
                out.push_str(&sanitize_branch(raw, Sanitize::Strict));
            }
            Piece::Var(v) => out.push_str(&var_value(template, v, vars)?),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_sanitizing() {
        let cases = [
            ("main", "main"),
            ("Feature/Login", "feature-login"),
            ("refs/heads/my/feature#1245", "my-feature-1245"),
            ("feat/$(id)", "feat-id"),
            ("a;b`c", "a-b-c"),
            ("x'y\"z", "x-y-z"),
            ("a%0Ab", "a-0ab"),
            ("a\nb", "a-b"),
            ("fix/ünïcødé-名前", "fix-n-c-d"),
            ("--.lead.trail.--", "lead.trail"),
            ("a//b", "a-b"),
            ("a_-_b", "a_-_b"),
            ("release/v1.2", "release-v1.2"),
            ("refs/tags/V1.0", "v1.0"),
            ("$()", ""),
            ("名前", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize_branch(raw, Sanitize::Strict), want, "{raw:?}");
        }
    }

    #[test]
    fn metadata_action_sanitizing() {
        // the examples docker/metadata-action documents for type=ref,event=branch
        let cases = [
            ("refs/heads/my/feature#1245", "my-feature-1245"),
            ("releases/v1", "releases-v1"),
            ("my/branch", "my-branch"),
            ("refs/heads/master", "master"),
            ("Feature/Login", "Feature-Login"),
            ("a//b", "a-b"),
            ("feat/$(id)", "feat-id-"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                sanitize_branch(raw, Sanitize::MetadataAction),
                want,
                "{raw:?}"
            );
        }
    }

    fn vars() -> Vars {
        Vars {
            pr: Some(42),
            branch: None,
            sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
            short_sha: Some("0123456".into()),
            run_id: Some(999),
            run_number: Some(12),
            run_attempt: Some(2),
            name: None,
            tree: None,
        }
    }

    #[test]
    fn renders_templates() {
        let v = vars();
        let cases: &[(&str, Option<&str>, Sanitize, &str)] = &[
            (
                "pr-{pr}-{short_sha}",
                None,
                Sanitize::Strict,
                "pr-42-0123456",
            ),
            (
                "{branch}-{short_sha}",
                Some("Feature/X"),
                Sanitize::Strict,
                "feature-x-0123456",
            ),
            (
                "{branch}-{short_sha}",
                Some("Feature/X"),
                Sanitize::MetadataAction,
                "Feature-X-0123456",
            ),
            (
                "{sha}",
                None,
                Sanitize::Strict,
                "0123456789abcdef0123456789abcdef01234567",
            ),
            (
                "run-{run_id}.{run_number}.{run_attempt}",
                None,
                Sanitize::Strict,
                "run-999.12.2",
            ),
            ("{branch}", Some("feat/$(id)"), Sanitize::Strict, "feat-id"),
            ("b-{branch}", Some("a;b`c"), Sanitize::Strict, "b-a-b-c"),
        ];
        for (t, b, s, want) in cases {
            assert_eq!(render(t, &v, *b, *s).unwrap(), *want, "{t}");
        }
    }

    #[test]
    fn long_branches_shorten_only_the_branch() {
        let v = vars();
        let long = format!("feature/{}", "x".repeat(300));
        let tag = render("{branch}-{short_sha}", &v, Some(&long), Sanitize::Strict).unwrap();
        assert_eq!(tag.len(), 128);
        assert!(tag.ends_with("-0123456"));
        // shortening lands on a separator: it is re-trimmed, never leaving `--`
        let dashy = format!("{}-{}", "a".repeat(119), "b".repeat(50));
        let tag = render("{branch}-{short_sha}", &v, Some(&dashy), Sanitize::Strict).unwrap();
        assert_eq!(tag, format!("{}-0123456", "a".repeat(119)));
        // two uses share the room
        let tag = render(
            "{branch}-{branch}-{sha}",
            &v,
            Some(&"y".repeat(200)),
            Sanitize::Strict,
        )
        .unwrap();
        assert!(
            tag.len() <= 128 && tag.ends_with(v.sha.as_deref().unwrap()),
            "{tag}"
        );
        // 250 characters of unicode and punctuation still give a valid tag
        let wild = "ü;$(x)".repeat(50);
        let tag = render("{branch}-{short_sha}", &v, Some(&wild), Sanitize::Strict).unwrap();
        assert!(is_valid_tag(&tag), "{tag}");
    }

    #[test]
    fn template_errors() {
        let v = Vars { pr: None, ..vars() };
        let e = render("pr-{pr}", &v, None, Sanitize::Strict).unwrap_err();
        assert!(
            matches!(e, TagError::Unavailable { ref var, .. } if var == "pr"),
            "{e}"
        );
        let e = render("x-{nope}", &v, None, Sanitize::Strict).unwrap_err();
        assert!(matches!(e, TagError::UnknownVar { .. }), "{e}");
        let e = render("pr-{tree}", &Vars::default(), None, Sanitize::Strict).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template `pr-{tree}` uses `{tree}`, which exists only with `paths`, in `tree-tag`, `promote-to` and `local-tag`"
        );
        let e = render("x-{pr", &v, None, Sanitize::Strict).unwrap_err();
        assert!(matches!(e, TagError::Unclosed(_)), "{e}");
        let e = render("{branch}-{short_sha}", &v, Some("$()"), Sanitize::Strict).unwrap_err();
        assert!(matches!(e, TagError::EmptyBranch(_)), "{e}");
        assert!(e.to_string().contains("sanitizes to nothing"));
        // metadata-action keeps a leading `-`, which no tag may start with: a clear error
        let e = render("{branch}", &v, Some("/x"), Sanitize::MetadataAction).unwrap_err();
        assert!(matches!(e, TagError::Invalid { .. }), "{e}");
        let e = render("{branch}-{short_sha}", &v, None, Sanitize::Strict).unwrap_err();
        assert!(
            matches!(e, TagError::Unavailable { ref var, .. } if var == "branch"),
            "{e}"
        );
    }

    #[test]
    fn artifact_names() {
        let v = vars();
        assert_eq!(
            render_name("pr-image-{pr}", &v, None).unwrap(),
            "pr-image-42"
        );
        assert_eq!(render_name("push-image", &v, None).unwrap(), "push-image");
        assert_eq!(
            render_name("img-{branch}", &v, Some("Fix/Y")).unwrap(),
            "img-fix-y"
        );
    }
}

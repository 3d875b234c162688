//! Step outputs and the step-summary table, as text. Writing them is the toolkit's job.

/// Every output of the contract, in its order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    pub tag: String,
    pub image: String,
    pub digest: String,
    pub r#ref: String,
    pub image_id: String,
    pub local_image: String,
    pub source: String,
    pub sha: String,
    pub short_sha: String,
    pub pr_number: String,
    pub revision: String,
    pub labels: String,
}

pub const OUTPUT_NAMES: [&str; 12] = [
    "tag",
    "image",
    "digest",
    "ref",
    "image-id",
    "local-image",
    "source",
    "sha",
    "short-sha",
    "pr-number",
    "revision",
    "labels",
];

impl Outputs {
    pub fn entries(&self) -> [(&'static str, &str); 12] {
        let v = [
            &self.tag,
            &self.image,
            &self.digest,
            &self.r#ref,
            &self.image_id,
            &self.local_image,
            &self.source,
            &self.sha,
            &self.short_sha,
            &self.pr_number,
            &self.revision,
            &self.labels,
        ];
        std::array::from_fn(|i| (OUTPUT_NAMES[i], v[i].as_str()))
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("output `{0}` contains the output delimiter; refusing to write a file a value could break out of")]
pub struct DelimiterInValue(pub String);

/// The runner's `name<<DELIMITER` form:
/// https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#multiline-strings
pub fn format_output_file(
    entries: &[(&str, &str)],
    delimiter: &str,
) -> Result<String, DelimiterInValue> {
    let mut out = String::new();
    for (name, value) in entries {
        if value.contains(delimiter) || name.contains(delimiter) {
            return Err(DelimiterInValue(name.to_string()));
        }
        out.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    Ok(out)
}

/// `ghadelimiter_` plus random hex, as @actions/core does.
pub fn delimiter_from(random: [u8; 16]) -> String {
    format!("ghadelimiter_{}", hex::encode(random))
}

/// A Markdown table cell: no row breaks, no column breaks, no HTML.
pub fn cell(value: &str) -> String {
    let v: String = value
        .chars()
        .map(|c| match c {
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    let v = v
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace('`', "'");
    if v.is_empty() {
        " ".into()
    } else {
        format!("`{v}`")
    }
}

pub fn summary_table(title: &str, rows: &[(&str, &str)], notes: &[String]) -> String {
    let mut s = format!("### {title}\n\n| output | value |\n|---|---|\n");
    for (k, v) in rows {
        s.push_str(&format!("| {k} | {} |\n", cell(v)));
    }
    for n in notes {
        s.push_str(&format!("\n> {}\n", n.replace(['\n', '\r'], " ")));
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_file_format() {
        let got = format_output_file(
            &[("tag", "pr-1-abc"), ("labels", "a=b\nc=d"), ("digest", "")],
            "D",
        )
        .unwrap();
        assert_eq!(
            got,
            "tag<<D\npr-1-abc\nD\nlabels<<D\na=b\nc=d\nD\ndigest<<D\n\nD\n"
        );
    }

    #[test]
    fn delimiter_in_value_is_refused() {
        let d = delimiter_from([7; 16]);
        assert!(d.starts_with("ghadelimiter_") && d.len() == 13 + 32);
        let evil = format!("x\n{d}\nimage=evil");
        assert_eq!(
            format_output_file(&[("local-image", &evil)], &d),
            Err(DelimiterInValue("local-image".into()))
        );
    }

    #[test]
    fn all_outputs_are_named_in_order() {
        let o = Outputs {
            tag: "t".into(),
            r#ref: "r".into(),
            labels: "l".into(),
            ..Default::default()
        };
        let e = o.entries();
        assert_eq!(e.map(|(n, _)| n), OUTPUT_NAMES);
        assert_eq!((e[0].1, e[3].1, e[11].1), ("t", "r", "l"));
    }

    #[test]
    fn summary_cells_cannot_break_the_table() {
        let cases = [
            ("a|b", "`a\\|b`"),
            ("a\nb", "`a b`"),
            ("<script>", "`&lt;script&gt;`"),
            ("x`y", "`x'y`"),
            ("", " "),
        ];
        for (v, want) in cases {
            assert_eq!(cell(v), want, "{v:?}");
        }
        let t = summary_table(
            "Resolved",
            &[("tag", "v1")],
            &["built from a fork\nof x".into()],
        );
        assert!(
            t.contains("| tag | `v1` |") && t.contains("> built from a fork of x"),
            "{t}"
        );
    }
}

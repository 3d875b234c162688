//! A small toolkit in the spirit of @actions/core: workflow commands, masks, groups, outputs, summary.
//! Every line it prints has the registered secrets replaced by `***`, and untrusted text is escaped
//! so that it cannot start a workflow command of its own.
//! https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands
//!
//! How the runner finds commands in a line (actions/runner, src/Runner.Common/ActionCommand.cs,
//! tried in this order by ActionCommandManager.TryProcessCommand):
//! - `::name props::data` after `TrimStart()` (Unicode whitespace), checked with a culture-aware
//!   `StartsWith("::")`;
//! - `##[name props]data` anywhere in the line, found with a culture-aware `IndexOf("##[")`.
//!
//! Culture-aware matching on Linux is ICU's, which skips ignorable characters (controls, soft
//! hyphen, zero-width and bidi marks, …): `#\u{200B}#[` matches `##[`. So `neutralize` treats every
//! character that might be ignorable as invisible, and breaks a match with a plain space.

use crate::core::outputs::{delimiter_from, format_output_file, DelimiterInValue};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The title our annotations carry: the bold first line GitHub shows above each one.
pub const TITLE: &str = "image-resolver";

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

#[derive(Clone)]
pub struct Toolkit {
    out: Sink,
    secrets: Arc<Mutex<Vec<String>>>,
    debug: bool,
}

/// Escapes a command's message the way the runner decodes it.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes an annotation property (`title=`) the way the runner decodes it: `%` first, so an
/// escape already in the text stays text.
pub fn escape_property(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
        .replace(':', "%3A")
        .replace(',', "%2C")
}

/// Characters an ICU comparison may skip, and more: controls, and anything outside ASCII that is
/// neither a letter, a digit nor whitespace. Too wide a set only adds a harmless space.
fn maybe_ignorable(c: char) -> bool {
    c.is_control() || (!c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace())
}

/// Makes one log line (already free of line breaks) unable to start a workflow command: a space
/// after the first `:` of a leading `::`, and before the `[` of every `##[`.
pub fn neutralize(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 2);
    let mut chars = line.chars().peekable();
    // leading `::`, after whitespace and anything ignorable
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || maybe_ignorable(c) {
            out.push(c);
            chars.next();
        } else {
            break;
        }
    }
    if chars.peek() == Some(&':') {
        let rest: String = chars.clone().skip(1).collect();
        if rest.trim_start_matches(maybe_ignorable).starts_with(':') {
            out.push(':');
            out.push(' ');
            chars.next();
        }
    }
    // `##[` anywhere: the last two visible characters before a `[`
    let mut last = [' ', ' '];
    for c in chars {
        if c == '[' && last == ['#', '#'] {
            out.push(' ');
            last = ['#', ' '];
        }
        out.push(c);
        if !maybe_ignorable(c) {
            last = [last[1], c];
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Level {
    Notice,
    Warning,
    Error,
}

impl Toolkit {
    pub fn stdout(debug: bool) -> Toolkit {
        Toolkit::to_writer(Box::new(std::io::stdout()), debug)
    }

    pub fn to_writer(w: Box<dyn Write + Send>, debug: bool) -> Toolkit {
        Toolkit {
            out: Arc::new(Mutex::new(w)),
            secrets: Arc::default(),
            debug,
        }
    }

    pub fn debug_enabled(&self) -> bool {
        self.debug
    }

    /// Registers a secret: the runner hides it from the log, and so do we, before it is ever used.
    pub fn add_mask(&self, secret: &str) {
        let secret = secret.trim();
        if secret.is_empty() {
            return;
        }
        let mut secrets = self.secrets.lock().unwrap();
        if secrets.iter().any(|s| s == secret) {
            return;
        }
        secrets.push(secret.to_string());
        // longest first, so a secret containing another is hidden whole
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        drop(secrets);
        self.raw(&format!("::add-mask::{}", escape_data(secret)));
    }

    pub fn redact(&self, s: &str) -> String {
        let mut s = s.to_string();
        for secret in self.secrets.lock().unwrap().iter() {
            s = s.replace(secret.as_str(), "***");
        }
        s
    }

    fn raw(&self, line: &str) {
        let mut out = self.out.lock().unwrap();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn command(&self, name: &str, msg: &str) {
        self.raw(&format!("::{name}::{}", escape_data(&self.redact(msg))));
    }

    /// A plain log line: one line (breaks escaped), secrets hidden, and no workflow command in it
    /// however the text was crafted.
    pub fn info(&self, msg: &str) {
        self.raw(&neutralize(&escape_data(&self.redact(msg))));
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.command("debug", msg);
        }
    }
    pub fn notice(&self, msg: &str) {
        self.command("notice", msg);
    }
    pub fn warning(&self, msg: &str) {
        self.command("warning", msg);
    }
    pub fn error(&self, msg: &str) {
        self.command("error", msg);
    }

    /// An annotation with a title: the bold first line of the annotation in the run's summary.
    pub fn notice_titled(&self, title: &str, msg: &str) {
        self.annotate(Level::Notice, title, msg);
    }
    pub fn warning_titled(&self, title: &str, msg: &str) {
        self.annotate(Level::Warning, title, msg);
    }
    pub fn error_titled(&self, title: &str, msg: &str) {
        self.annotate(Level::Error, title, msg);
    }

    fn annotate(&self, level: Level, title: &str, msg: &str) {
        let name = match level {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
        };
        let title = escape_property(&self.redact(title));
        if title.is_empty() {
            return self.command(name, msg);
        }
        self.raw(&format!(
            "::{name} title={title}::{}",
            escape_data(&self.redact(msg))
        ));
    }

    pub fn group(&self, title: &str) {
        self.command("group", title);
    }
    pub fn end_group(&self) {
        self.raw("::endgroup::");
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FileCommandError {
    // the io error is part of the text, not a `source`, so `{:#}` prints it once
    #[error("{var} points to `{}`, which cannot be opened for appending ({error}): is the step running on a GitHub runner, or was the file removed?", path.display())]
    Open {
        var: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("writing {var} (`{}`): {error}", path.display())]
    Write {
        var: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Delimiter(#[from] DelimiterInValue),
}

/// A runner file command (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY): appended to, never created,
/// because the runner creates it and a missing one means something is wrong.
pub struct FileCommand {
    var: &'static str,
    path: PathBuf,
}

impl FileCommand {
    /// Opens once up front, so a missing or read-only file fails before any work is done.
    pub fn check(var: &'static str, path: &Path) -> Result<FileCommand, FileCommandError> {
        OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|error| FileCommandError::Open {
                var,
                path: path.into(),
                error,
            })?;
        Ok(FileCommand {
            var,
            path: path.into(),
        })
    }

    pub fn append(&self, text: &str) -> Result<(), FileCommandError> {
        let mut f = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|error| FileCommandError::Open {
                var: self.var,
                path: self.path.clone(),
                error,
            })?;
        f.write_all(text.as_bytes())
            .map_err(|error| FileCommandError::Write {
                var: self.var,
                path: self.path.clone(),
                error,
            })
    }

    /// Writes outputs with a fresh random delimiter that no value contains.
    pub fn write_outputs(&self, entries: &[(&str, &str)]) -> Result<(), FileCommandError> {
        let delimiter = delimiter_from(rand::random());
        let text = format_output_file(entries, &delimiter)?;
        self.append(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Buf {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn kit(debug: bool) -> (Toolkit, Buf) {
        let b = Buf::default();
        (Toolkit::to_writer(Box::new(b.clone()), debug), b)
    }

    #[test]
    fn masks_precede_and_redact() {
        let (t, b) = kit(false);
        t.add_mask("s3cret-token");
        t.add_mask("s3cret");
        t.add_mask("");
        t.info("using s3cret-token and s3cret");
        t.error("auth with s3cret failed");
        let out = b.text();
        assert_eq!(
            out,
            "::add-mask::s3cret-token\n::add-mask::s3cret\nusing *** and ***\n::error::auth with *** failed\n"
        );
    }

    #[test]
    fn untrusted_text_cannot_inject_commands() {
        let (t, b) = kit(false);
        t.info("registry said: boom\n::set-output name=image::evil\r\n::add-mask::x");
        t.info("::warning::spoofed");
        t.error("100% bad\nsecond line");
        let out = b.text();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(
            lines[0],
            "registry said: boom%0A::set-output name=image::evil%0D%0A::add-mask::x"
        );
        assert_eq!(lines[1], ": :warning::spoofed");
        assert_eq!(lines[2], "::error::100%25 bad%0Asecond line");
    }

    /// The runner's command detection, modelled from actions/runner's ActionCommand.TryParseV2 and
    /// TryParse, with ICU's culture-aware matching modelled as "ignorable characters are absent".
    /// Any command name counts: `stop-commands` can register arbitrary ones.
    fn runner_finds_a_command(line: &str) -> bool {
        let ignorable = |c: char| {
            (c.is_control() && c != '\t')
                || matches!(c, '\u{ad}' | '\u{34f}' | '\u{180e}' | '\u{200b}'..='\u{200f}'
                    | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}')
        };
        let seen: String = line.chars().filter(|&c| !ignorable(c)).collect();
        let v2 = {
            let t = seen.trim_start();
            t.starts_with("::") && t[2..].contains("::")
        };
        let v1 = seen
            .find("##[")
            .is_some_and(|i| seen[i + 3..].contains(']'));
        v2 || v1
    }

    #[test]
    fn neutralized_lines_hold_no_command_for_the_runner() {
        let attacks = [
            "::warning::spoofed",
            "  \t::set-output name=image::evil",
            "\u{a0}\u{2003}::error::x",
            "\u{200b}::error::x",
            ":\u{ad}:error::x",
            "##[warning title=spoofed]x.tar",
            "artifact entry ##[error]x",
            "a #\u{200b}#[warning]x",
            "##\u{0}[group]x",
            "###[warning]x",
            "##[##[warning]x",
        ];
        for a in attacks {
            assert!(runner_finds_a_command(a), "the model misses {a:?}");
            let (t, b) = kit(false);
            t.info(a);
            let out = b.text();
            assert_eq!(out.lines().count(), 1, "{out:?}");
            assert!(
                !runner_finds_a_command(out.trim_end_matches('\n')),
                "{a:?} -> {out:?}"
            );
        }
        // every short mix of the characters that matter: never a command, and nothing but spaces added
        let alphabet = [
            "#", "[", "]", ":", " ", "\t", "\u{200b}", "\u{ad}", "\u{0}", "x",
        ];
        let n = alphabet.len();
        for mut i in 0..n.pow(6) {
            let mut line = String::new();
            for _ in 0..6 {
                line.push_str(alphabet[i % n]);
                i /= n;
            }
            let out = neutralize(&line);
            assert!(!runner_finds_a_command(&out), "{line:?} -> {out:?}");
            assert_eq!(out.replace(' ', ""), line.replace(' ', ""), "{line:?}");
        }
        // ordinary text is left alone
        for plain in [
            "pulling ghcr.io/a/b:v1",
            "issue #12 [fixed]",
            "a::b",
            "# [x]",
            "time 10:30",
        ] {
            assert_eq!(neutralize(plain), plain);
        }
    }

    #[test]
    fn titled_annotations_escape_their_properties() {
        let (t, b) = kit(false);
        t.add_mask("tok");
        t.warning_titled("Revision: mismatch, 100%\nnow", "label tok::x");
        t.error_titled("", "plain");
        t.notice_titled("Fork", "built from a fork");
        assert_eq!(
            b.text(),
            "::add-mask::tok\n::warning title=Revision%3A mismatch%2C 100%25%0Anow::label ***::x\n::error::plain\n::notice title=Fork::built from a fork\n"
        );
        assert_eq!(escape_property("%3A"), "%253A");
    }

    #[test]
    fn debug_groups_and_annotations() {
        let (t, b) = kit(false);
        t.debug("hidden");
        t.group("Registry");
        t.warning("w");
        t.notice("n");
        t.end_group();
        assert_eq!(
            b.text(),
            "::group::Registry\n::warning::w\n::notice::n\n::endgroup::\n"
        );
        let (t, b) = kit(true);
        t.debug("shown");
        assert_eq!(b.text(), "::debug::shown\n");
    }

    #[test]
    fn output_file_commands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        assert!(matches!(
            FileCommand::check("GITHUB_OUTPUT", &path),
            Err(FileCommandError::Open { .. })
        ));
        std::fs::write(&path, "earlier<<X\nv\nX\n").unwrap();
        let f = FileCommand::check("GITHUB_OUTPUT", &path).unwrap();
        f.write_outputs(&[("tag", "v1"), ("labels", "a=b\nc=d")])
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("earlier<<X\nv\nX\ntag<<ghadelimiter_"),
            "{text}"
        );
        let d = text
            .lines()
            .nth(3)
            .unwrap()
            .trim_start_matches("tag<<")
            .to_string();
        assert_eq!(
            text,
            format!("earlier<<X\nv\nX\ntag<<{d}\nv1\n{d}\nlabels<<{d}\na=b\nc=d\n{d}\n")
        );
    }

    #[cfg(unix)]
    #[test]
    fn read_only_output_file_is_an_error() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        // root ignores file modes; a directory in the file's place fails for everyone
        let dir_path = dir.path().join("isdir");
        std::fs::create_dir(&dir_path).unwrap();
        let e = FileCommand::check("GITHUB_OUTPUT", &dir_path)
            .err()
            .expect("a directory is not an output file");
        assert!(e.to_string().contains("GITHUB_OUTPUT"), "{e}");
    }
}

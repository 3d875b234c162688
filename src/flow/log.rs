//! One image's log. With one image, lines go straight out; with several resolving at once, each
//! image's lines are kept and printed together in one group when it is done, so they never
//! interleave. Annotations (warnings, notices) are kept in order too, named after the image.
//! A group opens with its first line, so a phase that printed nothing leaves no empty group.

use crate::toolkit::{Toolkit, TITLE};
use std::sync::{Arc, Mutex};

tokio::task_local! {
    /// The image being resolved by the current future: lines from shared clients (the GitHub
    /// API) land in that image's log, inside its group.
    static CURRENT: Arc<Log>;
}

/// Runs `f` with `log` as the current image's log.
pub async fn scoped<F: std::future::Future>(log: Arc<Log>, f: F) -> F::Output {
    CURRENT.scope(log, f).await
}

/// An info line for the current image's log; false when no image is being resolved.
pub fn current_info(m: &str) -> bool {
    CURRENT.try_with(|l| l.info(m)).is_ok()
}

/// A debug line for the current image's log; false when no image is being resolved.
pub fn current_debug(m: &str) -> bool {
    CURRENT.try_with(|l| l.debug(m)).is_ok()
}

enum Line {
    Info(String),
    Debug(String),
    Notice(&'static str, String),
    Warning(&'static str, String),
}

pub struct Log {
    kit: Toolkit,
    /// `Some(name)` when several images share the step.
    name: Option<String>,
    kept: Mutex<Vec<Line>>,
    /// A group asked for and not yet opened (nothing printed in it yet), or open.
    group: Mutex<Group>,
}

#[derive(Default)]
enum Group {
    #[default]
    None,
    Pending(String),
    Open,
}

impl Log {
    pub fn direct(kit: &Toolkit) -> Log {
        Log {
            kit: kit.clone(),
            name: None,
            kept: Mutex::default(),
            group: Mutex::default(),
        }
    }

    pub fn kept(kit: &Toolkit, name: &str) -> Log {
        Log {
            kit: kit.clone(),
            name: Some(name.to_string()),
            kept: Mutex::default(),
            group: Mutex::default(),
        }
    }

    fn emit(&self, line: Line) {
        if self.name.is_some() {
            self.kept.lock().expect("log lines").push(line);
            return;
        }
        if matches!(line, Line::Debug(_)) && !self.kit.debug_enabled() {
            return;
        }
        {
            let mut g = self.group.lock().expect("log group");
            if let Group::Pending(title) = &*g {
                self.kit.group(title);
                *g = Group::Open;
            }
        }
        match line {
            Line::Info(m) => self.kit.info(&m),
            Line::Debug(m) => self.kit.debug(&m),
            Line::Notice(t, m) => self.kit.notice_titled(t, &m),
            Line::Warning(t, m) => self.kit.warning_titled(t, &m),
        }
    }

    fn named(&self, m: &str) -> String {
        match &self.name {
            Some(n) => format!("{n}: {m}"),
            None => m.to_string(),
        }
    }

    pub fn info(&self, m: &str) {
        self.emit(Line::Info(self.named(m)));
    }
    pub fn debug(&self, m: &str) {
        self.emit(Line::Debug(self.named(m)));
    }
    pub fn notice(&self, m: &str) {
        self.emit(Line::Notice(TITLE, self.named(m)));
    }
    pub fn warning(&self, m: &str) {
        self.emit(Line::Warning(TITLE, self.named(m)));
    }
    /// An annotation titled by its kind (`image-resolver: Promotion skipped`).
    pub fn notice_titled(&self, title: &'static str, m: &str) {
        self.emit(Line::Notice(title, self.named(m)));
    }
    pub fn warning_titled(&self, title: &'static str, m: &str) {
        self.emit(Line::Warning(title, self.named(m)));
    }

    /// A phase of one image: a group of its own when lines go straight out.
    pub fn group(&self, title: &str) {
        if self.name.is_none() {
            let mut g = self.group.lock().expect("log group");
            if matches!(*g, Group::Open) {
                self.kit.end_group();
            }
            *g = Group::Pending(title.to_string());
        }
    }
    pub fn end_group(&self) {
        if self.name.is_none() {
            let was = std::mem::take(&mut *self.group.lock().expect("log group"));
            if matches!(was, Group::Open) {
                self.kit.end_group();
            }
        }
    }

    /// Prints what was kept, as one group titled `title`.
    pub fn flush(&self, title: &str) {
        let lines = std::mem::take(&mut *self.kept.lock().expect("log lines"));
        if lines.is_empty() {
            return;
        }
        self.kit.group(title);
        for line in lines {
            match line {
                Line::Info(m) => self.kit.info(&m),
                Line::Debug(m) => self.kit.debug(&m),
                Line::Notice(t, m) => self.kit.notice_titled(t, &m),
                Line::Warning(t, m) => self.kit.warning_titled(t, &m),
            }
        }
        self.kit.end_group();
    }
}

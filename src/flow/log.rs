//! One image's log. With one image, lines go straight out; with several resolving at once, each
//! image's lines are kept and printed together in one group when it is done, so they never
//! interleave. Annotations (warnings, notices) are kept in order too, named after the image.

use crate::toolkit::{Toolkit, TITLE};
use std::sync::Mutex;

enum Line {
    Info(String),
    Debug(String),
    Notice(String),
    Warning(String),
}

pub struct Log {
    kit: Toolkit,
    /// `Some(name)` when several images share the step.
    name: Option<String>,
    kept: Mutex<Vec<Line>>,
}

impl Log {
    pub fn direct(kit: &Toolkit) -> Log {
        Log {
            kit: kit.clone(),
            name: None,
            kept: Mutex::default(),
        }
    }

    pub fn kept(kit: &Toolkit, name: &str) -> Log {
        Log {
            kit: kit.clone(),
            name: Some(name.to_string()),
            kept: Mutex::default(),
        }
    }

    fn emit(&self, line: Line) {
        if self.name.is_some() {
            self.kept.lock().expect("log lines").push(line);
            return;
        }
        match line {
            Line::Info(m) => self.kit.info(&m),
            Line::Debug(m) => self.kit.debug(&m),
            Line::Notice(m) => self.kit.notice_titled(TITLE, &m),
            Line::Warning(m) => self.kit.warning_titled(TITLE, &m),
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
        self.emit(Line::Notice(self.named(m)));
    }
    pub fn warning(&self, m: &str) {
        self.emit(Line::Warning(self.named(m)));
    }

    /// A phase of one image: a group of its own when lines go straight out.
    pub fn group(&self, title: &str) {
        if self.name.is_none() {
            self.kit.group(title);
        }
    }
    pub fn end_group(&self) {
        if self.name.is_none() {
            self.kit.end_group();
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
                Line::Notice(m) => self.kit.notice_titled(TITLE, &m),
                Line::Warning(m) => self.kit.warning_titled(TITLE, &m),
            }
        }
        self.kit.end_group();
    }
}

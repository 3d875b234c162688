//! The pure core: no I/O. Everything here is a function of its arguments, so it is tested with tables.
pub mod clean;
pub mod credentials;
pub mod event;
pub mod mismatch;
pub mod outputs;
pub mod plan;
pub mod platform;
pub mod promote;
pub mod reference;
pub mod result;
pub mod revision;
pub mod size;
pub mod summary;
pub mod tag;
pub mod tree;
pub mod verdict;
pub mod vsa;

/// A full commit SHA: 40 hex digits, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha(String);

impl Sha {
    pub fn parse(s: &str) -> Option<Sha> {
        (s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Sha(s.to_ascii_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn short(&self, len: usize) -> &str {
        &self.0[..len.clamp(4, 40)]
    }
}

impl std::fmt::Display for Sha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

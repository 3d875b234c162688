//! Adapters to the outside world, each built from its own config with a swappable endpoint.
//! They do not import each other; `run` wires them together.
pub mod docker;
pub mod download;
pub mod github;
pub mod limits;
pub mod registry;

/// An error and its causes on one line: HTTP clients' Display hides the cause (refused, reset).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

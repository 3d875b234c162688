//! Adapters to the outside world, each built from its own config with a swappable endpoint.
//! They do not import each other; `run` wires them together.
pub mod docker;
pub mod download;
pub mod github;
pub mod limits;
pub mod ports;
pub mod registry;

/// A third-party error and its causes on one line: HTTP clients' Display hides the cause
/// (refused, reset). Our own errors never repeat their source; hyper's connect error does
/// (`tcp connect error: Connection refused` over the io error `Connection refused`), so a cause
/// that the text already ends with is not added again.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("tcp connect error: {0}")]
    struct Connect(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request")]
    struct Send(#[source] Connect);

    #[test]
    fn chain_shows_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        assert_eq!(
            super::chain(&Send(Connect(io))),
            "error sending request: tcp connect error: Connection refused"
        );
    }
}

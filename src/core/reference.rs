//! Image references, parsed by Docker's grammar (distribution/reference), without any network.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The repository as the user wrote it (normalised names are the registry adapter's business).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("is empty: set it to a repository such as ghcr.io/acme/app")]
    Empty,
    #[error("`{0}` has upper-case letters: Docker repository names are lower-case")]
    UpperCase(String),
    #[error("`{0}` is not a valid repository name (components are [a-z0-9] joined by `.`, `_`, `__` or `-`)")]
    BadRepository(String),
    #[error("tag `{0}` is not valid: tags match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}")]
    BadTag(String),
    #[error("digest `{0}` is not valid: expected sha256: and 64 lower-case hex digits")]
    BadDigest(String),
}

impl ImageRef {
    pub fn parse(input: &str) -> Result<ImageRef, RefError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                if !is_valid_digest(d) {
                    return Err(RefError::BadDigest(d.to_string()));
                }
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is what follows the last ':' after the last '/' (a port sits before a '/').
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(rest[at + 1..].to_string()))
            }
            None => (rest, None),
        };
        if repository.is_empty() {
            return Err(RefError::Empty);
        }
        if let Some(t) = &tag {
            if !is_valid_tag(t) {
                return Err(RefError::BadTag(t.clone()));
            }
        }
        validate_repository(repository)?;
        Ok(ImageRef {
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// `repository:tag`, or `repository@digest` for a digest-only reference: how logs, outputs
    /// and the summary name an image.
    pub fn shown(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => format!("{}:{t}", self.repository),
            (None, Some(d)) => format!("{}@{d}", self.repository),
            (None, None) => self.repository.clone(),
        }
    }

    /// A digest and no tag: the image is pinned, whatever the event.
    pub fn is_pinned(&self) -> bool {
        self.digest.is_some() && self.tag.is_none()
    }

    pub fn is_full(&self) -> bool {
        self.tag.is_some() || self.digest.is_some()
    }

    /// The registry host (with port) the reference points at; Docker Hub when there is none.
    pub fn registry(&self) -> &str {
        registry_of(&self.repository)
    }

    pub fn with_tag(&self, tag: &str) -> ImageRef {
        ImageRef {
            repository: self.repository.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Docker Hub's name, as Docker normalises it: what a reference without a registry host means.
pub const DOCKER_HUB: &str = "docker.io";

/// The registry host (with port) of a repository, as Docker reads it: a first component with a
/// `.` or `:`, or `localhost`; Docker Hub (`docker.io`) when there is none. `index.docker.io`,
/// Docker's legacy name for Hub, is Hub too, so its credentials are the same login.
pub fn registry_of(repository: &str) -> &str {
    match repository.split_once('/') {
        Some(("index.docker.io", _)) => DOCKER_HUB,
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => DOCKER_HUB,
    }
}

/// Docker Hub under any of its names: `docker.io` (what `registry_of` gives for it) or the host
/// its API is served from.
pub fn is_docker_hub(registry: &str) -> bool {
    matches!(registry, DOCKER_HUB | "registry-1.docker.io")
}

/// The repository's path on its registry: without the host, and for Docker Hub's one-part names
/// (`nginx`, `docker.io/nginx`) under `library/`, where Hub keeps its official images.
pub fn repository_path(repository: &str) -> String {
    let explicit = match repository.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            Some(rest)
        }
        _ => None,
    };
    let path = explicit.unwrap_or(repository);
    if registry_of(repository) == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    }
}

/// Docker reaches loopback registries over plain HTTP by default; so do we.
pub fn is_loopback_registry(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(registry)
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

pub fn is_valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

pub fn is_valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:")
        .map(|h| h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
        .unwrap_or(false)
}

fn validate_repository(repo: &str) -> Result<(), RefError> {
    let bad = || RefError::BadRepository(repo.to_string());
    let mut parts: Vec<&str> = repo.split('/').collect();
    if parts.len() > 1 && registry_of(repo) != "docker.io" {
        let domain = parts.remove(0);
        let (host, port) = match domain.rsplit_once(':') {
            Some((h, p)) if !domain.starts_with('[') || h.ends_with(']') => (h, Some(p)),
            _ => (domain, None),
        };
        if let Some(p) = port {
            if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
        }
        let host_ok = host.starts_with('[')
            || (!host.is_empty()
                && host
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-'));
        if !host_ok {
            return Err(bad());
        }
    }
    if parts.is_empty() {
        return Err(bad());
    }
    for p in parts {
        if p.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(RefError::UpperCase(repo.to_string()));
        }
        if !is_path_component(p) {
            return Err(bad());
        }
    }
    Ok(())
}

fn is_path_component(p: &str) -> bool {
    // [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
    let b = p.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &p[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-')) {
            return false;
        }
    }
    true
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let d = format!("sha256:{}", "a".repeat(64));
        let cases: Vec<(&str, &str, Option<&str>, Option<&str>)> = vec![
            ("ghcr.io/acme/charon", "ghcr.io/acme/charon", None, None),
            (
                "ghcr.io/acme/charon:pr-1-abc",
                "ghcr.io/acme/charon",
                Some("pr-1-abc"),
                None,
            ),
            (
                "127.0.0.1:5000/acme/charon",
                "127.0.0.1:5000/acme/charon",
                None,
                None,
            ),
            (
                "127.0.0.1:5000/acme/charon:v1",
                "127.0.0.1:5000/acme/charon",
                Some("v1"),
                None,
            ),
            ("localhost/app", "localhost/app", None, None),
            ("acme/charon", "acme/charon", None, None),
            ("busybox", "busybox", None, None),
            ("a/b-c__d.e/f", "a/b-c__d.e/f", None, None),
        ];
        for (input, repo, tag, digest) in cases {
            let r = ImageRef::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (r.repository.as_str(), r.tag.as_deref(), r.digest.as_deref()),
                (repo, tag, digest),
                "{input}"
            );
            assert_eq!(r.to_string(), input);
        }
        let r = ImageRef::parse(&format!("ghcr.io/acme/charon@{d}")).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert!(r.is_full());
    }

    #[test]
    fn rejects_bad_references() {
        type Check = fn(&RefError) -> bool;
        let cases: Vec<(&str, Check)> = vec![
            ("", |e| matches!(e, RefError::Empty)),
            ("  ", |e| matches!(e, RefError::Empty)),
            ("ghcr.io/Acme/charon", |e| {
                matches!(e, RefError::UpperCase(_))
            }),
            ("ghcr.io/acme/charon@sha256:abc", |e| {
                matches!(e, RefError::BadDigest(_))
            }),
            ("ghcr.io/acme/charon@md5:abc", |e| {
                matches!(e, RefError::BadDigest(_))
            }),
            ("ghcr.io/acme/charon:-x", |e| {
                matches!(e, RefError::BadTag(_))
            }),
            ("ghcr.io/acme/charon:", |e| matches!(e, RefError::BadTag(_))),
            ("ghcr.io//charon", |e| {
                matches!(e, RefError::BadRepository(_))
            }),
            ("ghcr.io/acme/-x", |e| {
                matches!(e, RefError::BadRepository(_))
            }),
            ("ghcr.io/acme/a..b", |e| {
                matches!(e, RefError::BadRepository(_))
            }),
            ("ghcr.io/ac me/x", |e| {
                matches!(e, RefError::BadRepository(_))
            }),
            (":tag", |e| matches!(e, RefError::Empty)),
        ];
        for (input, want) in cases {
            let e = ImageRef::parse(input).expect_err(input);
            assert!(want(&e), "{input}: {e:?}");
        }
    }

    #[test]
    fn registries_and_loopback() {
        let cases = [
            ("127.0.0.1:5000/a", "127.0.0.1:5000", true),
            ("127.3.2.1/a", "127.3.2.1", true),
            ("localhost:5000/a", "localhost:5000", true),
            ("[::1]:5000/a", "[::1]:5000", true),
            ("ghcr.io/a/b", "ghcr.io", false),
            ("10.0.0.1:5000/a", "10.0.0.1:5000", false),
            ("acme/b", "docker.io", false),
            ("index.docker.io/acme/b", "docker.io", false),
            ("registry-1.docker.io/acme/b", "registry-1.docker.io", false),
        ];
        for (repo, reg, lo) in cases {
            assert_eq!(registry_of(repo), reg, "{repo}");
            assert_eq!(is_loopback_registry(reg), lo, "{repo}");
        }
    }

    #[test]
    fn docker_hub_names_as_docker_reads_them() {
        for (repo, registry, path) in [
            ("nginx", "docker.io", "library/nginx"),
            ("docker.io/nginx", "docker.io", "library/nginx"),
            ("index.docker.io/nginx", "docker.io", "library/nginx"),
            ("acme/app", "docker.io", "acme/app"),
            ("docker.io/acme/app", "docker.io", "acme/app"),
            ("docker.io/library/nginx", "docker.io", "library/nginx"),
            ("ghcr.io/acme/app", "ghcr.io", "acme/app"),
            ("localhost/app", "localhost", "app"),
            ("127.0.0.1:5000/x/y", "127.0.0.1:5000", "x/y"),
            ("acme.azurecr.io/team/app", "acme.azurecr.io", "team/app"),
        ] {
            let r = ImageRef::parse(repo).unwrap();
            assert_eq!(
                (r.registry(), repository_path(&r.repository).as_str()),
                (registry, path),
                "{repo}"
            );
        }
    }
}

//! Which credentials go to which registry: a policy of plain data, decided here, so that the
//! GitHub token can never travel to a registry that is not GitHub's own.

use std::fmt;

/// A password or token. `Debug` never shows it; reading it takes an explicit call.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A login at one registry, as the login port hands it out (its secret already masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub username: String,
    pub password: Secret,
}

/// What the inputs and the runner say about logins.
#[derive(Debug, Clone, Default)]
pub struct CredentialPolicy {
    /// `registry-username` / `registry-password`: for the source images' registries.
    pub source_username: Option<String>,
    pub source_password: Option<Secret>,
    /// `promote-username` / `promote-password`: for promotion targets on other registries.
    pub promote_username: Option<String>,
    pub promote_password: Option<Secret>,
    pub github_token: Option<Secret>,
    pub actor: Option<String>,
    /// Registries run by GitHub, where `GITHUB_ACTOR` + `github-token` is the default login:
    /// ghcr.io, and a GHES instance's `containers.<host>`.
    pub github_registries: Vec<String>,
    /// The source images' registries.
    pub source_registries: Vec<String>,
}

impl CredentialPolicy {
    /// The registries GitHub runs for this server: ghcr.io for github.com, `containers.<host>` for
    /// a GitHub Enterprise Server (its container registry lives on that subdomain).
    pub fn github_registries_for(server_url: &str) -> Vec<String> {
        let host = server_url
            .split("://")
            .nth(1)
            .unwrap_or(server_url)
            .split(['/', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match host.as_str() {
            "" | "github.com" => vec!["ghcr.io".into()],
            h => vec!["ghcr.io".into(), format!("containers.{h}")],
        }
    }

    pub fn for_registry(&self, registry: &str) -> Option<Auth> {
        let (user, pass) = if self.source_registries.iter().any(|r| r == registry) {
            (&self.source_username, &self.source_password)
        } else {
            (&self.promote_username, &self.promote_password)
        };
        let github = self.github_registries.iter().any(|r| r == registry);
        let login = |u: &str, p: &Secret| {
            Some(Auth {
                username: u.to_string(),
                password: p.clone(),
            })
        };
        match (user, pass) {
            (Some(u), Some(p)) => login(u, p),
            (None, Some(p)) if github => login(self.actor.as_deref()?, p),
            (None, None) if github => login(self.actor.as_deref()?, self.github_token.as_ref()?),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CredentialPolicy {
        CredentialPolicy {
            actor: Some("octocat".into()),
            github_token: Some(Secret::new("gh-s3cret")),
            github_registries: CredentialPolicy::github_registries_for("https://github.com"),
            source_registries: vec!["ghcr.io".into(), "registry.example.com".into()],
            ..Default::default()
        }
    }

    fn login(u: &str, p: &str) -> Option<Auth> {
        Some(Auth {
            username: u.into(),
            password: Secret::new(p),
        })
    }

    #[test]
    fn the_github_token_goes_to_github_registries_only() {
        let p = policy();
        assert_eq!(p.for_registry("ghcr.io"), login("octocat", "gh-s3cret"));
        assert_eq!(p.for_registry("registry.example.com"), None);
        assert_eq!(p.for_registry("prod.example.com"), None);
        let no_actor = CredentialPolicy {
            actor: None,
            ..policy()
        };
        assert_eq!(no_actor.for_registry("ghcr.io"), None);
    }

    #[test]
    fn own_logins_per_side() {
        let p = CredentialPolicy {
            source_username: Some("me".into()),
            source_password: Some(Secret::new("pw")),
            promote_username: Some("deployer".into()),
            promote_password: Some(Secret::new("push")),
            ..policy()
        };
        assert_eq!(p.for_registry("registry.example.com"), login("me", "pw"));
        assert_eq!(p.for_registry("ghcr.io"), login("me", "pw"));
        assert_eq!(
            p.for_registry("prod.example.com"),
            login("deployer", "push")
        );
        let pat_only = CredentialPolicy {
            source_password: Some(Secret::new("pat")),
            ..policy()
        };
        assert_eq!(pat_only.for_registry("ghcr.io"), login("octocat", "pat"));
        assert_eq!(pat_only.for_registry("registry.example.com"), None);
    }

    #[test]
    fn usernames_are_used_as_given() {
        // Harbor robot accounts, ACR's token user, GAR's and ECR's fixed users
        for user in [
            "robot$ci+deployer",
            "00000000-0000-0000-0000-000000000000",
            "oauth2accesstoken",
            "AWS",
        ] {
            let p = CredentialPolicy {
                source_username: Some(user.into()),
                source_password: Some(Secret::new("pw")),
                ..policy()
            };
            assert_eq!(p.for_registry("registry.example.com"), login(user, "pw"));
        }
    }

    #[test]
    fn ghes_container_registry_and_redaction() {
        assert_eq!(
            CredentialPolicy::github_registries_for("https://github.acme.corp/"),
            vec!["ghcr.io".to_string(), "containers.github.acme.corp".into()]
        );
        let p = CredentialPolicy {
            github_registries: CredentialPolicy::github_registries_for("https://github.acme.corp"),
            source_registries: vec!["containers.github.acme.corp".into()],
            ..policy()
        };
        assert_eq!(
            p.for_registry("containers.github.acme.corp"),
            login("octocat", "gh-s3cret")
        );
        assert_eq!(format!("{:?}", Secret::new("gh-s3cret")), "Secret(***)");
        assert!(!format!("{p:?}").contains("gh-s3cret"));
    }
}

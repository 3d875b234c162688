//! Logins as the inputs and the runner decide them (`core::credentials`), masked as they are
//! handed out.

use crate::core::credentials::{Auth, CredentialPolicy};
use crate::flow::ports::Login;
use anyhow::Result;
use std::sync::Arc;

/// Registers a secret with the runner's log masking.
pub type Mask = Arc<dyn Fn(&str) + Send + Sync>;

pub struct PolicyLogin {
    policy: CredentialPolicy,
    mask: Mask,
}

impl PolicyLogin {
    pub fn new(policy: CredentialPolicy, mask: Mask) -> PolicyLogin {
        PolicyLogin { policy, mask }
    }
}

impl Login for PolicyLogin {
    async fn login(&self, registry: &str) -> Result<Option<Auth>> {
        let auth = self.policy.for_registry(registry);
        // masked before anyone holds it, whatever its source
        if let Some(a) = &auth {
            (self.mask)(a.password.expose());
        }
        Ok(auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::credentials::Secret;
    use std::sync::Mutex;

    #[tokio::test]
    async fn every_secret_handed_out_is_masked_first() {
        let masked = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = masked.clone();
        let login = PolicyLogin::new(
            CredentialPolicy {
                source_username: Some("bot".into()),
                source_password: Some(Secret::new("s3cret")),
                source_registries: vec!["r.example".into()],
                ..Default::default()
            },
            Arc::new(move |s: &str| seen.lock().unwrap().push(s.into())),
        );
        assert_eq!(login.login("other.example").await.unwrap(), None);
        assert!(masked.lock().unwrap().is_empty());
        let auth = login.login("r.example").await.unwrap().unwrap();
        assert_eq!(auth.username, "bot");
        assert_eq!(*masked.lock().unwrap(), ["s3cret"]);
    }
}

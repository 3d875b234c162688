//! Retries with exponential backoff and jitter, for faults that may pass.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Where adapters report retries and progress; `run` points it at the toolkit.
pub type Logger = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Worth another attempt; the server may say when (`Retry-After`, `x-ratelimit-reset`).
    Transient {
        retry_after: Option<Duration>,
    },
    Permanent,
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub attempts: u32,
    pub base: Duration,
    /// No single wait is longer, whatever a server asks for.
    pub max_wait: Duration,
}

impl Policy {
    pub fn new(attempts: u32) -> Policy {
        Policy {
            attempts: attempts.max(1),
            base: Duration::from_millis(250),
            max_wait: Duration::from_secs(60),
        }
    }

    /// The wait before attempt `n + 1` (n counts from 1): doubling, ±50% jitter, capped.
    pub fn backoff(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        let wait = match retry_after {
            Some(d) => d,
            None => {
                let exp = self.base.saturating_mul(1 << (n - 1).min(16));
                exp.mul_f64(0.5 + rand::random::<f64>())
            }
        };
        wait.min(self.max_wait)
    }
}

/// Runs `op` until it succeeds, fails permanently, or `attempts` are used up. `log` hears each retry.
pub async fn retry<T, E, F, Fut>(
    policy: &Policy,
    what: &str,
    log: &(dyn Fn(&str) + Sync),
    classify: impl Fn(&E) -> Fault,
    mut op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut n = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let Fault::Transient { retry_after } = classify(&e) else {
                    return Err(e);
                };
                if n >= policy.attempts {
                    return Err(e);
                }
                let wait = policy.backoff(n, retry_after);
                log(&format!(
                    "{what}: attempt {n} of {} failed ({e}); retrying in {:.1}s",
                    policy.attempts,
                    wait.as_secs_f64()
                ));
                tokio::time::sleep(wait).await;
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Mutex;

    fn fast(attempts: u32) -> Policy {
        Policy {
            attempts,
            base: Duration::from_millis(1),
            max_wait: Duration::from_millis(20),
        }
    }

    #[tokio::test]
    async fn retries_transient_until_success() {
        let calls = AtomicU32::new(0);
        let logs = Mutex::new(Vec::new());
        let r: Result<u32, String> = retry(
            &fast(3),
            "op",
            &|m| logs.lock().unwrap().push(m.to_string()),
            |_| Fault::Transient { retry_after: None },
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                if n < 3 {
                    Err(format!("503 #{n}"))
                } else {
                    Ok(n)
                }
            },
        )
        .await;
        assert_eq!(r, Ok(3));
        assert_eq!(logs.lock().unwrap().len(), 2);
        assert!(logs.lock().unwrap()[0].contains("attempt 1 of 3 failed (503 #1)"));
    }

    #[tokio::test]
    async fn permanent_faults_and_exhaustion() {
        for (fault, attempts, want_calls) in [
            (Fault::Permanent, 5, 1),
            (Fault::Transient { retry_after: None }, 2, 2),
        ] {
            let calls = AtomicU32::new(0);
            let r: Result<(), &str> = retry(
                &fast(attempts),
                "op",
                &|_| {},
                |_| fault,
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err("no")
                },
            )
            .await;
            assert_eq!((r, calls.load(Ordering::SeqCst)), (Err("no"), want_calls));
        }
    }

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let p = Policy::new(5);
        for n in 1..=20 {
            assert!(p.backoff(n, None) <= p.max_wait);
        }
        let first = p.backoff(1, None);
        assert!(
            first >= Duration::from_millis(125) && first <= Duration::from_millis(375),
            "{first:?}"
        );
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
    }
}

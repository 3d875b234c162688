//! Retries for faults that may pass: `backon`'s jittered exponential backoff, with the server's
//! own wait (`Retry-After`, `x-ratelimit-reset`) taking precedence, capped, and each retry logged.

use backon::{ExponentialBuilder, Retryable};
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
    /// Attempts in all, the first included (the `retries` input).
    pub attempts: u32,
    /// The first wait; each next one doubles, with jitter.
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

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.base)
            .with_max_delay(self.max_wait)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.attempts.saturating_sub(1) as usize)
    }
}

/// Runs `op` until it succeeds, fails permanently, or `attempts` are used up. `log` hears each retry.
pub async fn retry<T, E, F, Fut>(
    policy: &Policy,
    what: &str,
    log: &(dyn Fn(&str) + Sync),
    classify: impl Fn(&E) -> Fault,
    op: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let classify = &classify;
    let mut attempt = 0;
    op.retry(policy.backoff())
        .when(|e| classify(e) != Fault::Permanent)
        // the server's wait wins over ours, within the cap; `None` means attempts are used up
        .adjust(|e, ours| match (ours, classify(e)) {
            (
                Some(_),
                Fault::Transient {
                    retry_after: Some(theirs),
                },
            ) => Some(theirs.min(policy.max_wait)),
            (ours, _) => ours,
        })
        .notify(|e, wait| {
            attempt += 1;
            log(&format!(
                "{what}: attempt {attempt} of {} failed ({e}); retrying in {:.1}s",
                policy.attempts,
                wait.as_secs_f64()
            ))
        })
        .await
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
            (Fault::Transient { retry_after: None }, 1, 1),
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

    #[tokio::test(start_paused = true)]
    async fn waits_are_bounded_and_honour_retry_after() {
        // the server's 2 s wins over our 250 ms; an hour is cut to the 60 s cap
        for (asked, want) in [(2, 2), (3600, 60)] {
            let start = tokio::time::Instant::now();
            let calls = AtomicU32::new(0);
            let _: Result<(), &str> = retry(
                &Policy::new(2),
                "op",
                &|_| {},
                |_| Fault::Transient {
                    retry_after: Some(Duration::from_secs(asked)),
                },
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err("429")
                },
            )
            .await;
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            assert_eq!(start.elapsed().as_secs(), want, "asked {asked}");
        }
        // our own waits: jittered, never past the cap, however many attempts
        let start = tokio::time::Instant::now();
        let _: Result<(), &str> = retry(
            &Policy::new(12),
            "op",
            &|_| {},
            |_| Fault::Transient { retry_after: None },
            || async { Err("503") },
        )
        .await;
        assert!(
            start.elapsed() <= Duration::from_secs(11 * 60),
            "{:?}",
            start.elapsed()
        );
        assert!(
            start.elapsed() >= Duration::from_millis(250 * 11),
            "{:?}",
            start.elapsed()
        );
    }
}

//! The steps, as free functions over one shared `Ports` value: `locate` (and `look_up`, which
//! adds the revision check), `check_revision`, `attest`, `materialize` and `apply_tags`,
//! `load_artifact`, `promote`. Each takes the values its command planned and returns values; the
//! commands (src/command/) say which steps a mode runs, in which order.

mod artifact;
mod attest;
pub mod clean;
mod content;
mod daemon;
mod locate;
pub mod log;
pub mod ports;
mod promote;
mod revision;

pub use artifact::load_artifact;
pub use attest::{attest, attest_image, found_in_registry};
pub use content::{content_of, objects_at};
pub use daemon::{apply_tags, materialize, PullBy};
pub use locate::{locate, look_up, look_up_either};
pub use promote::{promote, same_source};
pub use revision::check_revision;

use crate::core::plan::{ImagePlan, Miss, Scope};
use crate::core::result::{Done, Failed};
use crate::toolkit::Toolkit;
use futures_util::StreamExt;
use log::Log;
use ports::World;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// Images resolved at once: enough to overlap registry round trips, few enough for 2-core runners.
const CONCURRENCY: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("`{reference}` was built from {found}, not the expected commit `{expected}`: {advice}; only if that image is right after all, set `revision-check: warn`")]
    RevisionMismatch {
        reference: String,
        expected: String,
        found: String,
        advice: String,
    },
    /// The registry's reason names the reference; this says why nothing else was tried.
    #[error("{reason}; {why_not}")]
    NoUsableImage {
        reason: String,
        why_not: &'static str,
        /// What the registry's miss was, for the annotation's title.
        miss: Miss,
    },
    #[error("{reason}; the artifact fallback failed too: {artifact}")]
    BothFailed {
        reason: String,
        artifact: String,
        miss: Miss,
    },
}

/// Commit → its tree, each looked up once even when images ask at the same time.
pub type Trees = std::collections::HashMap<String, Arc<tokio::sync::OnceCell<String>>>;

/// The outside world as one step sees it, built once and shared by every image.
pub struct Ports<'a, W: World> {
    pub registry: &'a W::Registry,
    pub github: &'a W::GitHub,
    pub login: &'a W::Login,
    pub kit: &'a Toolkit,
    /// Commit → tree, as looked up: the revision check and a merged-PR promotion ask for the
    /// same commits, and several images for the same label.
    trees: std::sync::Mutex<Trees>,
    /// Tree → its entries, as looked up: every path of every image walks the same trees.
    listings: std::sync::Mutex<Listings>,
}

/// Tree → its entries, each listed once per step.
pub type Listings = std::collections::HashMap<
    String,
    Arc<tokio::sync::OnceCell<Arc<Vec<crate::model::TreeEntry>>>>,
>;

impl<'a, W: World> Ports<'a, W> {
    pub fn new(
        (registry, github, login): (&'a W::Registry, &'a W::GitHub, &'a W::Login),
        kit: &'a Toolkit,
    ) -> Self {
        Ports {
            registry,
            github,
            login,
            kit,
            trees: Default::default(),
            listings: Default::default(),
        }
    }
}

/// Every image through `step`, concurrently; each result in plan order and timed. With
/// `images`, each image's log is kept and printed in one piece when it is done.
pub async fn each_image<'p, F, Fut>(
    kit: &Toolkit,
    scope: Scope,
    images: &'p [ImagePlan],
    step: F,
) -> Vec<Result<Done, Failed>>
where
    F: Fn(usize, &'p ImagePlan, Arc<Log>) -> Fut,
    Fut: Future<Output = anyhow::Result<Done>>,
{
    let step = &step;
    futures_util::stream::iter(images.iter().enumerate())
        .map(|(i, img)| async move {
            let log = Arc::new(match scope {
                Scope::Keyed => Log::kept(kit, &img.name),
                Scope::One => Log::direct(kit),
            });
            let start = Instant::now();
            // lines of shared clients (the GitHub API) land in this image's log
            let r = log::scoped(log.clone(), step(i, img, log.clone())).await;
            log.flush(&format!("{} ({})", img.name, img.display()));
            match r {
                Ok(done) => Ok(Done {
                    elapsed: start.elapsed(),
                    ..done
                }),
                Err(error) => Err(Failed {
                    name: img.name.clone(),
                    reference: img.reference.clone(),
                    mismatch: matches!(
                        error.downcast_ref::<ResolveError>(),
                        Some(ResolveError::RevisionMismatch { .. })
                    ),
                    error,
                    elapsed: start.elapsed(),
                }),
            }
        })
        .buffered(CONCURRENCY)
        .collect()
        .await
}

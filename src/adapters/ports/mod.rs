//! The ports' real implementations (the traits are the flow's: src/flow/ports.rs), over the
//! client adapters; each built once per step and shared by every image.

mod docker;
mod github;
mod login;
mod registries;

pub use docker::Docker;
pub use github::LazyGitHub;
pub use login::{Mask, PolicyLogin};
pub use registries::Registries;

use crate::flow::ports::World;

/// The real registries, GitHub and Docker daemon.
pub struct Live;

impl World for Live {
    type Registry = Registries<PolicyLogin>;
    type GitHub = LazyGitHub;
    type Daemon = Docker;
    type Login = PolicyLogin;
}

//! Adapters to the outside world, each built from its own config with a swappable endpoint.
//! They do not import each other; `run` wires them together.
pub mod docker;
pub mod download;
pub mod github;
pub mod registry;

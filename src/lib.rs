//! image-resolver: resolve, verify and pull the exact image a build produced.
pub mod config;
pub mod core;
pub mod toolkit;

//! image-resolver: resolve, verify and pull the exact image a build produced.
pub mod adapters;
pub mod artifact;
pub mod command;
pub mod config;
pub mod core;
pub mod env;
pub mod flow;
pub mod model;
pub mod provenance;
pub mod retry;
pub mod run;
pub mod toolkit;

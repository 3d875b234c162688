//! What an image is built from: each path of `paths` walked from a commit's tree through
//! `git/trees`, every tree listed once per step whoever asks.

use super::ports::{GitHubApi, World};
use super::revision::tree_of;
use super::Ports;
use crate::core::tree::{tree_value, Object};
use crate::core::Sha;
use crate::model::TreeEntry;
use anyhow::Result;
use std::sync::Arc;

/// The object of each path at `commit`, in `paths` order; `None` where a path is missing.
pub async fn objects_at<W: World>(
    p: &Ports<'_, W>,
    commit: &Sha,
    paths: &[String],
) -> Result<Vec<Object>> {
    let root = tree_of(p, commit.as_str()).await?;
    let mut objects = Vec::with_capacity(paths.len());
    for path in paths {
        objects.push((path.clone(), walk(p, &root, path).await?));
    }
    Ok(objects)
}

/// `{tree}` of `paths` at `commit`, and the objects it is computed from.
pub async fn content_of<W: World>(
    p: &Ports<'_, W>,
    commit: &Sha,
    paths: &[String],
) -> Result<(String, Vec<Object>)> {
    let objects = objects_at(p, commit, paths).await?;
    Ok((tree_value(&objects), objects))
}

/// One path from a root tree: into each directory named, the last component's object; a
/// component missing, or one that is not a directory with more to walk, is a missing path.
async fn walk<W: World>(p: &Ports<'_, W>, root: &str, path: &str) -> Result<Option<String>> {
    let mut tree = root.to_string();
    let mut parts = path.split('/').peekable();
    while let Some(name) = parts.next() {
        let entries = listing(p, &tree).await?;
        let Some(entry) = entries.iter().find(|e| e.name == name) else {
            return Ok(None);
        };
        if parts.peek().is_none() {
            return Ok(Some(entry.sha.clone()));
        }
        if !entry.is_tree {
            return Ok(None);
        }
        tree = entry.sha.clone();
    }
    Ok(None)
}

/// A tree's entries, asked of the API once per step.
async fn listing<W: World>(p: &Ports<'_, W>, tree: &str) -> Result<Arc<Vec<TreeEntry>>> {
    let cell = p
        .listings
        .lock()
        .expect("listings")
        .entry(tree.to_ascii_lowercase())
        .or_default()
        .clone();
    let entries = cell
        .get_or_try_init(|| async {
            Ok::<_, anyhow::Error>(Arc::new(p.github.git_tree(tree).await?))
        })
        .await?;
    Ok(entries.clone())
}

//! The Docker daemon, through `bollard` and `DOCKER_HOST`. Pull and load report failures inside
//! HTTP 200 streams, so every stream is drained and every message checked.

use super::chain;
pub use crate::model::{DockerError, LocalImage};
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ImportImageOptionsBuilder, RemoveImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::path::Path;
use std::time::Duration;

/// Older daemons lack what we use (platform-aware pulls, load quiet mode); Docker 20.10 speaks 1.41.
const MIN_API: (u64, u64) = (1, 40);

/// The socket the runner mounts into every container action.
pub const MOUNTED_SOCKET: &str = "/var/run/docker.sock";

pub struct DockerConfig {
    /// `unix:///var/run/docker.sock` or `tcp://host:port`.
    pub host: String,
}

pub struct DockerDaemon {
    docker: Docker,
    host: String,
    pub api_version: String,
    /// `os/arch` of the daemon: the platform to pick when none is set.
    pub platform: String,
    /// Set when `DOCKER_HOST` named a socket that does not exist and the mounted one was used.
    pub warning: Option<String>,
}

/// `DOCKER_HOST` as given; or, when it names a unix socket that does not exist here (a rootless or
/// setup-docker path from the job's env reaches the container unchanged), the socket the runner
/// mounts, with a warning that says so. Neither there: the error names both.
fn pick_host(host: &str, mounted: &Path) -> Result<(String, Option<String>), DockerError> {
    let Some(path) = host.strip_prefix("unix://") else {
        return Ok((host.to_string(), None));
    };
    if Path::new(path).exists() {
        return Ok((host.to_string(), None));
    }
    let fallback = format!("unix://{}", mounted.display());
    if path == mounted.as_os_str() || !mounted.exists() {
        let detail = if path == mounted.as_os_str() {
            "no such socket".to_string()
        } else {
            format!(
                "no such socket, and no `{}` to fall back on",
                mounted.display()
            )
        };
        return Err(DockerError::Unreachable {
            host: host.to_string(),
            detail,
        });
    }
    let warning = format!(
        "`DOCKER_HOST` is `{host}`, which does not exist in the action's container: using the mounted `{}` instead (unset `DOCKER_HOST` for this step to silence this)",
        mounted.display()
    );
    Ok((fallback, Some(warning)))
}

impl DockerDaemon {
    /// Connects and negotiates the API version (bollard's default is newer than Docker 20.10's).
    pub async fn connect(cfg: DockerConfig) -> Result<DockerDaemon, DockerError> {
        let (host, warning) = pick_host(&cfg.host, Path::new(MOUNTED_SOCKET))?;
        let unreachable = |detail: String| DockerError::Unreachable {
            host: host.clone(),
            detail,
        };
        // a long timeout: pulls and loads of large images stream for minutes
        let timeout = 3600;
        let docker = if let Some(path) = host.strip_prefix("unix://") {
            if !std::path::Path::new(path).exists() {
                return Err(unreachable("no such socket".into()));
            }
            Docker::connect_with_unix(&host, timeout, API_DEFAULT_VERSION)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(&host, timeout, API_DEFAULT_VERSION)
        } else {
            return Err(unreachable(
                "unsupported DOCKER_HOST scheme (use unix:// or tcp://)".into(),
            ));
        }
        .map_err(|e| unreachable(chain(&e)))?;
        let version = tokio::time::timeout(Duration::from_secs(10), docker.version())
            .await
            .map_err(|_| unreachable("no answer within 10s".into()))?
            .map_err(|e| unreachable(chain(&e)))?;
        let api = version.api_version.clone().unwrap_or_default();
        let parsed = parse_api(&api).ok_or_else(|| {
            unreachable(format!("unexpected /version answer (ApiVersion {api:?})"))
        })?;
        if parsed < MIN_API {
            return Err(DockerError::TooOld { host, version: api });
        }
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 10s".into()))?
            .map_err(|e| unreachable(chain(&e)))?;
        let platform = format!(
            "{}/{}",
            version.os.as_deref().unwrap_or("linux"),
            version.arch.as_deref().unwrap_or("amd64")
        );
        Ok(DockerDaemon {
            docker,
            host,
            api_version: api,
            platform,
            warning,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The image the daemon holds under `name` (a tag, an ID or `repo@digest`), if any.
    pub async fn image(&self, name: &str) -> Result<Option<LocalImage>, DockerError> {
        match self.docker.inspect_image(name).await {
            Ok(i) => Ok(Some(LocalImage {
                id: i.id.unwrap_or_default(),
                labels: i
                    .config
                    .and_then(|c| c.labels)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                repo_tags: i.repo_tags.unwrap_or_default(),
                repo_digests: i.repo_digests.unwrap_or_default(),
            })),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(DockerError::Api {
                action: format!("inspect {name}"),
                detail: chain(&e),
            }),
        }
    }

    /// Pulls `repository` at `tag_or_digest`, draining the progress stream; an error inside it fails.
    /// Credentials travel in `X-Registry-Auth` only.
    pub async fn pull(
        &self,
        repository: &str,
        tag_or_digest: &str,
        platform: Option<&str>,
        credentials: Option<(&str, &str, &str)>,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<(), DockerError> {
        let reference = format!(
            "{repository}{}{tag_or_digest}",
            if tag_or_digest.starts_with("sha256:") {
                "@"
            } else {
                ":"
            }
        );
        let mut opts = CreateImageOptionsBuilder::new()
            .from_image(repository)
            .tag(tag_or_digest);
        if let Some(p) = platform {
            opts = opts.platform(p);
        }
        let creds = credentials.map(|(server, user, pass)| DockerCredentials {
            username: Some(user.to_string()),
            password: Some(pass.to_string()),
            serveraddress: Some(server.to_string()),
            ..Default::default()
        });
        let mut stream = self.docker.create_image(Some(opts.build()), None, creds);
        let mut layers_done = 0;
        // the daemon's last word on a pull (`Status: Downloaded newer image …`)
        let mut finished = false;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        return Err(DockerError::Pull {
                            reference,
                            detail: e,
                        });
                    }
                    let status = info.status.unwrap_or_default();
                    if status == "Pull complete" || status == "Already exists" {
                        layers_done += 1;
                    } else if status.starts_with("Digest:") || status.starts_with("Status:") {
                        finished |= status.starts_with("Status:");
                        progress(&status);
                    }
                }
                // after the final status, a remainder the JSON-lines decoder cannot frame (seen
                // at the end of long pulls) is no failure: the caller checks the image is there
                Err(e) if finished && e.to_string().contains("bytes remaining on stream") => break,
                Err(e) => {
                    return Err(DockerError::Pull {
                        reference,
                        detail: stream_detail(e),
                    })
                }
            }
        }
        progress(&format!("{layers_done} layer(s) ready"));
        Ok(())
    }

    pub async fn tag(&self, source: &str, repository: &str, tag: &str) -> Result<(), DockerError> {
        let opts = TagImageOptionsBuilder::new()
            .repo(repository)
            .tag(tag)
            .build();
        self.docker
            .tag_image(source, Some(opts))
            .await
            .map_err(|e| DockerError::Api {
                action: format!("tag {source} as {repository}:{tag}"),
                detail: chain(&e),
            })
    }

    /// Removes an image we loaded and did not trust, by ID and without force, only when no tag
    /// names it (deleting by ID would take a single tag with it) and no container uses it (the
    /// daemon refuses then). Returns whether it went.
    pub async fn remove_unused(&self, id: &str) -> bool {
        match self.image(id).await {
            Ok(Some(image)) if image.repo_tags.is_empty() => {}
            _ => return false,
        }
        let opts = RemoveImageOptionsBuilder::new()
            .force(false)
            .noprune(false)
            .build();
        self.docker.remove_image(id, Some(opts), None).await.is_ok()
    }

    /// Loads a `docker save` tar from a byte stream and returns the loaded image's ID, which the
    /// daemon reports as `Loaded image ID: sha256:…` for an image without tags.
    pub async fn load<S>(&self, what: &str, body: S) -> Result<String, DockerError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let opts = ImportImageOptionsBuilder::new().quiet(true).build();
        let mut stream = self.docker.import_image_stream(opts, body, None);
        let mut id = None;
        let mut named = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        return Err(DockerError::Load {
                            what: what.into(),
                            detail: e,
                        });
                    }
                    let text = info.stream.unwrap_or_default();
                    for line in text.lines() {
                        if let Some(rest) = line.trim().strip_prefix("Loaded image ID: ") {
                            id = Some(rest.trim().to_string());
                        } else if let Some(rest) = line.trim().strip_prefix("Loaded image: ") {
                            named.push(rest.trim().to_string());
                        }
                    }
                }
                Err(e) => {
                    return Err(DockerError::Load {
                        what: what.into(),
                        detail: stream_detail(e),
                    })
                }
            }
        }
        if !named.is_empty() {
            // we strip names before loading; a name here means the tar carried one we missed
            return Err(DockerError::Load {
                what: what.into(),
                detail: format!("the daemon applied names {named:?}"),
            });
        }
        id.ok_or_else(|| DockerError::Load {
            what: what.into(),
            detail: "the daemon reported no loaded image".into(),
        })
    }
}

/// An error inside a pull or load stream is the daemon's own text; any other, its cause chain.
fn stream_detail(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerStreamError { error } => error,
        e => chain(&e),
    }
}

fn parse_api(v: &str) -> Option<(u64, u64)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::{pick_host, DockerError};
    use std::path::Path;

    #[test]
    fn a_missing_docker_host_socket_falls_back_to_the_mounted_one() {
        let dir = tempfile::tempdir().unwrap();
        let mounted = dir.path().join("docker.sock");
        let missing = "unix:///home/runner/.docker/run/docker.sock";
        let err = |r: Result<(String, Option<String>), DockerError>| r.unwrap_err().to_string();
        // neither there: the error names both
        let e = err(pick_host(missing, &mounted));
        assert!(
            e.contains(missing) && e.contains(&format!("`{}`", mounted.display())),
            "{e}"
        );
        std::fs::write(&mounted, "").unwrap();
        let (host, warning) = pick_host(missing, &mounted).unwrap();
        assert_eq!(host, format!("unix://{}", mounted.display()));
        let warning = warning.unwrap();
        assert!(warning.contains(missing), "{warning}");
        // an existing socket, a tcp host, and the mounted one itself: as given, no warning
        let given = format!("unix://{}", mounted.display());
        assert_eq!(pick_host(&given, &mounted).unwrap(), (given, None));
        let tcp = "tcp://docker:2375";
        assert_eq!(pick_host(tcp, &mounted).unwrap(), (tcp.to_string(), None));
        let gone = dir.path().join("gone.sock");
        let e = err(pick_host(&format!("unix://{}", gone.display()), &gone));
        assert!(
            e.contains("no such socket") && !e.contains("fall back"),
            "{e}"
        );
        assert!(Path::new(&mounted).exists());
    }

    #[test]
    fn api_versions() {
        assert_eq!(super::parse_api("1.41"), Some((1, 41)));
        assert!(super::parse_api("1.12").unwrap() < super::MIN_API);
        assert_eq!(super::parse_api("x"), None);
    }
}

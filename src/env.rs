//! The runner's environment for a container action, read with envy.

use serde::Deserialize;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct RunnerVars {
    pub github_event_name: Option<String>,
    pub github_event_path: Option<String>,
    pub github_output: Option<String>,
    pub github_step_summary: Option<String>,
    pub github_repository: Option<String>,
    pub github_api_url: Option<String>,
    pub github_server_url: Option<String>,
    pub github_sha: Option<String>,
    pub github_ref: Option<String>,
    pub github_ref_name: Option<String>,
    pub github_actor: Option<String>,
    pub github_run_id: Option<String>,
    pub github_run_number: Option<String>,
    pub github_run_attempt: Option<String>,
    pub runner_debug: Option<String>,
    pub docker_host: Option<String>,
    pub runner_temp: Option<String>,
    pub github_actions: Option<String>,
    pub github_workspace: Option<String>,
    /// `owner/repo/.github/workflows/file.yml@ref`: the workflow running this step.
    pub github_workflow_ref: Option<String>,
    pub github_workflow_sha: Option<String>,
}

impl RunnerVars {
    /// envy lower-cases names, so `GITHUB_EVENT_NAME` lands in `github_event_name`.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<RunnerVars, envy::Error> {
        let mut v: RunnerVars = envy::from_iter(vars)?;
        for field in [
            &mut v.github_event_name,
            &mut v.github_event_path,
            &mut v.github_output,
            &mut v.github_step_summary,
            &mut v.github_repository,
            &mut v.github_api_url,
            &mut v.github_server_url,
            &mut v.github_sha,
            &mut v.github_ref,
            &mut v.github_ref_name,
            &mut v.github_actor,
            &mut v.github_run_id,
            &mut v.github_run_number,
            &mut v.github_run_attempt,
            &mut v.runner_debug,
            &mut v.docker_host,
            &mut v.runner_temp,
            &mut v.github_actions,
            &mut v.github_workspace,
            &mut v.github_workflow_ref,
            &mut v.github_workflow_sha,
        ] {
            if field.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *field = None;
            }
        }
        Ok(v)
    }

    pub fn debug(&self) -> bool {
        self.runner_debug.as_deref() == Some("1")
    }

    pub fn docker_host(&self) -> String {
        self.docker_host
            .clone()
            .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
    }

    /// Where temporary files go: the runner's temp directory (mounted at /github/runner_temp in
    /// a container action, which gets no TMPDIR), else `/tmp`, which the action image provides.
    pub fn temp_dir(&self) -> std::path::PathBuf {
        self.runner_temp.as_deref().unwrap_or("/tmp").into()
    }

    /// Run by the runner: then the action is in a network namespace of its own.
    pub fn in_actions(&self) -> bool {
        self.github_actions.as_deref() == Some("true")
    }

    pub fn api_url(&self) -> String {
        self.github_api_url
            .clone()
            .unwrap_or_else(|| "https://api.github.com".into())
    }

    pub fn server_url(&self) -> String {
        self.github_server_url
            .clone()
            .unwrap_or_else(|| "https://github.com".into())
    }

    pub fn num(v: &Option<String>) -> Option<u64> {
        v.as_deref().and_then(|s| s.trim().parse().ok())
    }
}

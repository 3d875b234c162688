use image_resolver::config::RawInputs;
use image_resolver::env::RunnerVars;
use image_resolver::toolkit::Toolkit;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // one crypto provider for every TLS client in the process
    let _ = rustls::crypto::ring::default_provider().install_default();
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let runner = RunnerVars::from_vars(vars.clone()).unwrap_or_default();
    let kit = Toolkit::stdout(runner.debug());
    let inputs = match RawInputs::from_vars(vars) {
        Ok(i) => i,
        Err(e) => {
            kit.error_titled(
                "image-resolver: Input error",
                &format!("reading inputs: {e}"),
            );
            return std::process::ExitCode::FAILURE;
        }
    };
    match image_resolver::run::main(&runner, inputs, &kit).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<image_resolver::run::Failures>() {
                Some(each) => each
                    .0
                    .iter()
                    .for_each(|(title, line)| kit.error_titled(title, line)),
                // `{:#}` prints the whole context chain on one line
                None => kit.error_titled(image_resolver::run::title_of(&e), &format!("{e:#}")),
            }
            std::process::ExitCode::FAILURE
        }
    }
}

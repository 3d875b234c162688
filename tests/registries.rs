//! The registries our users run, each through a stand-in of its documented flow in front of the
//! stack's open registry (tests/common/standin.rs), through the binary: verify, pull and promote,
//! the secrets never printed, the requests counted. Stand-ins, not the services: what each
//! emulates, and from which document, is written next to it.
mod common;

use common::standin::{Auth, Quirks, StandIn};
use common::*;

const HEAD: &str = "2828282828282828282828282828282828282828";

fn push() -> Run {
    Run::new(
        "workflow_run",
        workflow_run("push", HEAD, "main", None, false),
    )
}

fn tag() -> String {
    format!("main-{}", &HEAD[..7])
}

/// An image at `<path>:<tag()>` on the open registry, labelled with `HEAD`; its digest.
fn publish(s: &Stack, path: &str) -> String {
    s.publish(&format!("{}/{path}", s.registry), &tag(), Some(HEAD))
}

/// No token set was asked for twice in one step, and none holds more than it needs.
fn one_token_per_scope(standin: &StandIn) {
    let sets = standin.token_scopes();
    let mut unique = sets.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        sets.len(),
        unique.len(),
        "a token asked for twice: {sets:?}"
    );
}

/// One line for the test log: what a phase cost on the wire.
fn cost(standin: &StandIn, what: &str) {
    eprintln!(
        "{what}: {} requests, {} token(s) {:?}",
        standin.seen().len(),
        standin.token_scopes().len(),
        standin.token_scopes()
    );
}

fn assert_no_secrets(o: &Outcome, secrets: &[&str], standin: &StandIn) {
    for s in secrets {
        o.assert_no_secret(s);
    }
    for t in standin.tokens() {
        o.assert_no_secret(&t);
    }
}

/// A stand-in in front of an image published at `path` on the open registry, and the login it
/// takes. Each phase starts from a clean request log, runs the binary with that login, checks that
/// neither the secret nor a token it handed out was printed, and logs what the phase cost.
struct Site {
    standin: StandIn,
    path: String,
    image: String,
    digest: String,
    user: String,
    secret: String,
}

impl Site {
    fn start(s: &Stack, path: String, auth: Auth, quirks: Quirks) -> Site {
        let digest = publish(s, &path);
        let (user, secret) = match &auth {
            Auth::Bearer { user, password, .. } | Auth::Basic { user, password, .. } => {
                (user.clone(), password.clone())
            }
        };
        let standin = StandIn::start(&s.registry, auth, quirks);
        let image = format!("{}/{path}", standin.host);
        Site {
            standin,
            path,
            image,
            digest,
            user,
            secret,
        }
    }

    fn run(&self, what: &str, r: Run) -> Outcome {
        self.standin.clear();
        let o = r
            .input("image", &self.image)
            .input("registry-username", &self.user)
            .input("registry-password", &self.secret)
            .run();
        assert_no_secrets(&o, &[&self.secret], &self.standin);
        cost(&self.standin, what);
        o
    }

    /// Verify mode finds the published digest.
    fn verify(&self, what: &str) {
        let o = self.run(what, push().input("mode", "verify"));
        o.ok();
        assert_eq!(o.out("digest"), self.digest);
    }

    /// Pull mode: the daemon, handed the same login, holds the image.
    fn pull(&self, s: &Stack, what: &str) {
        self.run(what, push()).ok();
        assert!(s.image_id(&format!("{}:{}", self.image, tag())).is_some());
    }

    /// Promote mode, with no daemon to lean on.
    fn promote(&self, what: &str, targets: &str) -> Outcome {
        self.run(
            what,
            push()
                .input("mode", "promote")
                .input("promote-to", targets)
                .var("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        )
    }

    /// A successful request whose path starts with `path`, authenticated as the login's user.
    fn authed(&self, path: &str) -> bool {
        self.standin.seen().iter().any(|r| {
            r.path.starts_with(path) && r.auth == format!("Basic {}", self.user) && r.status == 200
        })
    }
}

/// Azure Container Registry, after Microsoft's "Azure Container Registry authentication"
/// (learn.microsoft.com/azure/container-registry/container-registry-authentication, "Individual
/// login with Microsoft Entra ID": `az acr login --expose-token` gives a refresh token used with
/// the user `00000000-0000-0000-0000-000000000000`) and the ACR token-exchange document
/// (github.com/Azure/acr, docs/AAD-OAuth.md: a `401` challenges with
/// `Bearer realm="https://<registry>/oauth2/token",service="<registry>"`, the token endpoint
/// answers `{"access_token": …}` scoped to `repository:<name>:<actions>`).
#[test]
fn acr_refresh_token_exchange_verify_pull_promote() {
    let s = stack();
    let acr = Site::start(
        &s,
        format!("team/{}", unique("acr")),
        Auth::Bearer {
            realm: "/oauth2/token".into(),
            service: String::new(),
            field: "access_token",
            user: "00000000-0000-0000-0000-000000000000".into(),
            password: "acr-refresh-eyJhbGciOiJSUzI1NiJ9-standin-5f0c".into(),
            anonymous_pull: false,
        },
        Quirks::default(),
    );
    let path = &acr.path;

    acr.verify("acr verify");
    one_token_per_scope(&acr.standin);
    assert_eq!(
        acr.standin.token_scopes(),
        vec![vec![format!("repository:{path}:pull")]],
        "verify asks for one pull token"
    );
    assert!(
        acr.standin.seen().len() <= 6,
        "verify: bounded requests: {:#?}",
        acr.standin.seen()
    );

    // pull mode: the daemon pulls through the same exchange with the credentials it is handed
    acr.pull(&s, "acr pull");
    assert!(
        acr.authed("/oauth2/token"),
        "the daemon exchanged the refresh token: {:#?}",
        acr.standin.seen()
    );

    // promote to another repository of the same registry: pull,push on the target, both
    // repositories in the mount's token
    let target = format!("{}-prod", acr.image);
    let o = acr.promote("acr promote", &target);
    o.ok();
    assert_eq!(
        o.out("promoted"),
        format!("{target}:{}@{}", tag(), acr.digest)
    );
    one_token_per_scope(&acr.standin);
    let sets = acr.standin.token_scopes();
    let mut mount = vec![
        format!("repository:{path}-prod:pull,push"),
        format!("repository:{path}:pull"),
    ];
    mount.sort();
    assert!(
        sets.contains(&vec![format!("repository:{path}-prod:pull,push")]),
        "{sets:?}"
    );
    assert!(sets.contains(&mount), "a mount token for both: {sets:?}");
    assert!(
        acr.standin.count("POST", "mount=") >= 1,
        "{:#?}",
        acr.standin.seen()
    );
    assert!(
        acr.standin.seen().len() <= 30,
        "promote: bounded requests: {:#?}",
        acr.standin.seen()
    );
}

/// Google Artifact Registry, after Google's "Configure authentication to Artifact Registry for
/// Docker" (cloud.google.com/artifact-registry/docs/docker/authentication, "Access token": user
/// `oauth2accesstoken`, password the access token of google-github-actions/auth or
/// `gcloud auth print-access-token`), the registry's token realm at `/v2/token`.
#[test]
fn gar_access_token_verify_and_promote() {
    let s = stack();
    let gar = Site::start(
        &s,
        format!("acme-project/images/{}", unique("gar")),
        Auth::Bearer {
            realm: "/v2/token".into(),
            service: String::new(),
            field: "token",
            user: "oauth2accesstoken".into(),
            password: "ya29.a0Af-standin-access-token-93d1".into(),
            anonymous_pull: false,
        },
        Quirks::default(),
    );
    gar.verify("gar verify");
    // a new tag in the same repository: the manifest alone, under a pull,push token
    let o = gar.promote("gar promote", &format!("{}:stable", gar.image));
    o.ok();
    assert_eq!(
        o.out("promoted"),
        format!("{}:stable@{}", gar.image, gar.digest)
    );
    one_token_per_scope(&gar.standin);
    assert!(
        gar.standin
            .token_scopes()
            .contains(&vec![format!("repository:{}:pull,push", gar.path)]),
        "{:?}",
        gar.standin.token_scopes()
    );
    assert_eq!(
        gar.standin.count("POST", "/blobs/uploads/"),
        0,
        "no blob moves"
    );
    assert_eq!(gar.standin.count("PUT", "/manifests/stable"), 1);
}

/// Harbor with a robot account, after Harbor's "Create Project Robot Accounts"
/// (goharbor.io/docs/2.10.0/working-with-projects/project-configuration/create-robot-accounts:
/// robot names are `robot$<project>+<name>`, used as the Docker login with the robot's secret),
/// and Harbor's token service (`Bearer realm="https://<harbor>/service/token",
/// service="harbor-registry"`).
#[test]
fn harbor_robot_account_as_given_verify_pull_promote() {
    let s = stack();
    let harbor = Site::start(
        &s,
        format!("ci/{}", unique("harbor")),
        Auth::Bearer {
            realm: "/service/token".into(),
            service: "harbor-registry".into(),
            field: "token",
            user: "robot$ci+deployer".into(),
            password: "hArb0r-robot-secret-standin-4e2b".into(),
            anonymous_pull: false,
        },
        Quirks::default(),
    );
    harbor.verify("harbor verify");
    // the name reached the token service whole: `$` and `+` untouched by env, config and Basic
    let tokens: Vec<_> = harbor
        .standin
        .seen()
        .into_iter()
        .filter(|r| r.path.starts_with("/service/token"))
        .collect();
    assert!(!tokens.is_empty());
    assert!(
        tokens
            .iter()
            .all(|r| r.auth == "Basic robot$ci+deployer" && r.status == 200),
        "{tokens:#?}"
    );

    // the daemon's auth carries the same name
    harbor.pull(&s, "harbor pull");
    assert!(
        harbor.authed("/service/token"),
        "{:#?}",
        harbor.standin.seen()
    );

    let target = format!("{}/ci/{}", harbor.standin.host, unique("harbor-release"));
    let o = harbor.promote("harbor promote", &target);
    o.ok();
    assert_eq!(
        o.out("promoted"),
        format!("{target}:{}@{}", tag(), harbor.digest)
    );
    one_token_per_scope(&harbor.standin);
}

/// Amazon ECR, after AWS's "Private registry authentication in Amazon ECR"
/// (docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html: Basic auth with the user
/// `AWS` and the password of `aws ecr get-login-password`, which amazon-ecr-login also gives) and
/// "Pushing a Docker image" (docs.aws.amazon.com/AmazonECR/latest/userguide/docker-push-ecr-image.html:
/// the repository must exist before the push; a missing one answers `NAME_UNKNOWN`).
#[test]
fn ecr_basic_auth_and_a_missing_repository_named_before_any_write() {
    let s = stack();
    let missing = format!("app/{}", unique("ecr-not-created"));
    let ecr = Site::start(
        &s,
        format!("app/{}", unique("ecr")),
        Auth::Basic {
            realm: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/".into(),
            user: "AWS".into(),
            password: "eyJwYXlsb2FkIjoi-ecr-standin-password-0a7e".into(),
        },
        Quirks {
            missing: vec![missing.clone()],
            ..Default::default()
        },
    );
    ecr.verify("ecr verify");
    assert!(ecr.standin.seen().len() <= 6, "{:#?}", ecr.standin.seen());

    ecr.pull(&s, "ecr pull");
    assert!(ecr.authed("/"), "{:#?}", ecr.standin.seen());

    // the first target exists, the second was never created: nothing is written to either
    let good = format!("{}:prod", ecr.image);
    let bad = format!("{}/{missing}:prod", ecr.standin.host);
    let o = ecr.promote(
        "ecr promote to a missing repository",
        &format!("{good}\n{bad}"),
    );
    o.failed();
    let e = o.error();
    eprintln!("{e}");
    assert!(
        e.contains(&format!("`{missing}`"))
            && e.contains("create it first")
            && e.contains("aws ecr create-repository")
            && e.contains("no target was written"),
        "{e}"
    );
    assert!(!e.contains("404 (not found) during the copy"), "{e}");
    assert_eq!(
        ecr.standin.writes(),
        0,
        "nothing written: {:#?}",
        ecr.standin.seen()
    );

    // with the repository there, the same promotion writes
    let o = ecr.promote("ecr promote", &good);
    o.ok();
    assert_eq!(o.out("promoted"), format!("{good}@{}", ecr.digest));
}

/// Docker Hub, after Docker's "Docker Hub usage and rate limits" (docs.docker.com/docker-hub/usage/:
/// a `429 TOOMANYREQUESTS` with `ratelimit-limit: 100;w=21600` and `ratelimit-remaining: 0;w=21600`,
/// lifted by logging in) and the registry token spec as Hub serves it
/// (docs.docker.com/reference/api/registry/auth/: `registry-1.docker.io` challenges with
/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`, anonymous tokens
/// for public pulls). The stand-in is both hosts over TLS (a private CA), reached through
/// `HTTPS_PROXY`, which refuses every other destination: a reference without a host must go to
/// these names, and nothing leaves the machine.
fn docker_hub(s: &Stack, quirks: Quirks) -> StandIn {
    StandIn::start_tls(
        &s.registry,
        &["registry-1.docker.io", "auth.docker.io"],
        Auth::Bearer {
            realm: "https://auth.docker.io/token".into(),
            service: "registry.docker.io".into(),
            field: "token",
            user: "acme-ci".into(),
            password: "dckr_pat_standin-hub-token-61b9".into(),
            anonymous_pull: true,
        },
        quirks,
    )
}

fn via(hub: &StandIn, r: Run) -> Run {
    r.var("HTTPS_PROXY", &format!("http://{}", hub.host)).var(
        "SSL_CERT_FILE",
        hub.tls.as_ref().unwrap().ca().to_str().unwrap(),
    )
}

#[test]
fn docker_hub_names_without_a_host_verify_and_promote() {
    let s = stack();
    let name = unique("hub");
    // a one-part name is an official image, under `library/`
    let digest = publish(&s, &format!("library/{name}"));
    let hub = docker_hub(&s, Quirks::default());

    let o = via(&hub, push())
        .input("image", &name)
        .input("mode", "verify")
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    assert_eq!(o.out("digest"), digest);
    assert_eq!(o.out("image"), format!("{name}:{}", tag()));
    let connects = hub.connects();
    assert!(
        connects.contains(&"CONNECT registry-1.docker.io:443".to_string())
            && connects.contains(&"CONNECT auth.docker.io:443".to_string()),
        "{connects:?}"
    );
    assert!(
        hub.seen()
            .iter()
            .filter(|r| r.host == "registry-1.docker.io")
            .all(|r| r.path.starts_with(&format!("/v2/library/{name}/")) || r.path == "/v2/"),
        "{:#?}",
        hub.seen()
    );
    assert_eq!(
        hub.token_scopes(),
        vec![vec![format!("repository:library/{name}:pull")]]
    );
    cost(&hub, "docker hub verify");

    // pull mode is not emulated here: the daemon pulls, and it would go to the real Docker Hub
    // promote to another Hub repository with a login: pull,push for it, both in the mount
    hub.clear();
    const PAT: &str = "dckr_pat_standin-hub-token-61b9";
    let target = format!("acme/{name}");
    let o = via(&hub, push())
        .input("image", &name)
        .input("mode", "promote")
        .input("promote-to", &target)
        .input("registry-username", "acme-ci")
        .input("registry-password", PAT)
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    assert_eq!(o.out("promoted"), format!("{target}:{}@{digest}", tag()));
    assert_no_secrets(&o, &[PAT], &hub);
    cost(&hub, "docker hub promote");
    one_token_per_scope(&hub);
    assert!(
        hub.token_scopes().iter().any(|set| set
            .contains(&format!("repository:acme/{name}:pull,push"))
            && set.contains(&format!("repository:library/{name}:pull"))),
        "{:?}",
        hub.token_scopes()
    );
    assert!(
        hub.seen()
            .iter()
            .filter(|r| r.path.starts_with("/token"))
            .all(|r| r.auth == "Basic acme-ci"),
        "{:#?}",
        hub.seen()
    );
}

#[test]
fn docker_hub_rate_limit_is_named_with_the_login_and_not_retried() {
    let s = stack();
    let name = unique("hub-limited");
    publish(&s, &format!("library/{name}"));
    let hub = docker_hub(
        &s,
        Quirks {
            pulls: Some(0),
            ..Default::default()
        },
    );
    let o = via(&hub, push())
        .input("image", &name)
        .input("mode", "verify")
        .input("retries", "3")
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.failed();
    let e = o.error();
    eprintln!("{e}\n{}", o.summary);
    assert!(
        e.contains("pull rate limit")
            && e.contains("registry-username")
            && e.contains("registry-password")
            && e.contains("log in")
            && e.contains("100 pulls per 6 h"),
        "{e}"
    );
    assert!(!e.contains("could not be reached"), "{e}");
    assert!(
        o.stdout
            .contains("::error title=image-resolver%3A Registry rate limit::"),
        "{}",
        o.stdout
    );
    let manifests = hub.count("GET", "/manifests/");
    assert!(
        (1..=3).contains(&manifests),
        "not retried past `retries`: {manifests}"
    );
    assert!(hub.seen().len() <= 6, "{:#?}", hub.seen());
    cost(&hub, "docker hub rate-limited verify");
}

/// A registry that asks for plain Basic (a distribution registry with htpasswd, a Harbor or
/// Nexus behind a Basic-only proxy) with a Harbor-style robot name: the name goes through
/// env, config, Basic encoding and the daemon's auth exactly as given.
#[test]
fn a_robot_username_over_plain_basic_verify_pull_promote() {
    let s = stack();
    let reg = Site::start(
        &s,
        format!("ci/{}", unique("basic-robot")),
        Auth::Basic {
            realm: "registry".into(),
            user: "robot$ci+deployer".into(),
            password: "basic-robot-secret-standin-77aa".into(),
        },
        Quirks::default(),
    );
    reg.verify("basic robot verify");
    let authed: Vec<_> = reg
        .standin
        .seen()
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert!(
        !authed.is_empty() && authed.iter().all(|r| r.auth == "Basic robot$ci+deployer"),
        "{authed:#?}"
    );
    assert!(reg.standin.seen().len() <= 6, "{:#?}", reg.standin.seen());

    reg.pull(&s, "basic robot pull");
    assert!(reg
        .standin
        .seen()
        .iter()
        .any(|r| r.path.contains("/blobs/") && r.auth == "Basic robot$ci+deployer"));

    let target = format!("{}-release", reg.image);
    let o = reg.promote("basic robot promote", &target);
    o.ok();
    assert_eq!(
        o.out("promoted"),
        format!("{target}:{}@{}", tag(), reg.digest)
    );
    assert!(reg.standin.seen().len() <= 30, "{:#?}", reg.standin.seen());
}

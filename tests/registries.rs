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
    const USER: &str = "00000000-0000-0000-0000-000000000000";
    const REFRESH: &str = "acr-refresh-eyJhbGciOiJSUzI1NiJ9-standin-5f0c";
    let path = format!("team/{}", unique("acr"));
    let digest = publish(&s, &path);
    let acr = StandIn::start(
        &s.registry,
        Auth::Bearer {
            realm: "/oauth2/token".into(),
            service: String::new(),
            field: "access_token",
            user: USER.into(),
            password: REFRESH.into(),
            anonymous_pull: false,
        },
        Quirks::default(),
    );
    let image = format!("{}/{path}", acr.host);
    let login = |r: Run| {
        r.input("image", &image)
            .input("registry-username", USER)
            .input("registry-password", REFRESH)
    };

    let o = login(push()).input("mode", "verify").run();
    o.ok();
    assert_eq!(o.out("digest"), digest);
    assert_no_secrets(&o, &[REFRESH], &acr);
    cost(&acr, "acr verify");
    one_token_per_scope(&acr);
    assert_eq!(
        acr.token_scopes(),
        vec![vec![format!("repository:{path}:pull")]],
        "verify asks for one pull token"
    );
    assert!(
        acr.seen().len() <= 6,
        "verify: bounded requests: {:#?}",
        acr.seen()
    );

    // pull mode: the daemon pulls through the same exchange with the credentials it is handed
    acr.clear();
    let o = login(push()).run();
    o.ok();
    assert_eq!(o.out("source"), "registry");
    assert!(s.image_id(&format!("{image}:{}", tag())).is_some());
    assert!(
        acr.seen()
            .iter()
            .any(|r| r.path.starts_with("/oauth2/token")
                && r.auth == format!("Basic {USER}")
                && r.status == 200),
        "the daemon exchanged the refresh token: {:#?}",
        acr.seen()
    );
    assert_no_secrets(&o, &[REFRESH], &acr);
    cost(&acr, "acr pull");

    // promote to another repository of the same registry: pull,push on the target, both
    // repositories in the mount's token
    acr.clear();
    let target = format!("{image}-prod");
    let o = login(push())
        .input("mode", "promote")
        .input("promote-to", &target)
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    assert_eq!(o.out("promoted"), format!("{target}:{}@{digest}", tag()));
    assert_no_secrets(&o, &[REFRESH], &acr);
    cost(&acr, "acr promote");
    one_token_per_scope(&acr);
    let sets = acr.token_scopes();
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
    assert!(acr.count("POST", "mount=") >= 1, "{:#?}", acr.seen());
    assert!(
        acr.seen().len() <= 30,
        "promote: bounded requests: {:#?}",
        acr.seen()
    );
}

/// Google Artifact Registry, after Google's "Configure authentication to Artifact Registry for
/// Docker" (cloud.google.com/artifact-registry/docs/docker/authentication, "Access token": user
/// `oauth2accesstoken`, password the access token of google-github-actions/auth or
/// `gcloud auth print-access-token`), the registry's token realm at `/v2/token`.
#[test]
fn gar_access_token_verify_and_promote() {
    let s = stack();
    const TOKEN: &str = "ya29.a0Af-standin-access-token-93d1";
    let path = format!("acme-project/images/{}", unique("gar"));
    let digest = publish(&s, &path);
    let gar = StandIn::start(
        &s.registry,
        Auth::Bearer {
            realm: "/v2/token".into(),
            service: String::new(),
            field: "token",
            user: "oauth2accesstoken".into(),
            password: TOKEN.into(),
            anonymous_pull: false,
        },
        Quirks::default(),
    );
    let image = format!("{}/{path}", gar.host);
    let login = |r: Run| {
        r.input("image", &image)
            .input("registry-username", "oauth2accesstoken")
            .input("registry-password", TOKEN)
            .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    };
    let o = login(push()).input("mode", "verify").run();
    o.ok();
    assert_eq!(o.out("digest"), digest);
    assert_no_secrets(&o, &[TOKEN], &gar);
    cost(&gar, "gar verify");
    // a new tag in the same repository: the manifest alone, under a pull,push token
    gar.clear();
    let o = login(push())
        .input("mode", "promote")
        .input("promote-to", &format!("{image}:stable"))
        .run();
    o.ok();
    assert_eq!(o.out("promoted"), format!("{image}:stable@{digest}"));
    assert_no_secrets(&o, &[TOKEN], &gar);
    cost(&gar, "gar promote");
    one_token_per_scope(&gar);
    assert!(
        gar.token_scopes()
            .contains(&vec![format!("repository:{path}:pull,push")]),
        "{:?}",
        gar.token_scopes()
    );
    assert_eq!(gar.count("POST", "/blobs/uploads/"), 0, "no blob moves");
    assert_eq!(gar.count("PUT", "/manifests/stable"), 1);
}

/// Harbor with a robot account, after Harbor's "Create Project Robot Accounts"
/// (goharbor.io/docs/2.10.0/working-with-projects/project-configuration/create-robot-accounts:
/// robot names are `robot$<project>+<name>`, used as the Docker login with the robot's secret),
/// and Harbor's token service (`Bearer realm="https://<harbor>/service/token",
/// service="harbor-registry"`).
#[test]
fn harbor_robot_account_as_given_verify_pull_promote() {
    let s = stack();
    const ROBOT: &str = "robot$ci+deployer";
    const SECRET: &str = "hArb0r-robot-secret-standin-4e2b";
    let path = format!("ci/{}", unique("harbor"));
    let digest = publish(&s, &path);
    let harbor = StandIn::start(
        &s.registry,
        Auth::Bearer {
            realm: "/service/token".into(),
            service: "harbor-registry".into(),
            field: "token",
            user: ROBOT.into(),
            password: SECRET.into(),
            anonymous_pull: false,
        },
        Quirks::default(),
    );
    let image = format!("{}/{path}", harbor.host);
    let login = |r: Run| {
        r.input("image", &image)
            .input("registry-username", ROBOT)
            .input("registry-password", SECRET)
    };
    let o = login(push()).input("mode", "verify").run();
    o.ok();
    assert_eq!(o.out("digest"), digest);
    assert_no_secrets(&o, &[SECRET], &harbor);
    cost(&harbor, "harbor verify");
    // the name reached the token service whole: `$` and `+` untouched by env, config and Basic
    let tokens: Vec<_> = harbor
        .seen()
        .into_iter()
        .filter(|r| r.path.starts_with("/service/token"))
        .collect();
    assert!(!tokens.is_empty());
    assert!(
        tokens
            .iter()
            .all(|r| r.auth == format!("Basic {ROBOT}") && r.status == 200),
        "{tokens:#?}"
    );

    // the daemon's auth carries the same name
    harbor.clear();
    let o = login(push()).run();
    o.ok();
    assert!(s.image_id(&format!("{image}:{}", tag())).is_some());
    assert!(
        harbor
            .seen()
            .iter()
            .any(|r| r.path.starts_with("/service/token")
                && r.auth == format!("Basic {ROBOT}")
                && r.status == 200),
        "{:#?}",
        harbor.seen()
    );
    assert_no_secrets(&o, &[SECRET], &harbor);
    cost(&harbor, "harbor pull");

    harbor.clear();
    let target = format!("{}/ci/{}", harbor.host, unique("harbor-release"));
    let o = login(push())
        .input("mode", "promote")
        .input("promote-to", &target)
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    assert_eq!(o.out("promoted"), format!("{target}:{}@{digest}", tag()));
    assert_no_secrets(&o, &[SECRET], &harbor);
    cost(&harbor, "harbor promote");
    one_token_per_scope(&harbor);
}

/// Amazon ECR, after AWS's "Private registry authentication in Amazon ECR"
/// (docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html: Basic auth with the user
/// `AWS` and the password of `aws ecr get-login-password`, which amazon-ecr-login also gives) and
/// "Pushing a Docker image" (docs.aws.amazon.com/AmazonECR/latest/userguide/docker-push-ecr-image.html:
/// the repository must exist before the push; a missing one answers `NAME_UNKNOWN`).
#[test]
fn ecr_basic_auth_and_a_missing_repository_named_before_any_write() {
    let s = stack();
    const PASSWORD: &str = "eyJwYXlsb2FkIjoi-ecr-standin-password-0a7e";
    let path = format!("app/{}", unique("ecr"));
    let digest = publish(&s, &path);
    let missing = format!("app/{}", unique("ecr-not-created"));
    let ecr = StandIn::start(
        &s.registry,
        Auth::Basic {
            realm: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/".into(),
            user: "AWS".into(),
            password: PASSWORD.into(),
        },
        Quirks {
            missing: vec![missing.clone()],
            ..Default::default()
        },
    );
    let image = format!("{}/{path}", ecr.host);
    let login = |r: Run| {
        r.input("image", &image)
            .input("registry-username", "AWS")
            .input("registry-password", PASSWORD)
    };
    let o = login(push()).input("mode", "verify").run();
    o.ok();
    assert_eq!(o.out("digest"), digest);
    assert_no_secrets(&o, &[PASSWORD], &ecr);
    cost(&ecr, "ecr verify");
    assert!(ecr.seen().len() <= 6, "{:#?}", ecr.seen());

    ecr.clear();
    let o = login(push()).run();
    o.ok();
    assert!(s.image_id(&format!("{image}:{}", tag())).is_some());
    assert!(
        ecr.seen()
            .iter()
            .any(|r| r.auth == "Basic AWS" && r.status == 200),
        "{:#?}",
        ecr.seen()
    );
    assert_no_secrets(&o, &[PASSWORD], &ecr);
    cost(&ecr, "ecr pull");

    // the first target exists, the second was never created: nothing is written to either
    ecr.clear();
    let good = format!("{image}:prod");
    let bad = format!("{}/{missing}:prod", ecr.host);
    let o = login(push())
        .input("mode", "promote")
        .input("promote-to", &format!("{good}\n{bad}"))
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
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
    assert_eq!(ecr.writes(), 0, "nothing written: {:#?}", ecr.seen());
    assert_no_secrets(&o, &[PASSWORD], &ecr);
    cost(&ecr, "ecr promote to a missing repository");

    // with the repository there, the same promotion writes
    ecr.clear();
    let o = login(push())
        .input("mode", "promote")
        .input("promote-to", &good)
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    assert_eq!(o.out("promoted"), format!("{good}@{digest}"));
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
    const ROBOT: &str = "robot$ci+deployer";
    const SECRET: &str = "basic-robot-secret-standin-77aa";
    let path = format!("ci/{}", unique("basic-robot"));
    let digest = publish(&s, &path);
    let reg = StandIn::start(
        &s.registry,
        Auth::Basic {
            realm: "registry".into(),
            user: ROBOT.into(),
            password: SECRET.into(),
        },
        Quirks::default(),
    );
    let image = format!("{}/{path}", reg.host);
    let login = |r: Run| {
        r.input("image", &image)
            .input("registry-username", ROBOT)
            .input("registry-password", SECRET)
    };
    let o = login(push()).input("mode", "verify").run();
    o.ok();
    assert_eq!(o.out("digest"), digest);
    assert_no_secrets(&o, &[SECRET], &reg);
    cost(&reg, "basic robot verify");
    let authed: Vec<_> = reg.seen().into_iter().filter(|r| r.status == 200).collect();
    assert!(
        !authed.is_empty() && authed.iter().all(|r| r.auth == format!("Basic {ROBOT}")),
        "{authed:#?}"
    );
    assert!(reg.seen().len() <= 6, "{:#?}", reg.seen());

    reg.clear();
    let o = login(push()).run();
    o.ok();
    assert!(s.image_id(&format!("{image}:{}", tag())).is_some());
    assert!(reg
        .seen()
        .iter()
        .any(|r| r.path.contains("/blobs/") && r.auth == format!("Basic {ROBOT}")));
    assert_no_secrets(&o, &[SECRET], &reg);
    cost(&reg, "basic robot pull");

    reg.clear();
    let target = format!("{image}-release");
    let o = login(push())
        .input("mode", "promote")
        .input("promote-to", &target)
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    assert_eq!(o.out("promoted"), format!("{target}:{}@{digest}", tag()));
    assert_no_secrets(&o, &[SECRET], &reg);
    cost(&reg, "basic robot promote");
    assert!(reg.seen().len() <= 30, "{:#?}", reg.seen());
}

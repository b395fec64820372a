//! Finding the homeserver, refreshing expired tokens, logging out.

use lattice_homeserver::testing::{Backend, TestServer};
use lattice_sdk::{Client, Session, ruma::ServerName};
use serde_json::json;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

use crate::backend_tests;

backend_tests!(discovery_and_logout, totp_second_factor, passkey_second_factor);

async fn discovery_and_logout(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    // The user's domain names the homeserver in .well-known.
    let domain = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/matrix/client"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"m.homeserver": {"base_url": server.url()}})),
        )
        .mount(&domain)
        .await;
    let name = domain.address().to_string();
    let name = <&ServerName>::try_from(name.as_str()).expect("server name");
    let client = Client::builder().insecure_server_name_no_tls(name).build().await.expect("client");
    assert_eq!(client.homeserver(), server.url());
    client.register("carol", "correct horse").await.expect("registered");
    assert_eq!(client.whoami().await.expect("whoami").user_id.as_str(), "@carol:localhost");

    client.logout().await.expect("logged out");
    assert!(!client.logged_in());
    assert!(client.rooms().await.expect("store").is_empty());
}

/// An access token that expires is refreshed once and the request retried;
/// the new tokens are kept. The server here is a mock that expires tokens
/// on demand.
#[tokio::test]
async fn expired_tokens_are_refreshed() {
    let homeserver = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/_matrix/client/versions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"versions": ["v1.11"]})))
        .mount(&homeserver)
        .await;
    Mock::given(method("GET"))
        .and(path("/_matrix/client/v3/account/whoami"))
        .and(header("authorization", "Bearer old"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "errcode": "M_UNKNOWN_TOKEN", "error": "expired", "soft_logout": true
        })))
        .expect(1)
        .mount(&homeserver)
        .await;
    Mock::given(method("POST"))
        .and(path("/_matrix/client/v3/refresh"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "new", "refresh_token": "next", "expires_in_ms": 60000
        })))
        .expect(1)
        .mount(&homeserver)
        .await;
    Mock::given(method("GET"))
        .and(path("/_matrix/client/v3/account/whoami"))
        .and(header("authorization", "Bearer new"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"user_id": "@dan:example.org", "device_id": "PHONE"})),
        )
        .expect(1)
        .mount(&homeserver)
        .await;

    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("dan.sqlite");
    let client = Client::builder()
        .homeserver_url(homeserver.uri())
        .store_path(&store)
        .build()
        .await
        .expect("client");
    client
        .restore_session(Session {
            user_id: "@dan:example.org".try_into().expect("user id"),
            device_id: "PHONE".into(),
            access_token: "old".into(),
            refresh_token: Some("first".into()),
        })
        .await
        .expect("restored");
    let me = client.whoami().await.expect("whoami after a refresh");
    assert_eq!(me.user_id.as_str(), "@dan:example.org");
    drop(client);
    let again = Client::builder()
        .homeserver_url(homeserver.uri())
        .store_path(&store)
        .build()
        .await
        .expect("client");
    let session = again.session().expect("stored session");
    assert_eq!(
        (session.access_token.as_str(), session.refresh_token.as_deref()),
        ("new", Some("next"))
    );
}

/// With TOTP on, a password login stops halfway and the code finishes it.
async fn totp_second_factor(backend: Backend) {
    let server = TestServer::start(backend, |_| {}).await;
    let alice = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    alice.register("alice", "correct horse").await.expect("registered");
    let (secret, uri) = alice.enable_totp("correct horse").await.expect("setup");
    assert!(uri.starts_with("otpauth://totp/"));
    let clock = server.services().auth.clock().clone();
    let code = |clock: &lattice_homeserver::services::clock::Clock| {
        let key = lattice_homeserver::services::auth::totp::from_base32(&secret).expect("base32");
        lattice_homeserver::services::auth::totp::code(&key, clock.now_ms() / 30_000)
    };
    let recovery = alice.confirm_totp(&code(&clock)).await.expect("confirmed");
    assert_eq!(recovery.len(), 10);

    let phone = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    let halfway = phone.login_password("alice", "correct horse", None).await.expect_err("halfway");
    let lattice_sdk::Error::SecondFactorRequired { session, .. } = halfway else {
        panic!("expected a second-factor request, got {halfway}");
    };
    clock.advance(std::time::Duration::from_secs(30));
    phone.login_totp(&session, &code(&clock), false, Some("phone")).await.expect("logged in");
    assert!(phone.logged_in());
    assert_eq!(phone.whoami().await.expect("whoami").user_id.as_str(), "@alice:localhost");

    let laptop = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    let Err(lattice_sdk::Error::SecondFactorRequired { session, .. }) =
        laptop.login_password("alice", "correct horse", None).await
    else {
        panic!("expected a second-factor request");
    };
    laptop.login_totp(&session, &recovery[0], true, None).await.expect("recovery code");
    assert!(laptop.logged_in());
}

/// A passkey (here a software authenticator) enrolled through the SDK
/// answers the challenge of the next login.
async fn passkey_second_factor(backend: Backend) {
    use webauthn_authenticator_rs::{
        WebauthnAuthenticator,
        prelude::{Url, *},
        softpasskey::SoftPasskey,
    };
    let server = TestServer::start(backend, |config| {
        config.auth.webauthn.rp_id = Some("lattice.test".into());
        config.auth.webauthn.rp_origin = Some("https://lattice.test".into());
    })
    .await;
    let origin = Url::parse("https://lattice.test").expect("url");
    let mut key = SoftPasskey::new(true);
    let alice = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    alice.register("alice", "correct horse").await.expect("registered");
    let (registration, options) =
        alice.start_webauthn_registration("correct horse").await.expect("started");
    let options: CreationChallengeResponse = serde_json::from_value(options).expect("options");
    let credential = key.do_registration(origin.clone(), options).expect("registered key");
    let credential = serde_json::to_value(credential).expect("json");
    let codes = alice
        .finish_webauthn_registration(&registration, "yubikey", credential)
        .await
        .expect("enrolled");
    assert_eq!(codes.map(|c| c.len()), Some(10), "the first factor brings recovery codes");

    let phone = Client::builder().homeserver_url(server.url()).build().await.expect("client");
    let Err(lattice_sdk::Error::SecondFactorRequired { session, stages, webauthn_challenge }) =
        phone.login_password("alice", "correct horse", None).await
    else {
        panic!("expected a second-factor request");
    };
    assert!(stages.iter().any(|s| s == "org.lattice.login.webauthn"), "{stages:?}");
    let challenge: RequestChallengeResponse =
        serde_json::from_value(webauthn_challenge.expect("challenge")).expect("options");
    let answer = key.do_authentication(origin, challenge).expect("assertion");
    let answer = lattice_sdk::SecondFactor::WebAuthn(serde_json::to_value(answer).expect("json"));
    phone.login_second_factor(&session, answer, Some("phone")).await.expect("logged in");
    assert_eq!(phone.whoami().await.expect("whoami").user_id.as_str(), "@alice:localhost");
}

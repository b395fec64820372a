//! WebAuthn as a second factor, with a software authenticator in place of
//! a security key: enrolment behind the password, login in two steps, the
//! challenge good once and only for our origin, sensitive changes asking
//! for the key, and removal.

use lattice_homeserver::services::auth::totp;
use serde_json::{Value, json};
use webauthn_authenticator_rs::{
    WebauthnAuthenticator,
    prelude::{CreationChallengeResponse, RequestChallengeResponse, Url},
    softpasskey::SoftPasskey,
};

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(a_passkey_guards_the_login, factors_add_up);

const MFA: &str = "/_matrix/client/unstable/org.lattice.mfa";
const LOGIN: &str = "/_matrix/client/v3/login";
pub const ORIGIN: &str = "https://lattice.test";
pub const WEBAUTHN: &str = "org.lattice.login.webauthn";
/// An origin under the relying party's domain that is not its origin.
const STRAY_ORIGIN: &str = "https://login.lattice.test";

/// A server whose WebAuthn relying party is `lattice.test`.
pub async fn server(backend: Backend) -> TestServer {
    TestServer::start(backend, |config| {
        config.auth.webauthn.rp_id = Some("lattice.test".into());
        config.auth.webauthn.rp_origin = Some(ORIGIN.into());
    })
    .await
}

fn password_auth(session: &Value) -> Value {
    password_auth_of("alice", session)
}

fn password_auth_of(user: &str, session: &Value) -> Value {
    json!({"type": "m.login.password", "session": session,
        "identifier": {"type": "m.id.user", "user": user}, "password": "pw"})
}

/// Enrols a credential from `key` for alice, claiming `origin`; the finish answer.
pub async fn enrol(
    s: &TestServer,
    token: &str,
    key: &mut SoftPasskey,
    origin: &str,
) -> crate::common::Answer {
    enrol_as(s, "alice", token, key, origin).await
}

/// [`enrol`] for `user` (password "pw"), whose token `token` is.
pub async fn enrol_as(
    s: &TestServer,
    user: &str,
    token: &str,
    key: &mut SoftPasskey,
    origin: &str,
) -> crate::common::Answer {
    let register = format!("{MFA}/webauthn/register");
    let challenge = s.post(&register, Some(token), json!({})).await;
    assert_eq!(challenge.status, 401, "{}", challenge.body);
    let auth = password_auth_of(user, &challenge.body["session"]);
    let started = s.post(&register, Some(token), json!({"auth": auth})).await;
    if started.status != 200 {
        return started;
    }
    let options: CreationChallengeResponse =
        serde_json::from_value(started.body["options"].clone()).expect("creation options");
    let credential =
        key.do_registration(Url::parse(origin).expect("url"), options).expect("registration");
    let finish = json!({"registration": started.body["registration"], "name": "laptop",
        "credential": credential});
    s.post(&format!("{MFA}/webauthn/register/finish"), Some(token), finish).await
}

/// The key's answer to the WebAuthn challenge in a 401's params.
pub fn answer(key: &mut SoftPasskey, challenge: &Value, origin: &str) -> Value {
    let options: RequestChallengeResponse =
        serde_json::from_value(challenge["params"][WEBAUTHN].clone()).expect("request options");
    let assertion =
        key.do_authentication(Url::parse(origin).expect("url"), options).expect("assertion");
    serde_json::to_value(assertion).expect("json")
}

async fn a_passkey_guards_the_login(backend: Backend) {
    let s = server(backend).await;
    let alice = s.register("alice", "pw").await;
    let token = alice.token.as_str();
    let mut key = SoftPasskey::new(true);

    // A credential made on another origin (a taken-over subdomain, say) is
    // refused and not kept.
    let mut stray = SoftPasskey::new(true);
    enrol(&s, token, &mut stray, STRAY_ORIGIN).await.err(403, "M_FORBIDDEN");
    let factors = s.get(&format!("{MFA}/factors"), Some(token)).await.ok();
    assert_eq!(factors["webauthn"], json!([]));

    let enrolled = enrol(&s, token, &mut key, ORIGIN).await.ok();
    let recovery = enrolled["recovery_codes"].as_array().expect("first factor: recovery codes");
    assert_eq!(recovery.len(), 10);
    let credential_id = enrolled["credential_id"].as_str().expect("id").to_owned();
    let factors = s.get(&format!("{MFA}/factors"), Some(token)).await.ok();
    assert_eq!(factors["webauthn"][0]["name"], "laptop");
    assert_eq!(factors["webauthn"][0]["credential_id"], credential_id.as_str());

    // The password opens the second step, with a challenge for the key.
    let first = s.password_step("alice", "pw").await;
    let flows = first["flows"].to_string();
    assert!(flows.contains(WEBAUTHN) && flows.contains("org.lattice.login.recovery_code"));
    assert!(!flows.contains("org.lattice.login.totp"), "no TOTP enrolled: {flows}");
    let assertion = answer(&mut key, &first, ORIGIN);
    let second = json!({"type": WEBAUTHN, "session": first["session"], "credential": assertion});
    let done = s.post(LOGIN, None, second.clone()).await.ok();
    assert_eq!(done["user_id"], "@alice:localhost");
    s.get("/_matrix/client/v3/account/whoami", done["access_token"].as_str()).await.ok();
    // The session and its challenge are spent: the same answer again fails...
    s.post(LOGIN, None, second).await.err(403, "M_FORBIDDEN");
    // ...and so does that answer under a new session (another challenge).
    let first = s.password_step("alice", "pw").await;
    let replay = json!({"type": WEBAUTHN, "session": first["session"], "credential": assertion});
    s.post(LOGIN, None, replay).await.err(403, "M_FORBIDDEN");
    // An answer made on another origin (a phishing page) is refused.
    let first = s.password_step("alice", "pw").await;
    let phished = answer(&mut key, &first, STRAY_ORIGIN);
    let body = json!({"type": WEBAUTHN, "session": first["session"], "credential": phished});
    s.post(LOGIN, None, body).await.err(403, "M_FORBIDDEN");

    // Removing the key is a sensitive change: password, then the key.
    let remove = format!("{MFA}/webauthn/{credential_id}");
    let start = s.delete(&remove, Some(token), Some(json!({}))).await;
    assert_eq!(start.status, 401);
    let halfway = s
        .delete(&remove, Some(token), Some(json!({"auth": password_auth(&start.body["session"])})))
        .await;
    assert_eq!(halfway.status, 401, "the password alone is not enough: {}", halfway.body);
    let auth = json!({"type": WEBAUTHN, "session": halfway.body["session"],
        "credential": answer(&mut key, &halfway.body, ORIGIN)});
    s.delete(&remove, Some(token), Some(json!({"auth": auth}))).await.ok();
    let factors = s.get(&format!("{MFA}/factors"), Some(token)).await.ok();
    assert_eq!(
        (factors["webauthn"].clone(), factors["recovery_codes_left"].clone()),
        (json!([]), json!(0))
    );
    // With no factor left, the password alone logs in again.
    s.login("alice", "pw", None).await.ok();
}

/// A second factor added later keeps the recovery codes given out with the
/// first; either factor logs in; renewing the codes retires the old ones.
async fn factors_add_up(backend: Backend) {
    let s = server(backend).await;
    let alice = s.register("alice", "pw").await;
    let token = Some(alice.token.as_str());
    let mut key = SoftPasskey::new(true);
    let enrolled = enrol(&s, &alice.token, &mut key, ORIGIN).await.ok();
    let first_codes = enrolled["recovery_codes"].clone();

    // TOTP now asks for the passkey too, and brings no new codes.
    let setup = format!("{MFA}/totp/setup");
    let start = s.post(&setup, token, json!({})).await;
    let halfway =
        s.post(&setup, token, json!({"auth": password_auth(&start.body["session"])})).await;
    assert_eq!(halfway.status, 401, "{}", halfway.body);
    let auth = json!({"type": WEBAUTHN, "session": halfway.body["session"],
        "credential": answer(&mut key, &halfway.body, ORIGIN)});
    let secret = s.post(&setup, token, json!({"auth": auth})).await.ok()["secret"].clone();
    let secret = totp::from_base32(secret.as_str().expect("secret")).expect("base32");
    let code = totp::code(&secret, s.services().auth.clock().now_ms() / 1000 / totp::STEP);
    let confirmed = s.post(&format!("{MFA}/totp/confirm"), token, json!({"code": code})).await.ok();
    assert!(confirmed.get("recovery_codes").is_none(), "{confirmed}");
    let first = s.password_step("alice", "pw").await;
    let flows = first["flows"].to_string();
    assert!(flows.contains(WEBAUTHN) && flows.contains("org.lattice.login.totp"), "{flows}");

    // New recovery codes: the old ones stop working.
    let renew = format!("{MFA}/recovery_codes");
    let start = s.post(&renew, token, json!({})).await;
    let halfway =
        s.post(&renew, token, json!({"auth": password_auth(&start.body["session"])})).await;
    let auth = json!({"type": "org.lattice.login.recovery_code",
        "session": halfway.body["session"], "code": first_codes[0]});
    let renewed = s.post(&renew, token, json!({"auth": auth})).await.ok();
    assert_eq!(renewed["recovery_codes"].as_array().map(Vec::len), Some(10));
    let first = s.password_step("alice", "pw").await;
    let old = json!({"type": "org.lattice.login.recovery_code", "session": first["session"],
        "code": first_codes[1]});
    s.post(LOGIN, None, old).await.err(403, "M_FORBIDDEN");
    let new = json!({"type": "org.lattice.login.recovery_code", "session": first["session"],
        "code": renewed["recovery_codes"][0]});
    s.post(LOGIN, None, new).await.ok();
}

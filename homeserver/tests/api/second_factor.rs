//! TOTP as a second factor: enrolment behind the password, login in two
//! steps, replays and wrong codes refused, recovery codes good once. The
//! server's clock moves; the test computes codes as an authenticator app.

use std::time::Duration;

use lattice_homeserver::services::auth::totp;
use serde_json::{Value, json};

use crate::{
    backend_tests,
    common::{Backend, TestServer},
};

backend_tests!(totp_guards_the_login);

const MFA: &str = "/_matrix/client/unstable/org.lattice.mfa";
const LOGIN: &str = "/_matrix/client/v3/login";

fn code_now(s: &TestServer, secret: &str) -> String {
    let key = totp::from_base32(secret).expect("base32");
    let now = s.services().auth.clock().now_ms();
    totp::code(&key, now / 1000 / totp::STEP)
}

async fn second_step(
    s: &TestServer,
    session: &str,
    stage: &str,
    code: &str,
) -> crate::common::Answer {
    s.post(LOGIN, None, json!({"type": stage, "session": session, "code": code})).await
}

async fn totp_guards_the_login(backend: Backend) {
    let s = TestServer::new(backend).await;
    let alice = s.register("alice", "pw").await;
    let token = Some(alice.token.as_str());

    // Enrolment needs the password again.
    let challenge = s.post(&format!("{MFA}/totp/setup"), token, json!({})).await;
    assert_eq!(challenge.status, 401);
    let auth = json!({"type": "m.login.password", "session": challenge.body["session"],
        "identifier": {"type": "m.id.user", "user": "alice"}, "password": "pw"});
    let setup = s.post(&format!("{MFA}/totp/setup"), token, json!({"auth": auth})).await.ok();
    let secret = setup["secret"].as_str().expect("secret").to_owned();
    assert!(setup["otpauth_uri"].as_str().is_some_and(|uri| uri.starts_with("otpauth://totp/")));
    assert!(setup["qr_code_svg"].as_str().is_some_and(|svg| svg.contains("<svg")));
    s.post(&format!("{MFA}/totp/confirm"), token, json!({"code": "000000"}))
        .await
        .err(403, "M_FORBIDDEN");
    let first_code = code_now(&s, &secret);
    let confirmed =
        s.post(&format!("{MFA}/totp/confirm"), token, json!({"code": first_code})).await.ok();
    let recovery: Vec<String> =
        serde_json::from_value(confirmed["recovery_codes"].clone()).expect("codes");
    assert_eq!(recovery.len(), 10);
    let factors = s.get(&format!("{MFA}/factors"), token).await.ok();
    assert_eq!(
        (factors["totp"].as_bool(), factors["recovery_codes_left"].as_i64()),
        (Some(true), Some(10))
    );

    // The password alone no longer logs in: it opens the second step.
    let first = s.password_step("alice", "pw").await;
    assert_eq!(first["completed"], json!(["m.login.password"]));
    let stages: Vec<&str> = first["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .flat_map(|f| f["stages"].as_array().expect("stages").iter().filter_map(Value::as_str))
        .collect();
    assert!(
        stages.contains(&"org.lattice.login.totp")
            && stages.contains(&"org.lattice.login.recovery_code")
    );
    let session = first["session"].as_str().expect("session").to_owned();
    // The code used to confirm the enrolment cannot be replayed...
    let replay = second_step(&s, &session, "org.lattice.login.totp", &first_code).await;
    replay.err(403, "M_FORBIDDEN");
    second_step(&s, &session, "org.lattice.login.totp", "123456").await.err(403, "M_FORBIDDEN");
    // ...the next one logs in.
    s.services().auth.clock().advance(Duration::from_secs(30));
    let done =
        second_step(&s, &session, "org.lattice.login.totp", &code_now(&s, &secret)).await.ok();
    assert_eq!(done["user_id"], "@alice:localhost");
    let new_token = done["access_token"].as_str().expect("token");
    s.get("/_matrix/client/v3/account/whoami", Some(new_token)).await.ok();
    // The login session is spent.
    s.services().auth.clock().advance(Duration::from_secs(30));
    second_step(&s, &session, "org.lattice.login.totp", &code_now(&s, &secret))
        .await
        .err(403, "M_FORBIDDEN");

    // A recovery code works once.
    let first = s.password_step("alice", "pw").await;
    let session = first["session"].as_str().expect("session").to_owned();
    second_step(&s, &session, "org.lattice.login.recovery_code", &recovery[0]).await.ok();
    let first = s.password_step("alice", "pw").await;
    let session = first["session"].as_str().expect("session").to_owned();
    second_step(&s, &session, "org.lattice.login.recovery_code", &recovery[0])
        .await
        .err(403, "M_FORBIDDEN");
    let factors = s.get(&format!("{MFA}/factors"), token).await.ok();
    assert_eq!(factors["recovery_codes_left"], 9);
    // Sensitive changes now need the second factor too.
    let change = "/_matrix/client/v3/account/password";
    let start = s.post(change, token, json!({"new_password": "pw2"})).await;
    let session = start.body["session"].as_str().expect("session").to_owned();
    let password = json!({"new_password": "pw2", "logout_devices": false, "auth": {
        "type": "m.login.password", "session": session, "password": "pw",
        "identifier": {"type": "m.id.user", "user": "alice"}}});
    let halfway = s.post(change, token, password).await;
    assert_eq!(halfway.status, 401, "the password alone is not enough: {}", halfway.body);
    assert_eq!(halfway.body["completed"], json!(["m.login.password"]));
    s.services().auth.clock().advance(Duration::from_secs(30));
    let factor = json!({"new_password": "pw2", "logout_devices": false, "auth": {
        "type": "org.lattice.login.totp", "session": session, "code": code_now(&s, &secret)}});
    s.post(change, token, factor).await.ok();

    // Without the password step first, a code is worth nothing.
    second_step(&s, "made-up", "org.lattice.login.totp", &code_now(&s, &secret))
        .await
        .err(403, "M_FORBIDDEN");
}

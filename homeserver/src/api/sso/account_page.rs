//! The account page's HTML: signing in, and the second factors (TOTP,
//! passkeys, recovery codes) of the signed-in user. Everything from a
//! request or the database goes through `escape`.

use std::fmt::Write;

use super::page::{document, error_line, escape, factor_forms, password_form};
use crate::services::auth::{WebSession, second_factor::FactorChallenge};

/// Where every form of the page posts.
pub const BASE: &str = "/_lattice/account";

/// What the overview shows.
pub struct Factors {
    pub totp: bool,
    pub recovery_codes_left: i64,
    /// (credential id, name).
    pub passkeys: Vec<(String, String)>,
}

pub struct AccountFrame {
    pub server_name: String,
    pub error: Option<String>,
    pub notice: Option<String>,
}

impl AccountFrame {
    fn render(&self, body: &str) -> String {
        let notice = self
            .notice
            .as_deref()
            .map(|n| format!("<p class=\"notice\" role=\"status\">{}</p>", escape(n)))
            .unwrap_or_default();
        let content = format!("{}{notice}{body}", error_line(self.error.as_deref()));
        document(&format!("Your account on {}", escape(&self.server_name)), &content)
    }

    /// A form posting to `BASE/<action>` with the session's form token.
    fn form(session: &WebSession, action: &str, fields: &str, button: &str) -> String {
        format!(
            "<form method=\"post\" action=\"{BASE}/{action}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">{fields}\
             <button type=\"submit\">{button}</button></form>",
            escape(&session.csrf)
        )
    }

    pub fn sign_in(&self, username: &str) -> String {
        let form = password_form(&format!("{BASE}/password"), "", username);
        self.render(&format!("<p>Sign in to manage your second factors.</p>{form}"))
    }

    pub fn second_factor(&self, challenge: &FactorChallenge) -> String {
        let session = escape(&challenge.session);
        let fields = |stage: &str| {
            format!(
                "<input type=\"hidden\" name=\"session\" value=\"{session}\">\
                 <input type=\"hidden\" name=\"stage\" value=\"{stage}\">"
            )
        };
        let forms = factor_forms(challenge, |_| format!("{BASE}/factor"), fields);
        self.render(&format!("<p>Your account has a second factor.</p>{forms}"))
    }

    pub fn overview(&self, session: &WebSession, factors: &Factors) -> String {
        let mut body =
            format!("<p>Signed in as <strong>{}</strong>.</p>", escape(session.user_id.as_str()));
        body.push_str("<h2>Authenticator app</h2>");
        if factors.totp {
            body.push_str("<p id=\"totp-state\">On: sign-ins ask for a code from your app.</p>");
            body.push_str(&Self::form(session, "totp/remove", "", "Remove the authenticator app"));
        } else {
            body.push_str("<p id=\"totp-state\">Off.</p>");
            body.push_str(&Self::form(session, "totp/setup", "", "Set up an authenticator app"));
        }
        body.push_str("<h2>Passkeys and security keys</h2><ul id=\"passkeys\">");
        for (id, name) in &factors.passkeys {
            let field =
                format!("<input type=\"hidden\" name=\"credential_id\" value=\"{}\">", escape(id));
            let _ = write!(
                body,
                "<li><span class=\"passkey-name\">{}</span>{}</li>",
                escape(name),
                Self::form(session, "passkey/remove", &field, "Remove")
            );
        }
        body.push_str("</ul>");
        let _ = write!(
            body,
            "<form id=\"add-passkey-form\" method=\"post\" action=\"{BASE}/passkey/finish\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <input type=\"hidden\" name=\"registration\" value=\"\">\
             <input type=\"hidden\" name=\"credential\" value=\"\">\
             <label for=\"passkey-name\">Name for a new passkey</label>\
             <input id=\"passkey-name\" name=\"name\" value=\"Passkey\" maxlength=\"64\">\
             <button id=\"add-passkey\" type=\"button\">Add a passkey or security key</button>\
             <p id=\"passkey-error\" class=\"error\" hidden></p></form>",
            escape(&session.csrf)
        );
        let _ = write!(
            body,
            "<h2>Recovery codes</h2><p id=\"recovery-left\">{} left.</p>",
            factors.recovery_codes_left
        );
        if factors.totp || !factors.passkeys.is_empty() {
            body.push_str(&Self::form(session, "recovery", "", "Make new recovery codes"));
        }
        body.push_str(&Self::form(session, "logout", "", "Sign out of this page"));
        self.render(&body)
    }

    /// The second step of setting up TOTP: the secret, and a code to prove
    /// the app has it.
    pub fn totp_setup(
        &self,
        session: &WebSession,
        secret: &str,
        uri: &str,
        qr_svg: &str,
    ) -> String {
        let fields = "<label for=\"code\">Code from your authenticator app</label>\
                      <input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" required>";
        // The QR code is SVG made by the server from the URI alone.
        let body = format!(
            "<p>Scan this code with your authenticator app, or type in the key.</p>\
             <div class=\"qr\">{qr_svg}</div><p>Key: <code id=\"totp-secret\">{}</code></p>\
             <p class=\"small\">{}</p>{}",
            escape(secret),
            escape(uri),
            Self::form(session, "totp/confirm", fields, "Turn on")
        );
        self.render(&body)
    }

    /// New recovery codes, shown once.
    pub fn recovery_codes(&self, codes: &[String]) -> String {
        let mut body = String::from(
            "<p>Keep these codes somewhere safe, such as printed on paper: each signs you in \
             once if you lose your other factors. They are shown only now.</p><ol id=\"recovery-codes\">",
        );
        for code in codes {
            let _ = write!(body, "<li><code>{}</code></li>", escape(code));
        }
        let _ = write!(body, "</ol><p><a href=\"{BASE}\">Back to your account</a></p>");
        self.render(&body)
    }
}

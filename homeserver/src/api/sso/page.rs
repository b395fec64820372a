//! The web login page's HTML, rendered on the server. Everything that
//! comes from a request or the database goes through `escape`.

use std::fmt::Write;

use crate::services::auth::second_factor::{
    FactorChallenge, RECOVERY_STAGE, TOTP_STAGE, WEBAUTHN_STAGE,
};

/// Escapes text for HTML element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What every page shows: which server, and which client will be let in.
pub struct Frame {
    pub server_name: String,
    /// The client's redirect URL, carried through the forms.
    pub redirect_url: String,
    /// The host the browser goes back to, shown so users notice a phishing
    /// link that would hand their account to someone else's client.
    pub client_host: String,
    pub error: Option<String>,
}

/// A whole page: the skeleton every page of ours shares.
pub(super) fn document(title: &str, content: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>\
         <link rel=\"stylesheet\" href=\"/_lattice/static/login.css\">\
         <script src=\"/_lattice/static/login.js\" defer></script></head>\
         <body><main class=\"card\"><h1>{title}</h1>{content}</main></body></html>\n"
    )
}

pub(super) fn error_line(error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default()
}

impl Frame {
    fn render(&self, body: &str) -> String {
        let server = escape(&self.server_name);
        let client = escape(&self.client_host);
        let error = error_line(self.error.as_deref());
        let content = format!(
            "<p class=\"client\">You are signing in to a Matrix client at <strong>{client}</strong>. \
             Continue only if you started this sign-in there.</p>{error}{body}"
        );
        document(&format!("Sign in to {server}"), &content)
    }

    fn hidden_redirect(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"redirect_url\" value=\"{}\">",
            escape(&self.redirect_url)
        )
    }

    /// The first step: user name and password.
    pub fn password(&self, username: &str) -> String {
        let form = password_form("/_lattice/sso/password", &self.hidden_redirect(), username);
        self.render(&format!(
            "{form}<p class=\"small\"><a href=\"/_lattice/account\">Manage your second factors</a></p>"
        ))
    }

    /// The second step: one form per factor the user has.
    pub fn second_factor(&self, challenge: &FactorChallenge) -> String {
        let session = escape(&challenge.session);
        let fields = |stage: &str| {
            format!(
                "{}<input type=\"hidden\" name=\"session\" value=\"{session}\">\
                 <input type=\"hidden\" name=\"stage\" value=\"{stage}\">",
                self.hidden_redirect()
            )
        };
        let forms = factor_forms(challenge, |_| "/_lattice/sso/factor".into(), fields);
        self.render(&format!("<p>Your account has a second factor.</p>{forms}"))
    }
}

/// The user name and password form, posted to `action` with `hidden`.
pub(super) fn password_form(action: &str, hidden: &str, username: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\">{hidden}\
         <label for=\"username\">User name</label>\
         <input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{}\">\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button id=\"sign-in\" type=\"submit\">Continue</button></form>",
        escape(username)
    )
}

/// One form per factor of `challenge` (passkey, TOTP, recovery code),
/// posted to `action(stage)` with the `fields(stage)` hidden inputs.
pub(super) fn factor_forms(
    challenge: &FactorChallenge,
    action: impl Fn(&str) -> String,
    fields: impl Fn(&str) -> String,
) -> String {
    let mut body = String::new();
    if let (true, Some(options)) =
        (challenge.stages.contains(&WEBAUTHN_STAGE), &challenge.webauthn_options)
    {
        // JSON inside <script> must not be able to close the element.
        let json = options
            .to_string()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026");
        let _ = write!(
            body,
            "<script type=\"application/json\" id=\"webauthn-options\">{json}</script>\
             <form id=\"passkey-form\" method=\"post\" action=\"{}\">{}\
             <input type=\"hidden\" name=\"credential\" value=\"\">\
             <button id=\"use-passkey\" type=\"button\">Use your passkey or security key</button>\
             <p id=\"passkey-error\" class=\"error\" hidden></p></form>",
            action(WEBAUTHN_STAGE),
            fields(WEBAUTHN_STAGE)
        );
    }
    if challenge.stages.contains(&TOTP_STAGE) {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"{}\">{}\
             <label for=\"code\">Code from your authenticator app</label>\
             <input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
             pattern=\"[0-9 ]*\" required>\
             <button type=\"submit\">Verify</button></form>",
            action(TOTP_STAGE),
            fields(TOTP_STAGE)
        );
    }
    let _ = write!(
        body,
        "<details><summary>Use a recovery code</summary>\
         <form method=\"post\" action=\"{}\">{}\
         <label for=\"recovery\">Recovery code</label>\
         <input id=\"recovery\" name=\"code\" autocomplete=\"off\" required>\
         <button type=\"submit\">Verify</button></form></details>",
        action(RECOVERY_STAGE),
        fields(RECOVERY_STAGE)
    );
    body
}

/// The pages a client opens for a user-interactive auth stage it cannot
/// do itself (Element does this for our second factors).
pub struct FallbackFrame {
    pub server_name: String,
    pub session: String,
    pub error: Option<String>,
}

impl FallbackFrame {
    fn render(&self, body: &str) -> String {
        let content = format!(
            "<p class=\"client\">Your Matrix client needs you to confirm it is you.</p>{}{body}",
            error_line(self.error.as_deref())
        );
        document(&format!("Confirm your identity on {}", escape(&self.server_name)), &content)
    }

    fn action(stage: &str) -> String {
        format!("/_matrix/client/v3/auth/{}/fallback/web", escape(stage))
    }

    fn session_field(&self) -> String {
        format!("<input type=\"hidden\" name=\"session\" value=\"{}\">", escape(&self.session))
    }

    pub fn password(&self) -> String {
        let body = format!(
            "<form method=\"post\" action=\"{}\">{}\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button id=\"confirm\" type=\"submit\">Continue</button></form>",
            Self::action("m.login.password"),
            self.session_field()
        );
        self.render(&body)
    }

    pub fn second_factor(&self, challenge: &FactorChallenge) -> String {
        let forms = factor_forms(challenge, Self::action, |_| self.session_field());
        self.render(&format!("<p>Answer with one of your second factors.</p>{forms}"))
    }

    /// A page that can only say what went wrong.
    pub fn problem(&self) -> String {
        self.render("")
    }

    /// The stage is done: the script tells the client (`onAuthDone`, or a
    /// message to the window that opened us).
    pub fn done(&self) -> String {
        self.render(
            "<p id=\"auth-done\">Done. You can close this window and go back to your client.</p>",
        )
    }
}

/// An e-mail address confirmed by its link.
pub fn confirmed(server_name: &str) -> String {
    let content = "<p id=\"confirmed\">Your e-mail address is confirmed. \
                   Go back to your Matrix client to finish.</p>";
    document(&format!("E-mail confirmed on {}", escape(server_name)), content)
}

/// A page for a request that cannot go anywhere (no usable redirect URL).
pub fn problem(server_name: &str, message: &str) -> String {
    let content = format!("<p class=\"error\">{}</p>", escape(message));
    document(&format!("Sign in to {}", escape(server_name)), &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_cannot_break_out_of_the_markup() {
        let frame = Frame {
            server_name: "example.org".into(),
            redirect_url: "https://client.example/\"><script>alert(1)</script>".into(),
            client_host: "client.example".into(),
            error: Some("<b>no</b>".into()),
        };
        let page = frame.password("\"><img src=x onerror=alert(1)>");
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<img"));
        assert!(!page.contains("<b>no"));
        assert!(page.contains("&lt;b&gt;no&lt;/b&gt;"));
    }
}

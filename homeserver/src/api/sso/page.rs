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

impl Frame {
    fn render(&self, body: &str) -> String {
        let server = escape(&self.server_name);
        let client = escape(&self.client_host);
        let error = self
            .error
            .as_deref()
            .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
            .unwrap_or_default();
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Sign in to {server}</title>\
             <link rel=\"stylesheet\" href=\"/_lattice/static/login.css\">\
             <script src=\"/_lattice/static/login.js\" defer></script></head>\
             <body><main class=\"card\"><h1>Sign in to {server}</h1>\
             <p class=\"client\">You are signing in to a Matrix client at <strong>{client}</strong>. \
             Continue only if you started this sign-in there.</p>{error}{body}</main></body></html>\n"
        )
    }

    fn hidden_redirect(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"redirect_url\" value=\"{}\">",
            escape(&self.redirect_url)
        )
    }

    /// The first step: user name and password.
    pub fn password(&self, username: &str) -> String {
        let body = format!(
            "<form method=\"post\" action=\"/_lattice/sso/password\">{}\
             <label for=\"username\">User name</label>\
             <input id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{}\">\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button id=\"sign-in\" type=\"submit\">Continue</button></form>",
            self.hidden_redirect(),
            escape(username)
        );
        self.render(&body)
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
        let mut body = String::from("<p>Your account has a second factor.</p>");
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
                 <form id=\"passkey-form\" method=\"post\" action=\"/_lattice/sso/factor\">{}\
                 <input type=\"hidden\" name=\"credential\" value=\"\">\
                 <button id=\"use-passkey\" type=\"button\">Use your passkey or security key</button>\
                 <p id=\"passkey-error\" class=\"error\" hidden></p></form>",
                fields(WEBAUTHN_STAGE)
            );
        }
        if challenge.stages.contains(&TOTP_STAGE) {
            let _ = write!(
                body,
                "<form method=\"post\" action=\"/_lattice/sso/factor\">{}\
                 <label for=\"code\">Code from your authenticator app</label>\
                 <input id=\"code\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
                 pattern=\"[0-9 ]*\" required>\
                 <button type=\"submit\">Verify</button></form>",
                fields(TOTP_STAGE)
            );
        }
        let _ = write!(
            body,
            "<details><summary>Use a recovery code</summary>\
             <form method=\"post\" action=\"/_lattice/sso/factor\">{}\
             <label for=\"recovery\">Recovery code</label>\
             <input id=\"recovery\" name=\"code\" autocomplete=\"off\" required>\
             <button type=\"submit\">Verify</button></form></details>",
            fields(RECOVERY_STAGE)
        );
        self.render(&body)
    }
}

/// A page for a request that cannot go anywhere (no usable redirect URL).
pub fn problem(server_name: &str, message: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in to {0}</title>\
         <link rel=\"stylesheet\" href=\"/_lattice/static/login.css\"></head>\
         <body><main class=\"card\"><h1>Sign in to {0}</h1><p class=\"error\">{1}</p></main></body></html>\n",
        escape(server_name),
        escape(message)
    )
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

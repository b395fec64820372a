//! The sign-in form: the password, then a second factor if the account
//! has one.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use crate::matrix::Action;

/// The sign-in form: the password, then a second factor if the account
/// has one.
#[derive(Debug, Default)]
pub struct LoginForm {
    pub homeserver: String,
    pub user: String,
    pub password: String,
    /// The login session waiting for a second factor, and its stages.
    pub second_factor: Option<(String, Vec<String>)>,
    pub code: String,
    /// The code is a recovery code rather than the authenticator's.
    pub recovery: bool,
    /// Which field has the cursor: 0 user, 1 password (or the code).
    pub field: usize,
    pub error: Option<String>,
    pub busy: bool,
    /// The web page the browser was sent to, while waiting for it.
    pub browser: Option<String>,
}

/// Keys on the sign-in form.
pub fn login_key(form: &mut LoginForm, key: KeyEvent) -> Vec<Action> {
    if form.busy {
        return Vec::new();
    }
    let field: &mut String = match (&form.second_factor, form.field) {
        (Some(_), _) => &mut form.code,
        (None, 0) => &mut form.user,
        (None, _) => &mut form.password,
    };
    match key.code {
        // The server's web page: single sign-on, passkeys.
        KeyCode::F(3) if form.second_factor.is_none() => {
            form.error = None;
            form.busy = true;
            return vec![Action::BrowserLogin];
        }
        KeyCode::Char(c) => field.push(c),
        KeyCode::Backspace => {
            field.pop();
        }
        KeyCode::Tab | KeyCode::Down | KeyCode::Up if form.second_factor.is_none() => {
            form.field = 1 - form.field.min(1);
        }
        // In the second step, Tab switches between the authenticator's code
        // and a recovery code.
        KeyCode::Tab => form.recovery = !form.recovery,
        KeyCode::Enter if form.second_factor.is_none() && form.field == 0 => form.field = 1,
        KeyCode::Enter => {
            form.error = None;
            form.busy = true;
            return vec![match &form.second_factor {
                Some((session, _)) => Action::SecondFactor {
                    session: session.clone(),
                    code: form.code.trim().to_owned(),
                    recovery: form.recovery,
                },
                None => Action::Login {
                    user: form.user.trim().to_owned(),
                    password: form.password.clone(),
                },
            }];
        }
        _ => {}
    }
    Vec::new()
}

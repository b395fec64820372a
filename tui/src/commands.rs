//! Slash commands typed in the composer.

/// What a line starting with `/` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/join #room:server` or a room id.
    Join(String),
    /// `/leave`: the open room.
    Leave,
    /// `/invite @user:server`.
    Invite(String),
    /// `/kick @user:server [reason]`.
    Kick(String, Option<String>),
    /// `/ban @user:server [reason]`.
    Ban(String, Option<String>),
    /// `/unban @user:server`.
    Unban(String),
    /// `/topic text`.
    Topic(String),
    /// `/name text`.
    Name(String),
    /// `/me does something`.
    Emote(String),
    /// `/dm @user:server`: a direct chat, encrypted.
    Dm(String),
    /// `/create name`: a private room, encrypted.
    Create(String),
    /// `/upload FILE`: sends a file (encrypted in encrypted rooms).
    Upload(String),
    /// `/download [DIR]`: saves the picked (or newest) file.
    Download(Option<String>),
    /// `/search words`: messages in every room.
    Search(String),
    /// `/devices [@user:server]`: someone's devices (one's own by default)
    /// and which are verified.
    Devices(Option<String>),
    /// `/verify [@user:server [DEVICE]]`: compare emoji with a device.
    Verify(Option<String>, Option<String>),
    /// `/backup`: keeps room keys on the server, sealed by a recovery key.
    Backup,
    /// `/restore KEY`: reads the key backup with the recovery key.
    Restore(String),
    /// `/away [message]`: tells others you are away.
    Away(Option<String>),
    /// `/back`: around again.
    Back,
    /// `/logout`: ends the session on the server and forgets it here.
    Logout,
    /// `/help`.
    Help,
    /// `/quit`.
    Quit,
}

/// Every command with its arguments, for the help screen and completion.
pub const COMMANDS: &[(&str, &str)] = &[
    ("/join", "#room:server — join a room"),
    ("/leave", "— leave this room"),
    ("/invite", "@user:server — invite someone here"),
    ("/kick", "@user:server [reason]"),
    ("/ban", "@user:server [reason]"),
    ("/unban", "@user:server"),
    ("/topic", "text — set this room's topic"),
    ("/name", "text — rename this room"),
    ("/me", "text — an action (emote)"),
    ("/dm", "@user:server — a direct chat (encrypted)"),
    ("/create", "name — a private room (encrypted)"),
    ("/upload", "FILE — send a file"),
    ("/download", "[DIR] — save the picked or newest file"),
    ("/search", "words — find messages in every room"),
    ("/devices", "[@user:server] — devices and who verified them"),
    ("/verify", "[@user:server [DEVICE]] — compare emoji with a device"),
    ("/backup", "— back up room keys; shows the recovery key"),
    ("/restore", "KEY — read the key backup with the recovery key"),
    ("/away", "[message] — tell others you are away"),
    ("/back", "— around again"),
    ("/logout", "— sign out and forget this session"),
    ("/help", "— keys and commands"),
    ("/quit", "— leave lattice-chat"),
];

/// Parses a composer line; `None` when it is no command (a message, or
/// `//text` to send a message starting with a slash). An unknown command
/// or one missing its argument is an error naming it.
pub fn parse(line: &str) -> Option<Result<Command, String>> {
    let line = line.trim();
    let rest = line.strip_prefix('/')?;
    if rest.starts_with('/') {
        return None;
    }
    let (name, argument) = match rest.split_once(char::is_whitespace) {
        Some((name, argument)) => (name, argument.trim()),
        None => (rest, ""),
    };
    let needed = |what: &str| {
        if argument.is_empty() {
            Err(format!("/{name} needs {what}"))
        } else {
            Ok(argument.to_owned())
        }
    };
    let optional = (!argument.is_empty()).then(|| argument.to_owned());
    let with_reason = || -> Result<(String, Option<String>), String> {
        let who = needed("a user id")?;
        Ok(match who.split_once(char::is_whitespace) {
            Some((user, reason)) => (user.to_owned(), Some(reason.trim().to_owned())),
            None => (who, None),
        })
    };
    Some(match name {
        "join" | "j" => needed("a room alias or id").map(Command::Join),
        "leave" | "part" => Ok(Command::Leave),
        "invite" => needed("a user id").map(Command::Invite),
        "kick" => with_reason().map(|(user, reason)| Command::Kick(user, reason)),
        "ban" => with_reason().map(|(user, reason)| Command::Ban(user, reason)),
        "unban" => needed("a user id").map(Command::Unban),
        "topic" => needed("a topic").map(Command::Topic),
        "name" => needed("a name").map(Command::Name),
        "me" => needed("an action").map(Command::Emote),
        "dm" | "query" => needed("a user id").map(Command::Dm),
        "create" => needed("a room name").map(Command::Create),
        "upload" | "attach" => needed("a file").map(Command::Upload),
        "download" | "save" => Ok(Command::Download(optional)),
        "search" | "find" => needed("words to look for").map(Command::Search),
        "devices" => Ok(Command::Devices(optional)),
        "verify" => Ok(match optional.as_deref().map(|a| a.split_once(char::is_whitespace)) {
            Some(Some((user, device))) => {
                Command::Verify(Some(user.to_owned()), Some(device.trim().to_owned()))
            }
            _ => Command::Verify(optional, None),
        }),
        "backup" => Ok(Command::Backup),
        "restore" => needed("the recovery key").map(Command::Restore),
        "away" => Ok(Command::Away(optional)),
        "back" => Ok(Command::Back),
        "logout" => Ok(Command::Logout),
        "help" | "?" => Ok(Command::Help),
        "quit" | "q" | "exit" => Ok(Command::Quit),
        _ => Err(format!("no command /{name} (/help lists them)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_messages_are_told_apart() {
        assert_eq!(parse("hello"), None);
        assert_eq!(parse("//not a command"), None);
        assert_eq!(
            parse("/join #rust:example.org"),
            Some(Ok(Command::Join("#rust:example.org".into())))
        );
        assert_eq!(parse("/me waves"), Some(Ok(Command::Emote("waves".into()))));
        assert_eq!(
            parse("/kick @bob:x spamming links"),
            Some(Ok(Command::Kick("@bob:x".into(), Some("spamming links".into()))))
        );
        assert_eq!(parse("/ban @bob:x"), Some(Ok(Command::Ban("@bob:x".into(), None))));
        assert_eq!(parse("/quit"), Some(Ok(Command::Quit)));
        assert_eq!(parse("/download"), Some(Ok(Command::Download(None))));
        assert_eq!(
            parse("/verify @bob:x PHONE"),
            Some(Ok(Command::Verify(Some("@bob:x".into()), Some("PHONE".into()))))
        );
        assert_eq!(parse("/verify"), Some(Ok(Command::Verify(None, None))));
        assert_eq!(parse("/restore EsTc 1234"), Some(Ok(Command::Restore("EsTc 1234".into()))));
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(parse("/join"), Some(Err("/join needs a room alias or id".into())));
        assert_eq!(parse("/fly"), Some(Err("no command /fly (/help lists them)".into())));
    }
}

//! How names cross: an IRC nick is a ghost user `@irc_{nick}`, a channel
//! `#chan` is the portal `#irc_chan`, and a Matrix user is the IRC nick
//! `{localpart}[m]`. Characters one side does not allow are escaped or
//! dropped.

/// Prefix of the ghosts' localparts and the portals' aliases.
pub const PREFIX: &str = "irc_";

/// IRC nicks are short on most servers; ngircd allows up to 30 when asked.
const NICK_LENGTH: usize = 30;

/// The localpart of the ghost of `nick`: lowercase, with characters a
/// Matrix localpart cannot hold written as `=xx`.
pub fn ghost_localpart(nick: &str) -> String {
    let mut localpart = String::from(PREFIX);
    for c in nick.chars() {
        match c.to_ascii_lowercase() {
            l @ ('a'..='z' | '0'..='9' | '.' | '_' | '-' | '/') => localpart.push(l),
            other => {
                let mut buffer = [0u8; 4];
                for byte in other.encode_utf8(&mut buffer).bytes() {
                    localpart.push_str(&format!("={byte:02x}"));
                }
            }
        }
    }
    localpart
}

/// The alias localpart of a channel's portal (`#rust` → `irc_rust`), if
/// the channel has a name an alias can carry.
pub fn portal_alias_localpart(channel: &str) -> Option<String> {
    let name = channel.strip_prefix('#')?.to_ascii_lowercase();
    let fine = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    fine.then(|| format!("{PREFIX}{name}"))
}

/// The channel an alias localpart stands for (`irc_rust` → `#rust`).
pub fn channel_of_alias_localpart(localpart: &str) -> Option<String> {
    let name = localpart.strip_prefix(PREFIX)?;
    portal_alias_localpart(&format!("#{name}")).map(|_| format!("#{name}"))
}

/// The IRC nick a Matrix user speaks under: their localpart with `[m]`,
/// keeping the characters IRC nicks allow.
pub fn puppet_nick(localpart: &str) -> String {
    let mut nick: String = localpart
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_[]{}\\`|^".contains(*c))
        .collect();
    if !nick.starts_with(|c: char| c.is_ascii_alphabetic() || "[]{}\\`|^_".contains(c)) {
        nick.insert(0, 'm');
    }
    nick.truncate(NICK_LENGTH - 3);
    nick.push_str("[m]");
    nick
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cross_both_ways() {
        assert_eq!(ghost_localpart("Carol"), "irc_carol");
        assert_eq!(ghost_localpart("[afk]"), "irc_=5bafk=5d");
        assert_eq!(portal_alias_localpart("#Rust"), Some("irc_rust".to_owned()));
        assert_eq!(portal_alias_localpart("#a b"), None);
        assert_eq!(channel_of_alias_localpart("irc_rust"), Some("#rust".to_owned()));
        assert_eq!(channel_of_alias_localpart("other"), None);
        assert_eq!(puppet_nick("alice"), "alice[m]");
        assert_eq!(puppet_nick("1.2"), "m12[m]");
    }
}

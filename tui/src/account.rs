//! Accounts between runs: each has a folder with the SDK's store (session,
//! sync position, rooms, encryption keys), the key that encrypts the
//! store's secrets, and the homeserver and user it signs in as.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What is remembered of an account besides its store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub homeserver: String,
    pub user: String,
}

/// An account's folder and files.
#[derive(Debug, Clone)]
pub struct AccountDir {
    dir: PathBuf,
}

impl AccountDir {
    /// `<data_dir>/accounts/<name>`, made if need be (readable by its owner only).
    pub fn open(data_dir: &Path, name: &str) -> std::io::Result<Self> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(std::io::Error::other(format!("not an account name: {name:?}")));
        }
        let dir = data_dir.join("accounts").join(name);
        std::fs::create_dir_all(&dir)?;
        restrict(&dir, 0o700)?;
        Ok(Self { dir })
    }

    /// The SDK's store.
    pub fn store_path(&self) -> PathBuf {
        self.dir.join("store.sqlite")
    }

    /// The homeserver and user saved at the last sign-in.
    pub fn saved(&self) -> Option<Account> {
        let text = std::fs::read_to_string(self.dir.join("account.toml")).ok()?;
        toml::from_str(&text).ok()
    }

    pub fn save(&self, account: &Account) -> std::io::Result<()> {
        let text = toml::to_string(account).map_err(std::io::Error::other)?;
        std::fs::write(self.dir.join("account.toml"), text)
    }

    /// The passphrase for the store's secrets: 32 random bytes made at the
    /// first start, in a file only its owner can read. (The store's access
    /// token and Olm keys are then unreadable to whoever copies the store
    /// without this file.)
    pub fn store_key(&self) -> std::io::Result<String> {
        let path = self.dir.join("store.key");
        if let Ok(key) = std::fs::read_to_string(&path) {
            return Ok(key.trim().to_owned());
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
        let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&path, &key)?;
        restrict(&path, 0o600)?;
        Ok(key)
    }

    /// Forgets the session (after /logout, or when the server ended it):
    /// the store and its key go; the homeserver and user stay, for the
    /// next sign-in.
    pub fn forget(&self) -> std::io::Result<()> {
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with("store.") {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

/// Where accounts live by default: `$XDG_DATA_HOME/lattice-chat`, else
/// `~/.local/share/lattice-chat`.
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(data) => PathBuf::from(data).join("lattice-chat"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".local/share/lattice-chat"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_keeps_its_key_and_settings() {
        let data = tempfile::tempdir().expect("temp dir");
        let account = AccountDir::open(data.path(), "work").expect("opened");
        let key = account.store_key().expect("key");
        assert_eq!(key.len(), 64);
        assert_eq!(account.store_key().expect("same key"), key);
        assert_eq!(account.saved(), None);
        let saved = Account { homeserver: "https://m.example.org".into(), user: "alice".into() };
        account.save(&saved).expect("saved");
        assert_eq!(AccountDir::open(data.path(), "work").expect("again").saved(), Some(saved));
        assert!(AccountDir::open(data.path(), "../escape").is_err());
        std::fs::write(account.store_path(), b"session").expect("a store");
        account.forget().expect("forgotten");
        assert!(!account.store_path().exists());
        assert_ne!(account.store_key().expect("a new key"), key);
        assert!(account.saved().is_some(), "the homeserver and user stay");
    }
}

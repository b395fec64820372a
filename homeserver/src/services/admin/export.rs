//! A user's data, exported (GDPR, article 20): `lattice admin export-user`,
//! and users' own exports as a tar archive. A folder of JSON files and the
//! user's uploads, written as it is read (events go out page by page,
//! files are streamed), so any account fits.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use ruma::{OwnedUserId, UserId, api::client::uiaa::AuthData};

use serde_json::{Value as JsonValue, json};
use tokio::io::AsyncWriteExt;

use super::Admin;
use crate::{
    error::{Error, Result},
    services::{
        auth::{Requester, UiaFlows, tokens::random_letters},
        rooms::pdu::ClientView,
    },
};

/// Events read per page.
const PAGE: i64 = 500;

/// Users whose own export is being made or sent.
pub(super) type Exporting = Arc<Mutex<HashSet<OwnedUserId>>>;

/// A user's export as one tar archive, read as it is written.
pub struct ExportArchive {
    /// What to call the file (`alice-export.tar`).
    pub file_name: String,
    pub content: tokio::io::DuplexStream,
}

/// What an export holds, counted.
#[derive(Debug, Default)]
pub struct ExportSummary {
    pub events: usize,
    pub rooms: usize,
    pub devices: usize,
    pub media: usize,
}

impl Admin {
    /// Writes everything Lattice holds about `user_id` into `dir`:
    /// `profile.json`, `devices.json`, `account_data.json`, `rooms.json`,
    /// `events.jsonl` (every event they sent, one per line) and
    /// `media/` with `media.json` (their uploads).
    pub async fn export_user(&self, user_id: &ruma::UserId, dir: &Path) -> Result<ExportSummary> {
        let user = user_id.as_str();
        let store = &self.store;
        let Some(account) = store.get_user(user).await? else {
            return Err(Error::not_found("no such user"));
        };
        tokio::fs::create_dir_all(dir.join("media")).await.map_err(Error::internal)?;
        let write = |name: &str, value: JsonValue| {
            let path = dir.join(name);
            async move {
                let text = serde_json::to_vec_pretty(&value).map_err(Error::internal)?;
                tokio::fs::write(path, text).await.map_err(Error::internal)
            }
        };
        let mut summary = ExportSummary::default();

        let mut profile = serde_json::Map::new();
        for (field, value) in store.profile_fields(user).await? {
            profile.insert(field, serde_json::from_str(&value).unwrap_or(JsonValue::String(value)));
        }
        let created_at = store.user_created_at(user).await?;
        write(
            "profile.json",
            json!({"user_id": user, "created_at": created_at, "admin": account.is_admin != 0, "profile": profile}),
        )
        .await?;

        let devices = store.list_devices(user).await?;
        summary.devices = devices.len();
        let devices: Vec<JsonValue> = devices
            .into_iter()
            .map(|d| {
                json!({"device_id": d.device_id, "display_name": d.display_name,
                "last_seen_at": d.last_seen_at, "last_seen_ip": d.last_seen_ip})
            })
            .collect();
        write("devices.json", json!(devices)).await?;

        let data: Vec<JsonValue> = store
            .account_data_since(user, 0)
            .await?
            .into_iter()
            .map(|(room, kind, content)| {
                let content: JsonValue = serde_json::from_str(&content).unwrap_or(JsonValue::Null);
                json!({"room_id": (!room.is_empty()).then_some(room), "type": kind, "content": content})
            })
            .collect();
        write("account_data.json", json!(data)).await?;

        let rooms = store.memberships(user).await?;
        summary.rooms = rooms.len();
        let rooms: Vec<JsonValue> = rooms
            .into_iter()
            .map(|(room, membership)| json!({"room_id": room, "membership": membership}))
            .collect();
        write("rooms.json", json!(rooms)).await?;

        let mut events = tokio::io::BufWriter::new(
            tokio::fs::File::create(dir.join("events.jsonl")).await.map_err(Error::internal)?,
        );
        let mut after = 0;
        loop {
            let page = store.events_sent_by(user, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.stream;
            for row in &page {
                let view = ClientView::from_stored(&row.event_id, &row.room_id, &row.pdu)?;
                let mut line = serde_json::to_vec(&view.to_json(None)).map_err(Error::internal)?;
                line.push(b'\n');
                events.write_all(&line).await.map_err(Error::internal)?;
                summary.events += 1;
            }
        }
        events.flush().await.map_err(Error::internal)?;

        let mut uploads = Vec::new();
        for upload in store.uploads_of(user).await? {
            let stored = match &upload.sha256 {
                Some(sha256) => self.accounts.media().open_blob(sha256).await?,
                None => None,
            };
            if let Some(mut content) = stored {
                let path = dir.join("media").join(&upload.media_id);
                let mut file = tokio::fs::File::create(path).await.map_err(Error::internal)?;
                tokio::io::copy(&mut content, &mut file).await.map_err(Error::internal)?;
                summary.media += 1;
            }
            uploads.push(json!({"media_id": upload.media_id, "content_type": upload.content_type,
                "filename": upload.filename, "size": upload.size, "created_at": upload.created_at,
                "file": format!("media/{}", upload.media_id)}));
        }
        write("media.json", json!(uploads)).await?;
        Ok(summary)
    }
}

impl Admin {
    /// A user's own export (after they proved it is them again), as a tar
    /// archive of the folder [`Admin::export_user`] writes. The folder is
    /// made under the data directory and deleted once sent; one export
    /// per user at a time.
    pub async fn export_archive(
        &self,
        requester: &Requester,
        auth: Option<&AuthData>,
    ) -> Result<ExportArchive> {
        let user = &requester.user_id;
        self.auth.user_interactive(&UiaFlows::password(), auth, Some(user)).await?;
        let slot = ExportSlot::take(&self.exporting, user)?;
        let folder = format!("{}-export", user.localpart());
        let dir = Scratch(self.config.server.data_dir.join("exports").join(random_letters(16)?));
        self.export_user(user, &dir.0).await?;
        let (writer, content) = tokio::io::duplex(64 * 1024);
        let writer = tokio_util::io::SyncIoBridge::new(writer);
        tokio::task::spawn_blocking(move || {
            let (_slot, dir) = (slot, dir);
            let mut archive = tar::Builder::new(writer);
            let sent = archive.append_dir_all(&folder, &dir.0).and_then(|()| archive.finish());
            // The client may go away mid-way; its next try starts over.
            if let Err(error) = sent {
                tracing::info!(%error, "an export was not sent to the end");
            }
        });
        Ok(ExportArchive { file_name: format!("{}-export.tar", user.localpart()), content })
    }
}

/// A user's place in [`Exporting`], given back when dropped.
struct ExportSlot {
    exporting: Exporting,
    user: OwnedUserId,
}

impl ExportSlot {
    fn take(exporting: &Exporting, user: &UserId) -> Result<Self> {
        let mut busy = exporting.lock().unwrap_or_else(|e| e.into_inner());
        if !busy.insert(user.to_owned()) {
            return Err(Error::LimitExceeded { retry_after_ms: 60_000 });
        }
        Ok(Self { exporting: exporting.clone(), user: user.to_owned() })
    }
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        self.exporting.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.user);
    }
}

/// A folder deleted when dropped (an export, once sent or failed).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

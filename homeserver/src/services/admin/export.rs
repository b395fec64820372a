//! A user's data, exported (GDPR, article 20): `lattice admin export-user`.
//! A folder of JSON files and the user's uploads, written as it is read
//! (events go out page by page, files are streamed), so any account fits.

use std::path::Path;

use serde_json::{Value as JsonValue, json};
use tokio::io::AsyncWriteExt;

use super::Admin;
use crate::{
    error::{Error, Result},
    services::{
        media::storage::{BlobStorage, FileStorage},
        rooms::pdu::ClientView,
    },
};

/// Events read per page.
const PAGE: i64 = 500;

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

        let files = FileStorage::new(self.config.server.data_dir.join("media"));
        let mut uploads = Vec::new();
        for upload in store.uploads_of(user).await? {
            let stored = match &upload.sha256 {
                Some(sha256) => files.open(sha256).await?,
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

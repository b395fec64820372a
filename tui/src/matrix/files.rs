//! Files in and out of rooms, and searching messages on the server.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use lattice_sdk::{
    Room,
    ruma::{
        OwnedEventId,
        events::{AnyMessageLikeEvent, AnyTimelineEvent, MessageLikeEvent, room::MediaSource},
    },
};

use super::{Outcome, Worker};
use crate::{app::overlay::Hit, config::expand_home, ui::lines::human_size};

impl Worker {
    /// Sends a file from disk: an image as `m.image`, anything else as
    /// `m.file`; encrypted when the room is.
    pub(super) async fn upload(&self, room: &Room, path: &str) -> Result<Outcome, String> {
        let path = expand_home(path);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file").to_owned();
        let kind = mime_guess::from_path(&path).first_or_octet_stream();
        let size = bytes.len() as u64;
        let sent = if kind.type_() == mime_guess::mime::IMAGE {
            room.send_image(&name, kind.essence_str(), bytes).await
        } else {
            room.send_file(&name, kind.essence_str(), bytes).await
        };
        sent.map_err(|e| format!("{name} not sent: {e}"))?;
        Ok(Outcome::Info(format!("sent {name} ({})", human_size(size))))
    }

    /// Downloads (and decrypts) a file message's content into `dir`, under
    /// its own name made safe, never over an existing file.
    pub(super) async fn download(&self, source: &MediaSource, name: &str, dir: PathBuf) -> Outcome {
        let bytes = match self.client.media().download_source(source).await {
            Ok(bytes) => bytes,
            Err(error) => return Outcome::Failed(format!("{name} not downloaded: {error}")),
        };
        let name = safe_file_name(name);
        let saved = tokio::task::spawn_blocking(move || save_new(&dir, &name, &bytes)).await;
        match saved {
            Ok(Ok(path)) => Outcome::Info(format!("saved {}", path.display())),
            Ok(Err(error)) => Outcome::Failed(format!("not saved: {error}")),
            Err(error) => Outcome::Failed(format!("not saved: {error}")),
        }
    }

    /// Fetches (and decrypts) an image message's content and makes it no
    /// larger than `fit`, here rather than on the screen's task. A picture
    /// that cannot be had leaves the message a file line, without a word:
    /// it was a preview.
    pub(super) async fn picture(
        &self,
        event: OwnedEventId,
        source: &MediaSource,
        fit: (u32, u32),
    ) -> Option<Outcome> {
        let bytes = self.client.media().download_source(source).await.ok()?;
        let picture =
            tokio::task::spawn_blocking(move || small_picture(&bytes, fit)).await.ok()??;
        Some(Outcome::Picture { event, picture })
    }

    /// The server's search of every room (encrypted rooms excepted: the
    /// screen searches those in what it decrypted).
    pub(super) async fn search(&self, term: String) -> Outcome {
        match self.client.search_messages(&term, 30).await {
            Ok(events) => {
                Outcome::SearchResults { hits: events.iter().filter_map(hit).collect(), term }
            }
            Err(error) => Outcome::Failed(format!("search: {error}")),
        }
    }
}

fn hit(event: &AnyTimelineEvent) -> Option<Hit> {
    let AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
        MessageLikeEvent::Original(message),
    )) = event
    else {
        return None;
    };
    Some(Hit {
        room_id: message.room_id.clone(),
        event_id: message.event_id.clone(),
        sender: message.sender.clone(),
        ts: message.origin_server_ts,
        text: message.content.body().to_owned(),
    })
}

/// Decodes someone else's picture within limits (a crafted file cannot
/// make us allocate gigabytes), shrunk to fit `(width, height)`.
fn small_picture(bytes: &[u8], (width, height): (u32, u32)) -> Option<image::DynamicImage> {
    let mut reader =
        image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().ok()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(8192);
    limits.max_image_height = Some(8192);
    limits.max_alloc = Some(128 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader.decode().ok()?;
    if picture.width() <= width && picture.height() <= height {
        return Some(picture);
    }
    Some(picture.thumbnail(width, height))
}

/// A sender-chosen name reduced to a plain file name: no folders, no
/// hidden or control characters, never empty.
pub fn safe_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() { "download".to_owned() } else { cleaned.to_owned() }
}

/// Writes `bytes` to `dir/name`, or `name (1)`, `name (2)`, … when taken
/// (created new: an existing file or link is never written through).
fn save_new(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, format!(".{extension}")),
        _ => (name, String::new()),
    };
    for n in 0..1000 {
        let candidate = match n {
            0 => dir.join(name),
            n => dir.join(format!("{stem} ({n}){extension}")),
        };
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&candidate) {
            Ok(mut file) => {
                file.write_all(bytes)?;
                return Ok(candidate);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::other(format!("too many files named {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_senders_stay_in_the_folder() {
        assert_eq!(safe_file_name("../../.bashrc"), "bashrc");
        assert_eq!(safe_file_name("C:\\Windows\\evil.exe"), "evil.exe");
        assert_eq!(safe_file_name("report\u{7}.pdf"), "report.pdf");
        assert_eq!(safe_file_name("..."), "download");
        assert_eq!(safe_file_name("notes.txt"), "notes.txt");
    }

    #[test]
    fn a_taken_name_gets_a_number() {
        let dir = tempfile::tempdir().expect("dir");
        let first = save_new(dir.path(), "notes.txt", b"one").expect("saved");
        let second = save_new(dir.path(), "notes.txt", b"two").expect("saved");
        assert_eq!(first, dir.path().join("notes.txt"));
        assert_eq!(second, dir.path().join("notes (1).txt"));
        assert_eq!(std::fs::read(first).expect("read"), b"one");
    }
}

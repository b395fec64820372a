//! Message retention: a room's `m.room.retention` event (MSC1763, as
//! Synapse and Element know it) sets how long its messages live, bounded
//! by the server's config, which also gives rooms without one a default.
//! A job purges what expired: message events and the files they carried;
//! state events stay, and so do each room's newest events, so rooms stay
//! whole and new events can still be built on them.

use std::{sync::Arc, time::Duration};

use serde::Serialize;
use serde_json::Value as JsonValue;

use super::{clock::Clock, media::Media};
use crate::{
    config::{Config, RetentionConfig},
    error::Result,
    store::Store,
};

/// Events deleted per transaction: a large backlog is cleared in steps
/// that never hold the database long.
const BATCH: i64 = 500;

/// What one run of the purge job did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RetentionRun {
    /// Rooms with a lifetime in force.
    pub rooms: usize,
    pub purged_events: u64,
    pub purged_media: u64,
}

#[derive(Clone)]
pub struct Retention {
    store: Store,
    media: Media,
    config: Arc<Config>,
    clock: Clock,
}

impl Retention {
    pub fn new(store: Store, media: Media, config: Arc<Config>, clock: Clock) -> Self {
        Self { store, media, config, clock }
    }

    fn settings(&self) -> &RetentionConfig {
        &self.config.retention
    }

    /// Runs the job every `purge_interval` while the server runs (when
    /// retention is on).
    pub fn spawn(self) {
        if !self.settings().enabled {
            return;
        }
        let closing = self.store.closing();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.settings().purge_interval.max(ONE_SECOND));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let every_tick = async {
                loop {
                    ticks.tick().await;
                    if let Err(error) = self.run().await {
                        tracing::warn!(%error, "retention purge failed; trying at the next run");
                    }
                }
            };
            tokio::select! {
                () = closing => {}
                () = every_tick => {}
            }
        });
    }

    /// The lifetime of a room's messages under its policy (the content of
    /// its `m.room.retention` event) and the server's bounds; `None`:
    /// they are kept.
    pub fn lifetime(&self, policy: Option<&JsonValue>) -> Option<Duration> {
        let settings = self.settings();
        let asked =
            policy.and_then(|content| content["max_lifetime"].as_u64()).map(Duration::from_millis);
        let lifetime = match asked {
            Some(asked) => {
                let floor = asked.max(settings.allowed_min_lifetime);
                match settings.allowed_max_lifetime {
                    Duration::ZERO => floor,
                    ceiling => floor.min(ceiling),
                }
            }
            None => settings.default_max_lifetime,
        };
        (!lifetime.is_zero()).then_some(lifetime)
    }

    /// One pass over every room: deletes what outlived its lifetime.
    pub async fn run(&self) -> Result<RetentionRun> {
        let now = self.clock.now_ms();
        let mut run = RetentionRun::default();
        for (room_id, policy) in self.store.retention_policies().await? {
            let content = policy
                .and_then(|pdu| serde_json::from_str::<JsonValue>(&pdu).ok())
                .map(|event| event["content"].clone());
            let Some(lifetime) = self.lifetime(content.as_ref()) else { continue };
            let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
            let before = now.saturating_sub(lifetime_ms);
            let (mut events, mut media) = (0, 0);
            loop {
                let expired = self.store.expired_events(&room_id, before, BATCH).await?;
                media += self.delete_files_of(&expired).await?;
                let ids: Vec<String> = expired.iter().map(|(id, _)| id.clone()).collect();
                events += self.store.delete_events(&ids).await?;
                if (expired.len() as i64) < BATCH {
                    break;
                }
            }
            self.store
                .record_retention_run(&room_id, lifetime_ms, events as i64, media as i64, now)
                .await?;
            run.rooms += 1;
            run.purged_events += events;
            run.purged_media += media;
        }
        metrics::counter!("lattice_retention_purged_events_total").increment(run.purged_events);
        metrics::counter!("lattice_retention_purged_media_total").increment(run.purged_media);
        if run.purged_events > 0 {
            tracing::info!(
                rooms = run.rooms,
                events = run.purged_events,
                media = run.purged_media,
                "retention purge"
            );
        }
        Ok(run)
    }

    /// Deletes the files of this server that the events carried: how many.
    async fn delete_files_of(&self, events: &[(String, String)]) -> Result<u64> {
        let ours = self.config.server.server_name.as_str();
        let mut deleted = 0;
        for (_, pdu) in events {
            let Ok(event) = serde_json::from_str::<JsonValue>(pdu) else { continue };
            for media_id in carried_media(&event["content"], ours) {
                if self.media.delete(ours, &media_id).await.is_ok() {
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }
}

const ONE_SECOND: Duration = Duration::from_secs(1);

/// The media ids of this server's files an event's content names: the
/// file, its thumbnail, plain or encrypted.
fn carried_media(content: &JsonValue, server: &str) -> Vec<String> {
    let prefix = format!("mxc://{server}/");
    [
        &content["url"],
        &content["file"]["url"],
        &content["info"]["thumbnail_url"],
        &content["info"]["thumbnail_file"]["url"],
    ]
    .into_iter()
    .filter_map(|url| url.as_str()?.strip_prefix(&prefix).map(str::to_owned))
    .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn media_of_this_server_only() {
        let content = json!({"url": "mxc://here/a", "info": {"thumbnail_url": "mxc://there/b",
            "thumbnail_file": {"url": "mxc://here/c"}}});
        assert_eq!(carried_media(&content, "here"), ["a", "c"]);
        assert!(carried_media(&json!({"body": "text"}), "here").is_empty());
    }
}

//! The services hold the server's logic. They never see HTTP (that is the
//! api layer's job) and never write SQL (that is the store's).

pub mod accounts;
pub mod admin;
pub mod appservice;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod cluster;
pub mod delayed_events;
pub mod devices;
mod edus;
pub mod email;
pub mod encryption;
pub mod ephemeral;
pub mod federation;
pub mod http;
pub mod keys;
pub mod media;
pub mod notifier;
pub mod profile;
pub mod push;
pub mod rate_limit;
pub mod retention;
pub mod rooms;
pub mod security;
pub mod server_key;
pub mod sync;
pub mod threepids;
pub mod user_data;
pub mod voip;

use std::sync::Arc;

use crate::{config::Config, error::Result, store::Store};

/// Every service, shared by all request handlers. Cloned for each request
/// (axum's state), so it is one pointer: cloning the services one by one
/// cost dozens of atomic increments per request.
#[derive(Clone)]
pub struct Services(Arc<AllServices>);

impl std::ops::Deref for Services {
    type Target = AllServices;

    fn deref(&self) -> &AllServices {
        &self.0
    }
}

/// What [`Services`] points to.
pub struct AllServices {
    pub config: Arc<Config>,
    pub store: Store,
    pub auth: auth::Auth,
    pub accounts: accounts::Accounts,
    pub devices: devices::Devices,
    pub keys: keys::Keys,
    pub profiles: profile::Profiles,
    pub user_data: user_data::UserData,
    pub pushers: push::Pushers,
    pub threepids: threepids::Threepids,
    pub delayed_events: delayed_events::DelayedEvents,
    /// The application services registered, read at start.
    pub appservices: appservice::Appservices,
    pub push_sender: push::PushSender,
    pub rooms: rooms::Rooms,
    pub sync: sync::SyncService,
    pub typing: ephemeral::Typing,
    pub receipts: ephemeral::Receipts,
    pub presence: ephemeral::Presence,
    pub media: media::Media,
    pub rate_limits: Arc<rate_limit::RateLimiter>,
    pub admin: admin::Admin,
    pub federation: federation::Federation,
    /// The other instances sharing the database (none on SQLite).
    pub cluster: cluster::Cluster,
    /// The message retention purge job (run by admins on demand too).
    pub retention: retention::Retention,
    /// The keys data at rest is encrypted with, when configured.
    pub at_rest_keys: Option<encryption::Keyring>,
}

impl Services {
    /// Finishes a key rotation now (`lattice rotate-key`): what a start
    /// leaves to the background is done before this returns.
    pub async fn finish_key_rotation(&self) -> Result<encryption::RotationReport> {
        let keys = self
            .at_rest_keys
            .as_ref()
            .ok_or_else(|| crate::Error::internal("no [encryption] key is configured"))?;
        encryption::rotation::finish(&self.store, &self.media, keys).await
    }

    /// Builds every service over `store`, with the at-rest keys (already
    /// loaded: the store was opened with them).
    pub async fn new(
        config: Config,
        store: Store,
        at_rest_keys: Option<encryption::Keyring>,
    ) -> Result<Self> {
        let config = Arc::new(config);
        // A bad registration stops the start, before anything runs.
        let appservices = appservice::Appservices::new(appservice::load_registrations(
            &config.appservice.registration_files,
            &config.server.server_name,
        )?)?;
        // A wrong or missing key stops the start here, before anything is written.
        encryption::check_key(&store, at_rest_keys.as_ref()).await?;
        let secrets = encryption::Secrets::new(at_rest_keys.clone());
        let auth = auth::Auth::new(store.clone(), config.clone(), secrets.clone())?;
        auth.seal_clear_secrets().await?;
        let key = Arc::new(server_key::ServerKey::load_or_create_sealed(&store, &secrets).await?);
        let notifier = Arc::new(notifier::Notifier::new(notifier::Positions::read(&store).await?));
        let cluster = cluster::Cluster::start(&store, &config, auth.clock().now_ms()).await?;
        notifier.attach(cluster.clone());
        cluster.wake_syncs(notifier.clone());
        auth.follow_cluster(&cluster);
        let outbox = Arc::new(federation::OutboxSignal::default());
        let federation = federation::Federation::new(
            store.clone(),
            config.clone(),
            key.clone(),
            outbox.clone(),
            auth.security().clone(),
        )?;
        let rooms = rooms::Rooms::new(
            store.clone(),
            config.clone(),
            key,
            notifier.clone(),
            federation.clone(),
            appservices.clone(),
            cluster.clone(),
        );
        let typing = ephemeral::Typing::new(rooms.clone(), notifier.clone(), cluster.clone());
        let user_data = user_data::UserData::new(store.clone(), notifier.clone());

        for user in store.shadow_banned_users().await? {
            if let Ok(user) = ruma::UserId::parse(user) {
                rooms.set_shadow_banned(&user, true);
            }
        }
        let rate_limits = Arc::new(rate_limit::RateLimiter::new(&config.rate_limits));
        for (user, per_second, burst) in store.ratelimit_overrides().await? {
            let clamp = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
            rate_limits.set_override(&user, clamp(per_second), clamp(burst));
        }
        let keys = keys::Keys::new(
            store.clone(),
            config.clone(),
            auth.clone(),
            notifier.clone(),
            federation.clone(),
        );
        let media = media::Media::new(
            store.clone(),
            config.clone(),
            federation.clone(),
            at_rest_keys.clone(),
        )?;
        media.check_storage().await?;
        if let Some(keys) = &at_rest_keys {
            encryption::rotation::spawn_if_needed(&store, &media, keys).await?;
        }
        let accounts = accounts::Accounts::new(
            store.clone(),
            config.clone(),
            auth.clone(),
            keys.clone(),
            appservices.clone(),
            rooms.clone(),
            media.clone(),
        );
        let presence = ephemeral::Presence::new(
            store.clone(),
            notifier.clone(),
            config.presence.enabled,
            federation.clone(),
        );
        let admin = admin::Admin::new(
            store.clone(),
            config.clone(),
            auth.clone(),
            accounts.clone(),
            rooms.clone(),
            rate_limits.clone(),
            keys.clone(),
        );
        admin.follow_cluster(&cluster);
        // Notifications are pushed once events are durable, by one follower
        // of the event stream.
        let push_policy =
            lattice_federation::address::AddressPolicy::new(&config.push.allowed_ranges);
        let push_sender = push::PushSender::new(
            store.clone(),
            rooms.clone(),
            user_data.clone(),
            notifier.clone(),
            push_policy.clone(),
            secrets.clone(),
        )?;
        let pushers = push::Pushers::new(store.clone(), push_policy.clone(), secrets.clone());
        pushers.seal_stored().await?;
        let delayed_events =
            delayed_events::DelayedEvents::new(store.clone(), config.clone(), rooms.clone());
        delayed_events.clone().spawn();
        let retention = retention::Retention::new(
            store.clone(),
            media.clone(),
            config.clone(),
            auth.clock().clone(),
        );
        // Followers of the event stream, senders and purges run in one
        // instance of those sharing a database: pushes, application
        // services (each pushed its events by a follower of its own), other
        // servers, retention.
        outbox.follow_cluster(&cluster);
        let jobs = {
            let (push_sender, appservices, federation, retention) =
                (push_sender.clone(), appservices.clone(), federation.clone(), retention.clone());
            let (store, rooms, typing, notifier) =
                (store.clone(), rooms.clone(), typing.clone(), notifier.clone());
            let security = auth.security().clone();
            async move {
                push_sender.spawn().await?;
                appservices.start(&store, &rooms, &typing, &notifier, &security).await?;
                federation.start_sending();
                retention.spawn();
                Ok(())
            }
        };
        cluster.when_leading(jobs).await?;
        // Security alerts also reach every admin as a server notice.
        let (alerts, alert_queue) = tokio::sync::mpsc::unbounded_channel();
        auth.security().route_alerts_to_admins(alerts);
        admin.deliver_alerts(alert_queue);
        Ok(Self(Arc::new(AllServices {
            admin,
            federation: federation.clone(),
            cluster,
            accounts,
            devices: devices::Devices::new(store.clone(), auth.clone(), keys.clone()),
            keys: keys.clone(),
            profiles: profile::Profiles::new(
                store.clone(),
                rooms.clone(),
                federation.clone(),
                crate::store::DirectoryScope {
                    all_local_users: config.user_directory.search_all_users,
                },
            ),
            user_data: user_data.clone(),
            pushers,
            delayed_events,
            appservices,
            threepids: threepids::Threepids::new(store.clone(), config.clone(), auth.clone())?,
            push_sender,
            sync: sync::SyncService::new(
                store.clone(),
                rooms.clone(),
                user_data.clone(),
                typing.clone(),
                presence.clone(),
                keys.clone(),
                notifier.clone(),
            ),
            receipts: ephemeral::Receipts::new(store.clone(), rooms.clone(), notifier),
            typing,
            presence,
            media,
            retention,
            at_rest_keys,
            rate_limits: rate_limits.clone(),
            rooms,
            auth,
            config,
            store,
        })))
    }
}

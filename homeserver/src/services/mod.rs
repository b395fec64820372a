//! The services hold the server's logic. They never see HTTP (that is the
//! api layer's job) and never write SQL (that is the store's).

pub mod accounts;
pub mod auth;
pub mod devices;
pub mod profile;
pub mod user_data;

use std::sync::Arc;

use crate::{config::Config, error::Result, store::Store};

/// Every service, shared by all request handlers.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub store: Store,
    pub auth: auth::Auth,
    pub accounts: accounts::Accounts,
    pub devices: devices::Devices,
    pub profiles: profile::Profiles,
    pub user_data: user_data::UserData,
}

impl Services {
    pub fn new(config: Config, store: Store) -> Result<Self> {
        let config = Arc::new(config);
        let auth = auth::Auth::new(store.clone(), config.clone())?;
        Ok(Self {
            accounts: accounts::Accounts::new(store.clone(), config.clone(), auth.clone()),
            devices: devices::Devices::new(store.clone(), auth.clone()),
            profiles: profile::Profiles::new(store.clone()),
            user_data: user_data::UserData::new(store.clone()),
            auth,
            config,
            store,
        })
    }
}

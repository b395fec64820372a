//! Ours, not Synapse's: what message retention purged, and a run on demand.

use axum::{Json, extract::State};
use serde_json::{Value, json};

use super::AdminUser;
use crate::{error::Result, services::Services};

/// `GET /_lattice/admin/v1/retention`: whether the purge job runs, and
/// per room the lifetime in force at its last run and what it purged.
pub async fn report(State(services): State<Services>, _: AdminUser) -> Result<Json<Value>> {
    let rooms = services.store.retention_runs().await?;
    let settings = &services.config.retention;
    Ok(Json(json!({
        "enabled": settings.enabled,
        "purge_interval_seconds": settings.purge_interval.as_secs(),
        "rooms": rooms,
    })))
}

/// `POST /_lattice/admin/v1/retention/run`: purges what expired now
/// (whether or not the job runs on its own), and says what went.
pub async fn run(
    State(services): State<Services>,
    AdminUser(admin): AdminUser,
) -> Result<Json<Value>> {
    let run = services.retention.run().await?;
    let details = serde_json::to_value(&run).unwrap_or_default();
    services.auth.security().audit("retention_run", Some(admin.user_id.as_str()), details).await?;
    Ok(Json(serde_json::to_value(run).unwrap_or_default()))
}

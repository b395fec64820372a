//! What a client asks first: versions, server discovery, capabilities.

use std::collections::BTreeMap;

use axum::extract::State;
use ruma::{
    RoomVersionId,
    api::client::discovery::{
        discover_homeserver::{self, HomeserverInfo},
        get_capabilities::{
            self,
            v3::{Capabilities, RoomVersionStability, RoomVersionsCapability},
        },
        get_supported_versions,
    },
};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::Result,
    services::Services,
};

/// Every spec version whose client-server API we implement.
const SPEC_VERSIONS: &[&str] = &[
    "r0.6.1", "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10",
    "v1.11", "v1.12",
];

/// [`GET /_matrix/client/versions`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientversions)
pub async fn versions(
    State(services): State<Services>,
    _: Ruma<get_supported_versions::Request>,
) -> Result<RumaResponse<get_supported_versions::Response>> {
    let versions = SPEC_VERSIONS.iter().map(|v| (*v).to_owned()).collect();
    let mut response = get_supported_versions::Response::new(versions);
    // Only what works here, and only while it is switched on.
    response.unstable_features = BTreeMap::from([
        ("org.matrix.msc4140".to_owned(), services.delayed_events.enabled()),
        ("org.matrix.msc3882".to_owned(), services.config.auth.allow_login_get_token),
        ("org.matrix.msc2946".to_owned(), true),
        ("im.nheko.summary".to_owned(), true),
        // Simplified sliding sync (MSC4186), which Element X requires.
        ("org.matrix.simplified_msc3575".to_owned(), true),
    ]);
    Ok(response.into())
}

/// [`GET /.well-known/matrix/client`](https://spec.matrix.org/latest/client-server-api/#getwell-knownmatrixclient)
pub async fn well_known(
    State(services): State<Services>,
    _: Ruma<discover_homeserver::Request>,
) -> Result<RumaResponse<discover_homeserver::Response>> {
    let server = &services.config.server;
    let base_url =
        server.public_baseurl.clone().unwrap_or_else(|| format!("http://{}", server.bind));
    Ok(discover_homeserver::Response::new(HomeserverInfo::new(base_url)).into())
}

/// [`GET /_matrix/client/v3/capabilities`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3capabilities)
pub async fn capabilities(
    State(services): State<Services>,
    _: Ruma<get_capabilities::v3::Request>,
) -> Result<RumaResponse<get_capabilities::v3::Response>> {
    let mut capabilities = Capabilities::new();
    capabilities.change_password.enabled = true;
    let available = crate::services::rooms::SUPPORTED_VERSIONS
        .into_iter()
        .map(|v| (v, RoomVersionStability::Stable))
        .collect();
    capabilities.room_versions = RoomVersionsCapability::new(RoomVersionId::V12, available);
    capabilities.get_login_token.enabled = services.config.auth.allow_login_get_token;
    // Addresses can be added and removed once the server can mail links.
    capabilities.thirdparty_id_changes.enabled = services.config.email.smtp_url.is_some();
    Ok(get_capabilities::v3::Response::new(capabilities).into())
}

//! Authenticating incoming requests: the X-Matrix header names the origin
//! and carries its signature over method, URI, origin, destination and
//! body. Nothing of a request is read before this passes.

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedServerName, ServerName,
    api::federation::authentication::XMatrix,
};

use crate::{
    Error, Result,
    keys::{KeyRing, KeyStore},
};

/// Checks `request`'s X-Matrix authorization for `destination` (this
/// server) and returns the origin server it proves.
pub async fn authenticate<S: KeyStore, T: AsRef<[u8]>>(
    request: &http::Request<T>,
    destination: &ServerName,
    keys: &KeyRing<S>,
) -> Result<OwnedServerName> {
    let header = XMatrix::extract_from_http_headers(request.headers())
        .map_err(|e| Error::Unauthorized(e.to_string()))?;
    if header.origin == destination {
        return Err(Error::Unauthorized("a request from ourselves".into()));
    }
    if header.destination.as_deref().is_some_and(|d| d != destination) {
        return Err(Error::Unauthorized("request meant for another server".into()));
    }
    let signer = (header.origin.clone(), vec![header.key.to_string()]);
    let map = keys
        .public_keys(std::slice::from_ref(&signer), MilliSecondsSinceUnixEpoch::now())
        .await
        .map_err(|e| Error::Unauthorized(format!("no key for {}: {e}", header.origin)))?;
    header
        .verify_http_request(request, destination, &map)
        .map_err(|e| Error::Unauthorized(format!("bad signature from {}: {e}", header.origin)))?;
    Ok(header.origin)
}

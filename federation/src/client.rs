//! Requests to other servers: resolved with [`Resolver`], signed with the
//! X-Matrix scheme, sent over HTTPS, answered as ruma response types.

use std::sync::Arc;

use ruma::{
    OwnedServerName, ServerName,
    api::{
        IncomingResponseExt, OutgoingRequest, OutgoingRequestExt,
        auth_scheme::NoAuthentication,
        federation::authentication::{ServerSignatures, XMatrixSigningInput},
        path_builder::SinglePath,
    },
    signatures::Ed25519KeyPair,
};

use crate::{
    Error, Result,
    address::AddressPolicy,
    discovery::{ConnectOverrides, Destination, DnsSrv, Resolver, SrvLookup, is_valid_server_name},
};

/// The largest answer read from another server (a large room's join
/// answer carries tens of thousands of state events).
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// Sends requests to other servers on behalf of `origin`.
pub struct FederationClient {
    http: reqwest::Client,
    resolver: Resolver,
    origin: OwnedServerName,
    key_pair: Arc<Ed25519KeyPair>,
    /// Judges address literals, which never reach the resolver.
    policy: AddressPolicy,
}

impl FederationClient {
    /// A client for server `origin` signing with `key_pair`. `http` decides
    /// TLS (trusted roots) and timeouts; its DNS resolution is taken over
    /// so that SRV targets are connected to under the server's name, and
    /// so that no connection goes to an address `policy` refuses.
    pub fn new(
        http: reqwest::ClientBuilder,
        origin: OwnedServerName,
        key_pair: Arc<Ed25519KeyPair>,
        policy: AddressPolicy,
    ) -> Result<Self> {
        let overrides = ConnectOverrides::new(policy.clone());
        let http = http
            .dns_resolver(Arc::new(overrides.clone()))
            .build()
            .map_err(|e| Error::Malformed(format!("HTTP client: {e}")))?;
        let srv = DnsSrv::from_system().map(|dns| Box::new(dns) as Box<dyn SrvLookup>);
        let resolver = Resolver::new(http.clone(), srv, overrides);
        Ok(Self { resolver, http, origin, key_pair, policy })
    }

    /// The server this client speaks for.
    pub fn origin(&self) -> &ServerName {
        &self.origin
    }

    /// Where requests for `server` go.
    pub async fn destination(&self, server: &ServerName) -> Destination {
        self.resolver.resolve(server).await
    }

    /// Where requests for `server` go; a name outside the spec's grammar is
    /// refused before any lookup or connection.
    async fn locate(&self, server: &ServerName) -> Result<Destination> {
        if !is_valid_server_name(server) {
            return Err(Error::InvalidServerName(server.to_string()));
        }
        Ok(self.resolver.resolve(server).await)
    }

    /// Sends a request that needs X-Matrix authentication.
    pub async fn send<R>(&self, destination: &ServerName, request: R) -> Result<R::IncomingResponse>
    where
        R: OutgoingRequest<Authentication = ServerSignatures, PathBuilder = SinglePath>,
    {
        let request = self.signed(destination, request).await?;
        self.execute::<R>(destination, request).await
    }

    /// The request as sent to `destination`, with X-Matrix authorization.
    async fn signed<R>(
        &self,
        destination: &ServerName,
        request: R,
    ) -> Result<http::Request<Vec<u8>>>
    where
        R: OutgoingRequest<Authentication = ServerSignatures, PathBuilder = SinglePath>,
    {
        let base = self.locate(destination).await?;
        let input =
            XMatrixSigningInput::new(self.origin.clone(), destination.to_owned(), &self.key_pair);
        request
            .try_into_http_request::<Vec<u8>>(&base.base_url, input, ())
            .map_err(|e| Error::Malformed(e.to_string()))
    }

    /// Sends a request that needs no authentication (server keys, version).
    pub async fn send_unsigned<R>(
        &self,
        destination: &ServerName,
        request: R,
    ) -> Result<R::IncomingResponse>
    where
        R: OutgoingRequest<Authentication = NoAuthentication, PathBuilder = SinglePath>,
    {
        let base = self.locate(destination).await?;
        let request = request
            .try_into_http_request::<Vec<u8>>(&base.base_url, (), ())
            .map_err(|e| Error::Malformed(e.to_string()))?;
        self.execute::<R>(destination, request).await
    }

    /// Sends a request that needs X-Matrix authentication and hands back
    /// a successful answer unread, for bodies too large to hold in memory
    /// (media); the caller reads it as a stream.
    pub async fn send_streamed<R>(
        &self,
        destination: &ServerName,
        request: R,
    ) -> Result<reqwest::Response>
    where
        R: OutgoingRequest<Authentication = ServerSignatures, PathBuilder = SinglePath>,
    {
        let request = self.signed(destination, request).await?;
        let mut response = self.answer(destination, request).await?;
        if !response.status().is_success() {
            let body = read_capped(destination, &mut response).await?;
            return Err(remote_error(destination, response.status(), &body));
        }
        Ok(response)
    }

    async fn answer(
        &self,
        destination: &ServerName,
        request: http::Request<Vec<u8>>,
    ) -> Result<reqwest::Response> {
        let request =
            reqwest::Request::try_from(request).map_err(|e| Error::transport(&destination, e))?;
        let denied = || Error::Denied { server: destination.to_string() };
        if let Some(host) = request.url().host_str() {
            self.policy.check_host(host).map_err(|_| denied())?;
        }
        self.http.execute(request).await.map_err(|e| match AddressPolicy::denied_in(&e) {
            Some(_) => denied(),
            None => Error::transport(&destination, e),
        })
    }

    async fn execute<R: OutgoingRequest>(
        &self,
        destination: &ServerName,
        request: http::Request<Vec<u8>>,
    ) -> Result<R::IncomingResponse> {
        let mut response = self.answer(destination, request).await?;
        let status = response.status();
        let body = read_capped(destination, &mut response).await?;
        if !status.is_success() {
            return Err(remote_error(destination, status, &body));
        }
        let headers = std::mem::take(response.headers_mut());
        let mut answer = http::Response::new(body.as_slice());
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        R::IncomingResponse::try_from_http_response(answer)
            .map_err(|e| Error::bad_response(&destination, e))
    }
}

/// The whole body of an answer, refused past [`MAX_RESPONSE_BYTES`].
async fn read_capped(
    destination: &ServerName,
    response: &mut reqwest::Response,
) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Error::transport(&destination, e))? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(Error::bad_response(&destination, "answer too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A remote server's refusal, with its Matrix error code if it sent one.
fn remote_error(destination: &ServerName, status: reqwest::StatusCode, body: &[u8]) -> Error {
    let errcode = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("errcode").and_then(|c| c.as_str()).map(str::to_owned));
    Error::Remote {
        server: destination.to_string(),
        status: status.as_u16(),
        errcode,
        body: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
    }
}

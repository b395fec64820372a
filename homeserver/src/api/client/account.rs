//! Password changes, deactivation, and users' own data exports.

use axum::{
    body::Body,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use ruma::api::client::{
    account::{ThirdPartyIdRemovalStatus, change_password, deactivate},
    uiaa::AuthData,
};

use crate::{
    api::{
        authed::{Authed, MatrixJson},
        ruma::{Ruma, RumaResponse},
    },
    error::{Error, Result},
    services::Services,
};

/// [`POST /_matrix/client/v3/account/password`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3accountpassword)
pub async fn change_password(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<change_password::v3::Request>,
) -> Result<RumaResponse<change_password::v3::Response>> {
    let (password, logout, uia) = (body.new_password, body.logout_devices, body.auth.as_ref());
    match auth {
        Some(requester) => {
            services.accounts.change_password(&requester, password, logout, uia).await?;
        }
        // Without a session: "forgot password", proved by a mailed link.
        None => services.accounts.reset_password(password, logout, uia).await?,
    }
    Ok(change_password::v3::Response::new().into())
}

/// [`POST /_matrix/client/v3/account/deactivate`](https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3accountdeactivate)
pub async fn deactivate(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<deactivate::v3::Request>,
) -> Result<RumaResponse<deactivate::v3::Response>> {
    let requester = auth.ok_or(Error::MissingToken)?;
    services.accounts.deactivate(&requester, body.erase, body.auth.as_ref()).await?;
    Ok(deactivate::v3::Response::new(ThirdPartyIdRemovalStatus::NoSupport).into())
}

/// The body of an export request: the user-interactive auth step.
#[derive(serde::Deserialize, Default)]
pub struct ExportBody {
    auth: Option<AuthData>,
}

/// `POST /_lattice/client/v1/account/export` (ours; GDPR article 20): the
/// requester's data as a tar archive, after they enter their password
/// again (user-interactive auth, as for deactivation).
pub async fn export(
    State(services): State<Services>,
    Authed(requester): Authed,
    MatrixJson(body): MatrixJson<ExportBody>,
) -> Result<Response> {
    let archive = services.admin.export_archive(&requester, body.auth.as_ref()).await?;
    let disposition = format!("attachment; filename=\"{}\"", archive.file_name);
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(archive.content));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

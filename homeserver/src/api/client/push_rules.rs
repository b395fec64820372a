//! Push rules: the server's defaults plus each user's changes.

use axum::{Json, extract::State};
use ruma::{
    api::client::push::{
        delete_pushrule, get_notifications, get_pushrule, get_pushrule_actions,
        get_pushrule_enabled, get_pushrules_all, get_pushrules_global_scope, set_pushrule,
        set_pushrule_actions, set_pushrule_enabled,
    },
    push::Ruleset,
};
use serde_json::{Value, json};

use crate::{
    api::ruma::{Ruma, RumaResponse},
    error::{Error, Result},
    services::Services,
};

/// The user's ruleset with every kind listed, empty ones too: ruma leaves
/// those out, and clients index `global.content` and the rest directly.
fn every_kind(rules: &Ruleset) -> Result<Value> {
    let mut ruleset = serde_json::to_value(rules).map_err(Error::internal)?;
    if let Some(kinds) = ruleset.as_object_mut() {
        for kind in ["override", "content", "room", "sender", "underride"] {
            kinds.entry(kind).or_insert_with(|| json!([]));
        }
    }
    Ok(ruleset)
}

/// [`GET /_matrix/client/v3/pushrules/`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3pushrules)
pub async fn get_all(
    State(services): State<Services>,
    Ruma { auth, .. }: Ruma<get_pushrules_all::v3::Request>,
) -> Result<Json<Value>> {
    let rules = services.user_data.push_rules(&auth.user_id).await?;
    Ok(Json(json!({ "global": every_kind(&rules)? })))
}

/// [`GET /_matrix/client/v3/pushrules/global/`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3pushrulesglobal)
pub async fn get_global(
    State(services): State<Services>,
    Ruma { auth, .. }: Ruma<get_pushrules_global_scope::v3::Request>,
) -> Result<Json<Value>> {
    let rules = services.user_data.push_rules(&auth.user_id).await?;
    Ok(Json(every_kind(&rules)?))
}

/// [`GET /_matrix/client/v3/pushrules/global/{kind}/{rule_id}`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3pushrulesglobalkindruleid)
pub async fn get(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_pushrule::v3::Request>,
) -> Result<RumaResponse<get_pushrule::v3::Response>> {
    let rule = services.user_data.push_rule(&auth.user_id, body.kind, &body.rule_id).await?;
    Ok(get_pushrule::v3::Response::new(rule.into()).into())
}

/// [`PUT /_matrix/client/v3/pushrules/global/{kind}/{rule_id}`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3pushrulesglobalkindruleid)
pub async fn set(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_pushrule::v3::Request>,
) -> Result<RumaResponse<set_pushrule::v3::Response>> {
    services
        .user_data
        .set_push_rule(&auth.user_id, body.rule, body.after.as_deref(), body.before.as_deref())
        .await?;
    Ok(set_pushrule::v3::Response::new().into())
}

/// [`DELETE /_matrix/client/v3/pushrules/global/{kind}/{rule_id}`](https://spec.matrix.org/latest/client-server-api/#delete_matrixclientv3pushrulesglobalkindruleid)
pub async fn delete(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<delete_pushrule::v3::Request>,
) -> Result<RumaResponse<delete_pushrule::v3::Response>> {
    services.user_data.delete_push_rule(&auth.user_id, body.kind, &body.rule_id).await?;
    Ok(delete_pushrule::v3::Response::new().into())
}

/// [`GET /_matrix/client/v3/pushrules/global/{kind}/{rule_id}/enabled`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3pushrulesglobalkindruleidenabled)
pub async fn get_enabled(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_pushrule_enabled::v3::Request>,
) -> Result<RumaResponse<get_pushrule_enabled::v3::Response>> {
    let rule = services.user_data.push_rule(&auth.user_id, body.kind, &body.rule_id).await?;
    Ok(get_pushrule_enabled::v3::Response::new(rule.enabled()).into())
}

/// [`PUT /_matrix/client/v3/pushrules/global/{kind}/{rule_id}/enabled`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3pushrulesglobalkindruleidenabled)
pub async fn set_enabled(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_pushrule_enabled::v3::Request>,
) -> Result<RumaResponse<set_pushrule_enabled::v3::Response>> {
    services
        .user_data
        .set_push_rule_enabled(&auth.user_id, body.kind, &body.rule_id, body.enabled)
        .await?;
    Ok(set_pushrule_enabled::v3::Response::new().into())
}

/// [`GET /_matrix/client/v3/pushrules/global/{kind}/{rule_id}/actions`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3pushrulesglobalkindruleidactions)
pub async fn get_actions(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_pushrule_actions::v3::Request>,
) -> Result<RumaResponse<get_pushrule_actions::v3::Response>> {
    let rule = services.user_data.push_rule(&auth.user_id, body.kind, &body.rule_id).await?;
    Ok(get_pushrule_actions::v3::Response::new(rule.actions().to_vec()).into())
}

/// [`PUT /_matrix/client/v3/pushrules/global/{kind}/{rule_id}/actions`](https://spec.matrix.org/latest/client-server-api/#put_matrixclientv3pushrulesglobalkindruleidactions)
pub async fn set_actions(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<set_pushrule_actions::v3::Request>,
) -> Result<RumaResponse<set_pushrule_actions::v3::Response>> {
    services
        .user_data
        .set_push_rule_actions(&auth.user_id, body.kind, &body.rule_id, body.actions)
        .await?;
    Ok(set_pushrule_actions::v3::Response::new().into())
}

/// [`GET /_matrix/client/v3/notifications`](https://spec.matrix.org/latest/client-server-api/#get_matrixclientv3notifications)
pub async fn notifications(
    State(services): State<Services>,
    Ruma { auth, body }: Ruma<get_notifications::v3::Request>,
) -> Result<RumaResponse<get_notifications::v3::Response>> {
    let (page, next_token) = services
        .pushers
        .notifications(&auth, body.from.as_deref(), body.limit, body.only.as_deref())
        .await?;
    let mut response = get_notifications::v3::Response::new(page);
    response.next_token = next_token;
    Ok(response.into())
}

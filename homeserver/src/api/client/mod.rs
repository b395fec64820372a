//! The client-server API: thin handlers, one file per area.

mod account;
mod appservice;
mod backup;
mod delayed_events;
mod devices;
mod discovery;
mod ephemeral;
mod events;
mod keys;
mod membership;
mod peeking;
mod profile;
mod push_rules;
mod pushers;
mod register;
mod relations;
mod rooms;
mod search;
mod second_factor;
mod session;
mod spaces;
mod sync;
mod thirdparty;
mod threepids;
mod user_data;
mod voip;

use ruma::api::client::{
    account::{
        change_password, check_registration_token_validity, deactivate, get_3pids,
        get_username_availability, register as register_api, request_openid_token, whoami,
    },
    config::{
        get_global_account_data, get_room_account_data, set_global_account_data,
        set_room_account_data,
    },
    device::{delete_device, delete_devices, get_device, get_devices, update_device},
    discovery::{discover_homeserver, get_capabilities, get_supported_versions},
    filter::{create_filter, get_filter},
    profile::{delete_profile_field, get_profile, get_profile_field, set_profile_field},
    push::{
        delete_pushrule, get_pushers, get_pushrule, get_pushrule_actions, get_pushrule_enabled,
        get_pushrules_all, get_pushrules_global_scope, set_pusher, set_pushrule,
        set_pushrule_actions, set_pushrule_enabled,
    },
    session::{get_login_types, login, logout, logout_all, refresh_token},
    tag::{create_tag, delete_tag, get_tags},
    thirdparty::{
        get_location_for_protocol, get_location_for_room_alias, get_protocol, get_protocols,
        get_user_for_protocol, get_user_for_user_id,
    },
};
use ruma::api::client::{
    alias::{create_alias, delete_alias, get_alias},
    context::get_context,
    directory::{
        get_public_rooms, get_public_rooms_filtered, get_room_visibility, set_room_visibility,
    },
    knock::knock_room,
    membership::{
        ban_user, forget_room, get_member_events, invite_user, join_room_by_id,
        join_room_by_id_or_alias, joined_members, joined_rooms, kick_user, leave_room, unban_user,
    },
    message::{get_message_events, send_message_event},
    presence::{get_presence, set_presence},
    read_marker::set_read_marker,
    receipt::create_receipt,
    redact::redact_event,
    relations::{
        get_relating_events, get_relating_events_with_rel_type,
        get_relating_events_with_rel_type_and_event_type,
    },
    room::{
        aliases, create_room, get_event_by_timestamp, get_room_event, report_content, report_room,
        upgrade_room,
    },
    search::search_events,
    state::{get_state_event_for_key, get_state_events, send_state_event},
    sync::sync_events,
    threads::get_threads,
    typing::create_typing_event,
};

use super::routes::Routes;
use crate::error::{Error, Result};

/// A client event as the raw JSON ruma's response types carry.
fn raw_event<T>(event: &serde_json::Value) -> Result<ruma::serde::Raw<T>> {
    let raw = serde_json::value::to_raw_value(event).map_err(Error::internal)?;
    Ok(ruma::serde::Raw::from_json(raw))
}

pub fn router() -> Routes {
    Routes::new()
        // Discovery
        .ruma::<get_supported_versions::Request, _, _>(discovery::versions)
        .ruma::<discover_homeserver::Request, _, _>(discovery::well_known)
        .ruma::<get_capabilities::v3::Request, _, _>(discovery::capabilities)
        // Third-party networks, answered by the bridges that declare them
        .ruma::<get_protocols::v3::Request, _, _>(thirdparty::protocols)
        .ruma::<get_protocol::v3::Request, _, _>(thirdparty::protocol)
        .ruma::<get_location_for_protocol::v3::Request, _, _>(thirdparty::locations)
        .ruma::<get_user_for_protocol::v3::Request, _, _>(thirdparty::users)
        .ruma::<get_location_for_room_alias::v3::Request, _, _>(thirdparty::locations_for_alias)
        .ruma::<get_user_for_user_id::v3::Request, _, _>(thirdparty::users_for_id)
        .route("/_matrix/client/v3/voip/turnServer", axum::routing::get(voip::turn_server))
        .route("/_lattice/client/v1/account/export", axum::routing::post(account::export))
        .route("/_matrix/client/r0/voip/turnServer", axum::routing::get(voip::turn_server))
        // Delayed events (MSC4140, unstable)
        .route(
            "/_matrix/client/unstable/org.matrix.msc4140/rooms/{room_id}/delayed_event/{event_type}/{txn_id}",
            axum::routing::put(delayed_events::schedule),
        )
        .route(
            "/_matrix/client/unstable/org.matrix.msc4140/delayed_events",
            axum::routing::get(delayed_events::list),
        )
        .route(
            "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delay_id}",
            axum::routing::post(delayed_events::update),
        )
        .route(
            "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/{delay_id}/{action}",
            axum::routing::post(delayed_events::update_by_id),
        )
        // Registration and sessions
        .ruma::<register_api::v3::Request, _, _>(register::register)
        .ruma::<get_username_availability::v3::Request, _, _>(register::available)
        .ruma::<check_registration_token_validity::v1::Request, _, _>(register::token_validity)
        .ruma::<get_login_types::v3::Request, _, _>(session::login_types)
        .ruma::<ruma::api::client::session::get_login_token::v1::Request, _, _>(
            session::get_login_token,
        )
        .ruma::<login::v3::Request, _, _>(session::login)
        .ruma::<refresh_token::v3::Request, _, _>(session::refresh)
        .ruma::<logout::v3::Request, _, _>(session::logout)
        .ruma::<logout_all::v3::Request, _, _>(session::logout_all)
        .ruma::<whoami::v3::Request, _, _>(session::whoami)
        .ruma::<request_openid_token::v3::Request, _, _>(session::request_openid_token)
        // Account
        .ruma::<change_password::v3::Request, _, _>(account::change_password)
        .ruma::<deactivate::v3::Request, _, _>(account::deactivate)
        .ruma::<get_3pids::v3::Request, _, _>(threepids::list)
        .ruma::<ruma::api::client::account::request_3pid_management_token_via_email::v3::Request, _, _>(threepids::email_token_to_add)
        .ruma::<ruma::api::client::account::request_password_change_token_via_email::v3::Request, _, _>(threepids::email_token_to_reset)
        .ruma::<ruma::api::client::account::add_3pid::v3::Request, _, _>(threepids::add)
        .ruma::<ruma::api::client::account::delete_3pid::v3::Request, _, _>(threepids::delete)
        .ruma::<ruma::api::client::account::request_3pid_management_token_via_msisdn::v3::Request, _, _>(threepids::msisdn_token_to_add)
        .ruma::<ruma::api::client::account::request_password_change_token_via_msisdn::v3::Request, _, _>(threepids::msisdn_token_to_reset)
        .ruma::<ruma::api::client::account::request_registration_token_via_email::v3::Request, _, _>(threepids::email_token_to_register)
        .ruma::<ruma::api::client::account::request_registration_token_via_msisdn::v3::Request, _, _>(threepids::msisdn_token_to_register)
        // Devices
        .ruma::<get_devices::v3::Request, _, _>(devices::list)
        .ruma::<get_device::v3::Request, _, _>(devices::get)
        .ruma::<update_device::v3::Request, _, _>(devices::update)
        .ruma::<delete_device::v3::Request, _, _>(devices::delete)
        .ruma::<delete_devices::v3::Request, _, _>(devices::delete_many)
        // Profile
        .ruma::<get_profile::v3::Request, _, _>(profile::get)
        .ruma::<get_profile_field::v3::Request, _, _>(profile::get_field)
        .ruma::<set_profile_field::v3::Request, _, _>(profile::set_field)
        .ruma::<delete_profile_field::v3::Request, _, _>(profile::delete_field)
        .ruma::<ruma::api::client::user_directory::search_users::v3::Request, _, _>(
            profile::search_users,
        )
        // Account data and filters
        .ruma::<get_global_account_data::v3::Request, _, _>(user_data::get_global)
        .ruma::<set_global_account_data::v3::Request, _, _>(user_data::set_global)
        .ruma::<get_room_account_data::v3::Request, _, _>(user_data::get_room)
        .ruma::<set_room_account_data::v3::Request, _, _>(user_data::set_room)
        .ruma::<create_filter::v3::Request, _, _>(user_data::create_filter)
        .ruma::<get_filter::v3::Request, _, _>(user_data::get_filter)
        .ruma::<get_pushers::v3::Request, _, _>(pushers::list)
        .ruma::<set_pusher::v3::Request, _, _>(pushers::set)
        .ruma::<get_tags::v3::Request, _, _>(user_data::get_tags)
        .ruma::<create_tag::v3::Request, _, _>(user_data::create_tag)
        .ruma::<delete_tag::v3::Request, _, _>(user_data::delete_tag)
        // Push rules
        .ruma::<get_pushrules_all::v3::Request, _, _>(push_rules::get_all)
        .ruma::<get_pushrules_global_scope::v3::Request, _, _>(push_rules::get_global)
        .ruma::<get_pushrule::v3::Request, _, _>(push_rules::get)
        .ruma::<set_pushrule::v3::Request, _, _>(push_rules::set)
        .ruma::<delete_pushrule::v3::Request, _, _>(push_rules::delete)
        .ruma::<get_pushrule_enabled::v3::Request, _, _>(push_rules::get_enabled)
        .ruma::<set_pushrule_enabled::v3::Request, _, _>(push_rules::set_enabled)
        .ruma::<get_pushrule_actions::v3::Request, _, _>(push_rules::get_actions)
        .ruma::<set_pushrule_actions::v3::Request, _, _>(push_rules::set_actions)
        .ruma::<ruma::api::client::push::get_notifications::v3::Request, _, _>(
            push_rules::notifications,
        )
        // Rooms and directory
        .ruma::<create_room::v3::Request, _, _>(rooms::create)
        .ruma::<upgrade_room::v3::Request, _, _>(rooms::upgrade)
        .ruma::<report_content::v3::Request, _, _>(rooms::report_event)
        .ruma::<report_room::v3::Request, _, _>(rooms::report_room)
        .ruma::<create_alias::v3::Request, _, _>(rooms::set_alias)
        .ruma::<get_alias::v3::Request, _, _>(rooms::get_alias)
        .ruma::<delete_alias::v3::Request, _, _>(rooms::delete_alias)
        .ruma::<aliases::v3::Request, _, _>(rooms::room_aliases)
        .ruma::<get_room_visibility::v3::Request, _, _>(rooms::get_visibility)
        .ruma::<set_room_visibility::v3::Request, _, _>(rooms::set_visibility)
        .ruma::<get_public_rooms::v3::Request, _, _>(rooms::public_rooms)
        .ruma::<get_public_rooms_filtered::v3::Request, _, _>(rooms::public_rooms_filtered)
        .ruma::<ruma::api::client::space::get_hierarchy::v1::Request, _, _>(spaces::hierarchy)
        .ruma::<ruma::api::client::room::get_summary::v1::Request, _, _>(spaces::room_summary)
        .ruma::<ruma::api::client::peeking::get_current_state::v3::Request, _, _>(
            peeking::room_initial_sync,
        )
        .ruma::<ruma::api::client::peeking::listen_to_new_events::v3::Request, _, _>(
            peeking::events,
        )
        // Membership
        .ruma::<join_room_by_id::v3::Request, _, _>(membership::join_by_id)
        .ruma::<join_room_by_id_or_alias::v3::Request, _, _>(membership::join)
        .ruma::<knock_room::v3::Request, _, _>(membership::knock)
        .ruma::<invite_user::v3::Request, _, _>(membership::invite)
        .ruma::<leave_room::v3::Request, _, _>(membership::leave)
        .ruma::<forget_room::v3::Request, _, _>(membership::forget)
        .ruma::<kick_user::v3::Request, _, _>(membership::kick)
        .ruma::<ban_user::v3::Request, _, _>(membership::ban)
        .ruma::<unban_user::v3::Request, _, _>(membership::unban)
        .ruma::<joined_rooms::v3::Request, _, _>(membership::joined)
        .ruma::<get_member_events::v3::Request, _, _>(membership::members)
        .ruma::<joined_members::v3::Request, _, _>(membership::joined_members)
        // Events
        .ruma::<send_message_event::v3::Request, _, _>(events::send)
        .ruma::<send_state_event::v3::Request, _, _>(events::set_state)
        .ruma::<get_state_event_for_key::v3::Request, _, _>(events::get_state)
        .ruma::<get_state_events::v3::Request, _, _>(events::all_state)
        .ruma::<get_room_event::v3::Request, _, _>(events::event)
        .ruma::<redact_event::v3::Request, _, _>(events::redact)
        .ruma::<get_message_events::v3::Request, _, _>(events::messages)
        .ruma::<get_context::v3::Request, _, _>(events::context)
        .ruma::<get_event_by_timestamp::v1::Request, _, _>(events::timestamp_to_event)
        // Relations
        .ruma::<get_relating_events::v1::Request, _, _>(relations::all)
        .ruma::<get_relating_events_with_rel_type::v1::Request, _, _>(relations::by_type)
        .ruma::<get_relating_events_with_rel_type_and_event_type::v1::Request, _, _>(
            relations::by_type_and_event_type,
        )
        .ruma::<get_threads::v1::Request, _, _>(relations::threads)
        .ruma::<search_events::v3::Request, _, _>(search::search)
        // Ephemeral
        .ruma::<create_typing_event::v3::Request, _, _>(ephemeral::typing)
        .ruma::<create_receipt::v3::Request, _, _>(ephemeral::receipt)
        .ruma::<set_read_marker::v3::Request, _, _>(ephemeral::read_markers)
        .ruma::<get_presence::v3::Request, _, _>(ephemeral::get_presence)
        .ruma::<set_presence::v3::Request, _, _>(ephemeral::set_presence)
        // Sync
        .ruma::<sync_events::v3::Request, _, _>(sync::sync)
        .ruma::<sync_events::v5::Request, _, _>(sync::sliding_sync)
        .ruma::<ruma::api::client::appservice::request_ping::v1::Request, _, _>(appservice::ping)
        .ruma::<ruma::api::client::appservice::set_room_visibility::v3::Request, _, _>(
            appservice::list_in_network,
        )
        .merge(encryption_router())
        .merge(second_factor::router())
}

/// End-to-end encryption: keys, to-device messages, key backups.
fn encryption_router() -> Routes {
    use ruma::api::client::{
        backup::{
            add_backup_keys, add_backup_keys_for_room, add_backup_keys_for_session,
            create_backup_version, delete_backup_keys, delete_backup_keys_for_room,
            delete_backup_keys_for_session, delete_backup_version, get_backup_info,
            get_backup_keys, get_backup_keys_for_room, get_backup_keys_for_session,
            get_latest_backup_info, update_backup_version,
        },
        keys::{
            claim_keys, get_key_changes, get_keys, upload_keys, upload_signatures,
            upload_signing_keys,
        },
        to_device::send_event_to_device,
    };
    Routes::new()
        .ruma::<upload_keys::v3::Request, _, _>(keys::upload)
        .ruma::<get_keys::v3::Request, _, _>(keys::query)
        .ruma::<claim_keys::v3::Request, _, _>(keys::claim)
        .ruma::<get_key_changes::v3::Request, _, _>(keys::changes)
        .ruma::<upload_signing_keys::v3::Request, _, _>(keys::upload_cross_signing)
        .ruma::<upload_signatures::v3::Request, _, _>(keys::upload_signatures)
        .ruma::<send_event_to_device::v3::Request, _, _>(keys::send_to_device)
        .ruma::<create_backup_version::v3::Request, _, _>(backup::create_version)
        .ruma::<get_latest_backup_info::v3::Request, _, _>(backup::latest_version)
        .ruma::<get_backup_info::v3::Request, _, _>(backup::get_version)
        .ruma::<update_backup_version::v3::Request, _, _>(backup::update_version)
        .ruma::<delete_backup_version::v3::Request, _, _>(backup::delete_version)
        .ruma::<add_backup_keys::v3::Request, _, _>(backup::put_keys)
        .ruma::<add_backup_keys_for_room::v3::Request, _, _>(backup::put_room_keys)
        .ruma::<add_backup_keys_for_session::v3::Request, _, _>(backup::put_session_key)
        .ruma::<get_backup_keys::v3::Request, _, _>(backup::get_keys)
        .ruma::<get_backup_keys_for_room::v3::Request, _, _>(backup::get_room_keys)
        .ruma::<get_backup_keys_for_session::v3::Request, _, _>(backup::get_session_key)
        .ruma::<delete_backup_keys::v3::Request, _, _>(backup::delete_keys)
        .ruma::<delete_backup_keys_for_room::v3::Request, _, _>(backup::delete_room_keys)
        .ruma::<delete_backup_keys_for_session::v3::Request, _, _>(backup::delete_session_key)
}

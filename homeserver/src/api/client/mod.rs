//! The client-server API: thin handlers, one file per area.

mod account;
mod devices;
mod discovery;
mod profile;
mod push_rules;
mod register;
mod session;
mod user_data;

use axum::Router;
use ruma::api::client::{
    account::{
        change_password, check_registration_token_validity, deactivate, get_username_availability,
        register as register_api, whoami,
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
        delete_pushrule, get_pushrule, get_pushrule_actions, get_pushrule_enabled,
        get_pushrules_all, get_pushrules_global_scope, set_pushrule, set_pushrule_actions,
        set_pushrule_enabled,
    },
    session::{get_login_types, login, logout, logout_all, refresh_token},
};

use super::ruma::RumaRouter;
use crate::services::Services;

pub fn router() -> Router<Services> {
    Router::new()
        // Discovery
        .ruma::<get_supported_versions::Request, _, _>(discovery::versions)
        .ruma::<discover_homeserver::Request, _, _>(discovery::well_known)
        .ruma::<get_capabilities::v3::Request, _, _>(discovery::capabilities)
        // Registration and sessions
        .ruma::<register_api::v3::Request, _, _>(register::register)
        .ruma::<get_username_availability::v3::Request, _, _>(register::available)
        .ruma::<check_registration_token_validity::v1::Request, _, _>(register::token_validity)
        .ruma::<get_login_types::v3::Request, _, _>(session::login_types)
        .ruma::<login::v3::Request, _, _>(session::login)
        .ruma::<refresh_token::v3::Request, _, _>(session::refresh)
        .ruma::<logout::v3::Request, _, _>(session::logout)
        .ruma::<logout_all::v3::Request, _, _>(session::logout_all)
        .ruma::<whoami::v3::Request, _, _>(session::whoami)
        // Account
        .ruma::<change_password::v3::Request, _, _>(account::change_password)
        .ruma::<deactivate::v3::Request, _, _>(account::deactivate)
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
        // Account data and filters
        .ruma::<get_global_account_data::v3::Request, _, _>(user_data::get_global)
        .ruma::<set_global_account_data::v3::Request, _, _>(user_data::set_global)
        .ruma::<get_room_account_data::v3::Request, _, _>(user_data::get_room)
        .ruma::<set_room_account_data::v3::Request, _, _>(user_data::set_room)
        .ruma::<create_filter::v3::Request, _, _>(user_data::create_filter)
        .ruma::<get_filter::v3::Request, _, _>(user_data::get_filter)
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
}

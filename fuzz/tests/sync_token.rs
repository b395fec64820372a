//! Sync tokens come back from clients as they like: parsing any string
//! never panics, and every token the server hands out parses back to the
//! positions it was made from.

use lattice_homeserver::services::{
    notifier::Positions,
    sync::{parse_since, since_token},
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_string_parses_or_is_refused(token in any::<String>()) {
        let _ = parse_since(&token);
    }

    #[test]
    fn tokens_like_ours_parse_or_are_refused(token in "s[-0-9_]{0,40}") {
        let _ = parse_since(&token);
    }

    #[test]
    fn our_tokens_round_trip(p in prop::array::uniform7(0i64..i64::MAX)) {
        let positions = Positions {
            events: p[0],
            account_data: p[1],
            receipts: p[2],
            typing: p[3],
            presence: p[4],
            to_device: p[5],
            device_lists: p[6],
        };
        let parsed = parse_since(&since_token(positions)).expect("our own token");
        prop_assert_eq!(parsed, positions);
    }
}

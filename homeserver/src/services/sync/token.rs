//! The sync token: every stream's position in one string,
//! `s{events}_{account data}_{receipts}_{typing}_{presence}_{to-device}_{device lists}`.
//! Tokens of older formats, with fewer parts, still parse (the missing
//! streams start from 0).

use crate::{
    error::{Error, Result},
    services::notifier::Positions,
};

/// The `next_batch` token for stream positions `p`.
pub fn since_token(p: Positions) -> String {
    format!(
        "s{}_{}_{}_{}_{}_{}_{}",
        p.events, p.account_data, p.receipts, p.typing, p.presence, p.to_device, p.device_lists
    )
}

/// The positions a `since` token names; M_INVALID_PARAM for anything that
/// is not one (tokens of older formats, with fewer parts, still parse).
pub fn parse_since(token: &str) -> Result<Positions> {
    let invalid = || Error::invalid_param("invalid since token");
    let rest = token.strip_prefix('s').ok_or_else(invalid)?;
    let mut parts = rest.split('_').map(|p| p.parse::<i64>().map_err(|_| invalid()));
    let events = parts.next().ok_or_else(invalid)??;
    let mut next = || parts.next().transpose().map(Option::unwrap_or_default);
    Ok(Positions {
        events,
        account_data: next()?,
        receipts: next()?,
        typing: next()?,
        presence: next()?,
        to_device: next()?,
        device_lists: next()?,
    })
}

#[cfg(test)]
mod tests {
    use super::{Positions, parse_since, since_token};

    #[test]
    fn tokens_round_trip() {
        let p = Positions {
            events: 12,
            account_data: 3,
            receipts: 4,
            typing: 5,
            presence: 6,
            to_device: 7,
            device_lists: 8,
        };
        assert_eq!(since_token(p), "s12_3_4_5_6_7_8");
        assert_eq!(parse_since(&since_token(p)).expect("parses"), p);
    }

    #[test]
    fn older_tokens_start_the_missing_streams_at_zero() {
        let p = parse_since("s12_3").expect("an older token");
        assert_eq!((p.events, p.account_data, p.receipts, p.device_lists), (12, 3, 0, 0));
        assert_eq!(parse_since("s9").expect("the oldest").events, 9);
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", "s", "12_3", "sx_1", "s1_x", "s1__2", "t1_2"] {
            assert!(parse_since(bad).is_err(), "{bad:?}");
        }
    }
}

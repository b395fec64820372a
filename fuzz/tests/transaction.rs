//! Federation transactions (`PUT /send/{txnId}`): any body is parsed or
//! refused by the request type, and every PDU it carries goes through the
//! same canonical JSON and event-id steps as in `pdu.rs`, never panicking.

use lattice_fuzz::{inputs, seeds};
use proptest::prelude::*;
use ruma::{
    CanonicalJsonObject, RoomVersionId,
    api::{IncomingRequestExt, federation::transactions::send_transaction_message},
};

proptest! {
    #[test]
    fn transaction_bodies(body in inputs(seeds("transaction")), txn in "[a-zA-Z0-9._~-]{1,20}") {
        let request = http::Request::put(format!("/_matrix/federation/v1/send/{txn}"))
            .body(body.as_slice())
            .expect("request");
        let Ok(parsed) =
            send_transaction_message::v1::Request::try_from_http_request(request, &[txn.as_str()])
        else {
            return Ok(());
        };
        let rules = RoomVersionId::V10.rules().expect("rules");
        for pdu in parsed.pdus {
            if let Ok(object) = serde_json::from_str::<CanonicalJsonObject>(pdu.get()) {
                let _ = lattice_federation::pdu::event_id(&object, &rules);
                let _ = ruma::state_res::check_pdu_format(&object, &rules.event_format);
            }
        }
        for edu in parsed.edus {
            let _ = edu.deserialize();
        }
    }
}

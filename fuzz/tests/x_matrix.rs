//! The X-Matrix header a federation request is authenticated by: any
//! header value parses or is refused, never panics.

use lattice_fuzz::{inputs, seeds};
use proptest::prelude::*;
use ruma::api::federation::authentication::XMatrix;

proptest! {
    #[test]
    fn header_values(bytes in inputs(seeds("x_matrix"))) {
        if let Ok(value) = http::HeaderValue::from_bytes(&bytes) {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, value);
            let _ = XMatrix::extract_from_http_headers(&headers);
        }
    }
}

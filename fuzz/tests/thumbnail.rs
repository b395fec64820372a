//! Thumbnails decode whatever users upload as images: any bytes, and
//! images with bytes flipped, inserted or cut, are thumbnailed or refused
//! within the decoder limits, never panic.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbaImage};
use lattice_fuzz::inputs;
use lattice_homeserver::services::media::thumbnail::{Method, make};
use proptest::prelude::*;

/// Small real images in every format thumbnails read, as seeds.
fn images() -> Vec<Vec<u8>> {
    let image = DynamicImage::ImageRgba8(RgbaImage::from_fn(6, 4, |x, y| {
        image::Rgba([(x * 40) as u8, (y * 60) as u8, 128, 255])
    }));
    [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::WebP]
        .into_iter()
        .map(|format| {
            let mut bytes = Cursor::new(Vec::new());
            let image =
                if format == ImageFormat::Jpeg { image.to_rgb8().into() } else { image.clone() };
            image.write_to(&mut bytes, format).expect("encoded");
            bytes.into_inner()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 4, ..ProptestConfig::default() })]

    #[test]
    fn uploaded_images(
        bytes in inputs(images()),
        width in 1u32..400,
        height in 1u32..400,
        crop in any::<bool>(),
        animated in any::<bool>(),
    ) {
        let method = if crop { Method::Crop } else { Method::Scale };
        let _ = make(&bytes, width, height, method, animated);
    }
}

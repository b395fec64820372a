//! Thumbnails at the spec's standard sizes, made on demand and stored.
//! Decoding is bounded: images over a pixel budget (decompression bombs)
//! are refused from their header, and the decoder's allocations are capped.

use std::io::Cursor;

use image::{
    AnimationDecoder, DynamicImage, Frame, ImageDecoder, ImageFormat, ImageReader, Limits,
    codecs::{
        gif::{GifDecoder, GifEncoder, Repeat},
        webp::WebPDecoder,
    },
    imageops::FilterType,
};

use crate::error::{Error, Result};

/// Largest image (in pixels) the server will decode: 8K by 4K.
const MAX_PIXELS: u64 = 8192 * 4096;
/// Largest allocation the decoder may make.
const MAX_DECODER_BYTES: u64 = 256 * 1024 * 1024;
/// Pixels decoded over all frames of an animation before the server gives
/// up on animating it and serves a still thumbnail instead.
const MAX_ANIMATION_PIXELS: u64 = 64 * 1024 * 1024;
/// Frames kept in an animated thumbnail.
const MAX_FRAMES: usize = 250;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Crop,
    Scale,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crop => "crop",
            Self::Scale => "scale",
        }
    }
}

/// What a client asked for.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub width: u32,
    pub height: u32,
    pub method: Method,
    /// Animate the thumbnail if the source is animated.
    pub animated: bool,
}

/// The standard sizes servers pre-generate (spec, "Thumbnails").
const STANDARD: [(u32, u32, Method); 5] = [
    (32, 32, Method::Crop),
    (96, 96, Method::Crop),
    (320, 240, Method::Scale),
    (640, 480, Method::Scale),
    (800, 600, Method::Scale),
];

/// The smallest standard size that is at least what was asked for (the
/// largest if none is), preferring the same method.
pub fn standard_size(width: u32, height: u32, method: Method) -> (u32, u32, Method) {
    STANDARD
        .iter()
        .copied()
        .find(|(w, h, m)| *m == method && *w >= width && *h >= height)
        .or_else(|| STANDARD.iter().copied().find(|(w, h, _)| *w >= width && *h >= height))
        .unwrap_or(STANDARD[STANDARD.len() - 1])
}

/// Makes a thumbnail of `bytes`: (content type, encoded image).
pub fn make(
    bytes: &[u8],
    width: u32,
    height: u32,
    method: Method,
    animated: bool,
) -> Result<(&'static str, Vec<u8>)> {
    let unreadable =
        |e: &dyn std::fmt::Display| Error::BadRequest(format!("cannot thumbnail this media: {e}"));
    let reader =
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| unreadable(&e))?;
    let format = reader.format().ok_or_else(|| unreadable(&"unknown image format"))?;
    let (w, h) = reader.into_dimensions().map_err(|e| unreadable(&e))?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(Error::BadRequest("image too large to thumbnail".into()));
    }
    if animated && let Some(gif) = animate(bytes, format, (w, h), width, height, method) {
        return Ok(("image/gif", gif));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    let image = reader.decode().map_err(|e| unreadable(&e))?;
    encode(resize(image, width, height, method), format)
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(8192);
    limits.max_image_height = Some(8192);
    limits.max_alloc = Some(MAX_DECODER_BYTES);
    limits
}

fn resize(image: DynamicImage, width: u32, height: u32, method: Method) -> DynamicImage {
    match method {
        Method::Crop => image.resize_to_fill(width, height, FilterType::Triangle),
        // Never upscale: a small image is its own thumbnail.
        Method::Scale if image.width() <= width && image.height() <= height => image,
        Method::Scale => image.resize(width, height, FilterType::Triangle),
    }
}

/// An animated GIF thumbnail of an animated GIF or WebP, or `None` when the
/// source is still, unreadable, or too costly to animate (the caller then
/// makes a still thumbnail).
fn animate(
    bytes: &[u8],
    format: ImageFormat,
    (w, h): (u32, u32),
    width: u32,
    height: u32,
    method: Method,
) -> Option<Vec<u8>> {
    let frames = match format {
        ImageFormat::Gif => {
            let mut decoder = GifDecoder::new(Cursor::new(bytes)).ok()?;
            decoder.set_limits(limits()).ok()?;
            decoder.into_frames()
        }
        ImageFormat::WebP => {
            let mut decoder = WebPDecoder::new(Cursor::new(bytes)).ok()?;
            if !decoder.has_animation() {
                return None;
            }
            decoder.set_limits(limits()).ok()?;
            decoder.into_frames()
        }
        _ => return None,
    };
    let frame_pixels = u64::from(w) * u64::from(h);
    let mut thumbs = Vec::new();
    for (index, frame) in frames.enumerate() {
        if index >= MAX_FRAMES || (index as u64 + 1) * frame_pixels > MAX_ANIMATION_PIXELS {
            return None;
        }
        let frame = frame.ok()?;
        let delay = frame.delay();
        let image = resize(DynamicImage::ImageRgba8(frame.into_buffer()), width, height, method);
        thumbs.push(Frame::from_parts(image.to_rgba8(), 0, 0, delay));
    }
    if thumbs.len() < 2 {
        return None;
    }
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        encoder.set_repeat(Repeat::Infinite).ok()?;
        encoder.encode_frames(thumbs).ok()?;
    }
    Some(out)
}

/// JPEG for photos, PNG for everything else (it keeps transparency).
fn encode(image: DynamicImage, source: ImageFormat) -> Result<(&'static str, Vec<u8>)> {
    let mut out = Cursor::new(Vec::new());
    if source == ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(image.to_rgb8())
            .write_to(&mut out, ImageFormat::Jpeg)
            .map_err(Error::internal)?;
        Ok(("image/jpeg", out.into_inner()))
    } else {
        image.write_to(&mut out, ImageFormat::Png).map_err(Error::internal)?;
        Ok(("image/png", out.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_standard_sizes() {
        assert_eq!(standard_size(10, 10, Method::Crop), (32, 32, Method::Crop));
        assert_eq!(standard_size(50, 50, Method::Crop), (96, 96, Method::Crop));
        assert_eq!(standard_size(300, 200, Method::Scale), (320, 240, Method::Scale));
        assert_eq!(standard_size(5000, 5000, Method::Scale), (800, 600, Method::Scale));
    }
}

//! Avatars: checked by content (PNG, JPEG, GIF or WebP), decoded with size and pixel limits,
//! cropped to a square, resized, re-encoded (which drops every bit of metadata) and stored
//! under the avatar directory. Still images become PNG; an animated GIF or WebP keeps its
//! animation and becomes an animated GIF (the image library cannot encode animated WebP),
//! every frame cropped and resized alike.

use super::{Actor, Core};
use crate::error::{Error, Result};
use crate::user::User;
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, Frame, ImageDecoder, ImageFormat, ImageReader, Limits, RgbaImage};
use std::io::Cursor;

/// The side of a stored avatar, in pixels.
pub const AVATAR_SIZE: u32 = 256;
/// The largest accepted image side.
const MAX_SIDE: u32 = 8192;
/// The most frames of an animated avatar.
const MAX_FRAMES: usize = 300;
/// The most pixels decoded for an animation, all frames together.
const MAX_ANIMATION_PIXELS: u64 = 200_000_000;

fn bad_image() -> Error {
    Error::invalid("file", "must be a PNG, JPEG, GIF or WebP image")
}

fn unreadable(e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(_) => Error::invalid("file", "the image is too large (at most 8192 pixels a side)"),
        _ => Error::invalid("file", "is not a readable PNG, JPEG, GIF or WebP image"),
    }
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    limits
}

/// A processed avatar: the bytes to store and what they hold.
#[derive(Debug)]
pub struct Processed {
    /// A PNG, or a GIF when `animated`.
    pub bytes: Vec<u8>,
    /// The side of the square image.
    pub side: u32,
    pub animated: bool,
}

/// A stored avatar, as the upload routes describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAvatar {
    /// `{url_base}/{file}`.
    pub url: String,
    pub width: u32,
    pub height: u32,
    /// Bytes of the stored file.
    pub size: usize,
    /// Whether it is an animation (an animated GIF).
    pub animated: bool,
}

/// Decodes, crops and resizes an upload, returning the bytes to store (PNG, or GIF for an
/// animation).
/// Decodes, crops and resizes an upload into what is stored (public for the fuzz target,
/// `fuzz/fuzz_targets/avatar.rs`).
pub fn process(bytes: &[u8]) -> Result<Processed> {
    let format = image::guess_format(bytes).map_err(|_| bad_image())?;
    match format {
        ImageFormat::Png | ImageFormat::Jpeg => still(bytes, format),
        ImageFormat::Gif => {
            let mut decoder = GifDecoder::new(Cursor::new(bytes)).map_err(unreadable)?;
            decoder.set_limits(limits()).map_err(unreadable)?;
            let dimensions = decoder.dimensions();
            animation(decoder.into_frames(), dimensions)
        }
        ImageFormat::WebP => {
            let mut decoder = WebPDecoder::new(Cursor::new(bytes)).map_err(unreadable)?;
            if !decoder.has_animation() {
                return still(bytes, format);
            }
            decoder.set_limits(limits()).map_err(unreadable)?;
            let dimensions = decoder.dimensions();
            animation(decoder.into_frames(), dimensions)
        }
        _ => Err(bad_image()),
    }
}

/// The side of the avatar made from a `width` x `height` image, and the crop of the centred
/// square; refuses empty and oversized images.
fn square_of(width: u32, height: u32) -> Result<(u32, u32, u32, u32)> {
    if width == 0 || height == 0 {
        return Err(bad_image());
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::invalid(
            "file",
            "the image is too large (at most 8192 pixels a side)",
        ));
    }
    let side = width.min(height);
    Ok(((width - side) / 2, (height - side) / 2, side, side.min(AVATAR_SIZE)))
}

fn encode_png(image: &RgbaImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| Error::Internal(anyhow::anyhow!("encoding an avatar: {e}")))?;
    Ok(out)
}

/// A still image: cropped, resized, PNG.
fn still(bytes: &[u8], format: ImageFormat) -> Result<Processed> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    let image = reader.decode().map_err(unreadable)?;
    let (x, y, side, target) = square_of(image.width(), image.height())?;
    let square = image.crop_imm(x, y, side, side);
    let resized = square.resize_exact(target, target, image::imageops::FilterType::Triangle);
    Ok(Processed {
        bytes: encode_png(&resized.to_rgba8())?,
        side: target,
        animated: false,
    })
}

/// An animation (frames of the whole canvas): every frame cropped and resized alike; one
/// frame makes a still PNG, more an endlessly looping GIF.
fn animation(frames: image::Frames<'_>, (width, height): (u32, u32)) -> Result<Processed> {
    let (x, y, side, target) = square_of(width, height)?;
    let frame_pixels = u64::from(width) * u64::from(height);
    let resize = |frame: Frame| {
        let delay = frame.delay();
        let canvas = frame.into_buffer();
        let square = image::imageops::crop_imm(&canvas, x, y, side, side).to_image();
        let resized = image::imageops::resize(&square, target, target, image::imageops::FilterType::Triangle);
        Frame::from_parts(resized, 0, 0, delay)
    };
    let mut frames = frames.into_iter();
    let first = match frames.next() {
        Some(frame) => resize(frame.map_err(unreadable)?),
        None => return Err(bad_image()),
    };
    let Some(second) = frames.next() else {
        return Ok(Processed {
            bytes: encode_png(first.buffer())?,
            side: target,
            animated: false,
        });
    };
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, 10);
        let encoding = |e: image::ImageError| Error::Internal(anyhow::anyhow!("encoding an animated avatar: {e}"));
        encoder.set_repeat(Repeat::Infinite).map_err(encoding)?;
        encoder.encode_frame(first).map_err(encoding)?;
        let mut count = 1usize;
        for frame in std::iter::once(second).chain(frames) {
            count += 1;
            if count > MAX_FRAMES || count as u64 * frame_pixels > MAX_ANIMATION_PIXELS {
                return Err(Error::invalid(
                    "file",
                    format!(
                        "the animation is too large (at most {MAX_FRAMES} frames and {MAX_ANIMATION_PIXELS} pixels in all)"
                    ),
                ));
            }
            encoder
                .encode_frame(resize(frame.map_err(unreadable)?))
                .map_err(encoding)?;
        }
    }
    Ok(Processed {
        bytes: out,
        side: target,
        animated: true,
    })
}

/// Whether `name` is a file name this service writes (and nothing that walks directories).
fn valid_name(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".png").or_else(|| name.strip_suffix(".gif")) else {
        return false;
    };
    name.len() <= 64 && stem.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The media type of a stored avatar file (by the name this service gave it).
pub fn avatar_content_type(name: &str) -> &'static str {
    if name.ends_with(".gif") {
        "image/gif"
    } else {
        "image/png"
    }
}

/// Where the native API serves stored avatars (`GET /v1/avatars/{file}`); avatars that do not
/// come from a dialect's upload route (`roster migrate`) are stored under it.
pub const NATIVE_AVATAR_BASE: &str = "/v1/avatars";

/// The file name of an avatar URL this service stored (a path ending in one of its names),
/// or None for anything else (an `http(s)` URL, a `data:` image).
pub fn own_avatar_file(url: &str) -> Option<&str> {
    let name = url.rsplit('/').next()?;
    (url.starts_with('/') && valid_name(name)).then_some(name)
}

/// The name an avatar is stored under: the owner, a tag, and the type's extension.
pub(super) fn avatar_file_name(owner: crate::id::UserId, tag: &str, processed: &Processed) -> String {
    let extension = if processed.animated { "gif" } else { "png" };
    format!("{:x}-{tag}.{extension}", owner.0)
}

impl Core {
    /// Stores a new avatar for the caller; its URL is `{url_base}/{file}`. Returns the user
    /// and the URL. The previous avatar file, if it was one of ours, is removed.
    pub async fn set_avatar(&self, actor: &Actor, bytes: Vec<u8>, url_base: &str) -> Result<(User, String)> {
        let (user, stored) = self.set_avatar_image(actor, bytes, url_base).await?;
        Ok((user, stored.url))
    }

    /// As [`Core::set_avatar`], describing the stored image (size, animation).
    pub async fn set_avatar_image(
        &self,
        actor: &Actor,
        bytes: Vec<u8>,
        url_base: &str,
    ) -> Result<(User, StoredAvatar)> {
        let processed = self.process_avatar_upload(bytes).await?;
        let name = avatar_file_name(actor.user.id, &crate::token::random_secret_hex()[..12], &processed);
        self.write_avatar_file(&name, &processed.bytes).await?;
        let url = format!("{}/{name}", url_base.trim_end_matches('/'));
        // The previous avatar's file, if it was this user's, goes with the change.
        let (_, after) = self
            .modify_user(actor.user.id, Some(actor.user.id), None, |u| {
                u.avatar = Some(url.clone());
                Ok(())
            })
            .await?;
        Ok((
            after,
            StoredAvatar {
                url,
                width: processed.side,
                height: processed.side,
                size: processed.bytes.len(),
                animated: processed.animated,
            },
        ))
    }

    /// Checks an upload's size and runs the pipeline off the async threads.
    pub(super) async fn process_avatar_upload(&self, bytes: Vec<u8>) -> Result<Processed> {
        if bytes.len() > self.config.avatar_max_bytes {
            return Err(Error::TooLarge("the image is larger than the upload limit"));
        }
        if bytes.is_empty() {
            return Err(Error::invalid("file", "is required"));
        }
        tokio::task::spawn_blocking(move || process(&bytes))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("avatar task failed: {e}")))?
    }

    /// Writes a processed avatar under the avatar directory (through a temporary file, so a
    /// reader never sees half an image).
    pub(super) async fn write_avatar_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let dir = self.config.avatar_dir.clone();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("creating {}: {e}", dir.display())))?;
        let temp = dir.join(format!("{name}.tmp"));
        tokio::fs::write(&temp, bytes)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("writing {}: {e}", temp.display())))?;
        tokio::fs::rename(&temp, dir.join(name))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("storing an avatar: {e}")))
    }

    /// Whether a stored avatar file exists.
    pub(super) async fn avatar_file_exists(&self, name: &str) -> bool {
        valid_name(name)
            && tokio::fs::try_exists(self.config.avatar_dir.join(name))
                .await
                .unwrap_or(false)
    }

    /// Reads a stored avatar by file name (PNG or GIF bytes; see [`avatar_content_type`]).
    pub async fn read_avatar(&self, name: &str) -> Result<Vec<u8>> {
        if !valid_name(name) {
            return Err(Error::NotFound("avatar"));
        }
        tokio::fs::read(self.config.avatar_dir.join(name))
            .await
            .map_err(|_| Error::NotFound("avatar"))
    }

    /// Removes the file behind an avatar URL of ours that belongs to `owner` (its name starts
    /// with the owner's id); anything else is left alone: an account may point its avatar at
    /// another's file, and changing it must not delete that file.
    pub(super) async fn remove_avatar_file(&self, owner: crate::id::UserId, url: &str) {
        if let Some(name) = own_avatar_file(url).filter(|n| n.starts_with(&format!("{:x}-", owner.0))) {
            let _ = tokio::fs::remove_file(self.config.avatar_dir.join(name)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_name("1a2b-00ff.png"));
        assert!(!valid_name("../x.png"));
        assert!(!valid_name("a.jpg"));
        assert!(valid_name("1a2b-00ff.gif"));
        assert!(!valid_name("x.gif"));
        assert_eq!(avatar_content_type("1a-2b.gif"), "image/gif");
        assert_eq!(avatar_content_type("1a-2b.png"), "image/png");
    }

    #[test]
    fn images_are_cropped_and_resized() {
        let img = image::RgbImage::from_pixel(600, 300, image::Rgb([200, 10, 10]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        let out = process(&bytes).unwrap();
        assert!(!out.animated);
        let decoded = image::load_from_memory(&out.bytes).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 256));
        assert!(process(b"GIF89a....").is_err());
        assert!(process(b"not an image").is_err());
    }

    fn gif(side: u32, frames: usize) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = GifEncoder::new_with_speed(&mut out, 30);
            for i in 0..frames {
                let shade = (i * 40 % 256) as u8;
                let image = RgbaImage::from_pixel(side, side, image::Rgba([shade, 0, 0, 255]));
                encoder
                    .encode_frame(Frame::from_parts(image, 0, 0, image::Delay::from_numer_denom_ms(50, 1)))
                    .unwrap();
            }
        }
        out
    }

    #[test]
    fn animations_keep_their_frames_within_limits() {
        let out = process(&gif(4, 3)).unwrap();
        assert!(out.animated);
        assert_eq!(out.side, 4);
        let frames = GifDecoder::new(Cursor::new(&out.bytes))
            .unwrap()
            .into_frames()
            .collect_frames()
            .unwrap();
        assert_eq!(frames.len(), 3);
        // One frame: a still PNG.
        let still = process(&gif(4, 1)).unwrap();
        assert!(!still.animated);
        assert_eq!(image::guess_format(&still.bytes).unwrap(), ImageFormat::Png);
        // Too many frames is refused, not truncated.
        let error = process(&gif(2, MAX_FRAMES + 1)).unwrap_err();
        assert!(error.to_string().contains("too large"), "{error}");
        assert!(process(&gif(2, MAX_FRAMES)).is_ok());
    }

    /// Writes the avatar fuzz target's seeds (`cargo test -p roster-core -- --ignored
    /// write_fuzz_seeds`): tiny images of each accepted format, shapes and pixel types, and
    /// GIF animations.
    #[test]
    #[ignore]
    fn write_fuzz_seeds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/avatar");
        std::fs::create_dir_all(&dir).unwrap();
        let wide = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(12, 5, |x, y| {
            image::Rgb([(x * 20) as u8, (y * 50) as u8, 90])
        }));
        let tall = image::DynamicImage::ImageRgba8(image::RgbaImage::from_fn(3, 9, |x, y| {
            image::Rgba([200, (x * 60) as u8, (y * 25) as u8, 128])
        }));
        let grey =
            image::DynamicImage::ImageLuma8(image::GrayImage::from_fn(7, 7, |x, y| image::Luma([(x * y) as u8])));
        for (name, img, format) in [
            ("wide.png", &wide, ImageFormat::Png),
            ("tall.png", &tall, ImageFormat::Png),
            ("grey.png", &grey, ImageFormat::Png),
            ("wide.jpg", &wide, ImageFormat::Jpeg),
            ("grey.jpg", &grey, ImageFormat::Jpeg),
            ("wide.webp", &wide, ImageFormat::WebP),
            ("tall.webp", &tall, ImageFormat::WebP),
        ] {
            let mut bytes = Vec::new();
            img.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        // Animations: several frames, and one frame (stored as a still).
        std::fs::write(dir.join("anim.gif"), gif(6, 3)).unwrap();
        std::fs::write(dir.join("still.gif"), gif(5, 1)).unwrap();
    }
}

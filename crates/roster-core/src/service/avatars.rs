//! Avatars: checked by content (PNG, JPEG, GIF or WebP), checked from their headers against
//! size, frame and memory limits before any pixel is decoded, decoded under those limits (a
//! few uploads at a time), cropped to a square, resized, re-encoded (which drops every bit of
//! metadata) and stored under the avatar directory. Still images become PNG; an animated GIF or WebP keeps its
//! animation and becomes an animated GIF (the image library cannot encode animated WebP),
//! every frame cropped and resized alike.

use super::{Actor, Authority, Core};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::user::User;
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, DynamicImage, Frame, ImageBuffer, ImageDecoder, ImageFormat, Limits, Pixel, RgbaImage};
use std::io::Cursor;

/// The side of a stored avatar, in pixels.
pub const AVATAR_SIZE: u32 = 256;
/// The largest accepted image side.
const MAX_SIDE: u32 = 8192;
/// The most frames of an animated avatar.
const MAX_FRAMES: usize = 300;
/// The most pixels decoded for an animation, all frames together (each frame counted at the
/// size of the whole canvas, which is what the decoders compose it on): a bound on work.
const MAX_ANIMATION_PIXELS: u64 = 200_000_000;
/// The most memory one upload may take while it is decoded, cropped and resized, in bytes.
/// It is estimated from the headers before any pixel is decoded (see [`Cost`]), and the
/// decoders are held to it by [`Limits`]; how many uploads are decoded at once is bounded by
/// `avatar_concurrency`, so the pipeline's memory is at most their product.
pub const AVATAR_DECODE_BUDGET: u64 = 96 * 1024 * 1024;
/// What a PNG decoder may allocate besides the pixels (an ICC profile, text chunks, rows).
const PNG_METADATA_BUDGET: u64 = 4 * 1024 * 1024;

fn bad_image() -> Error {
    Error::invalid("file", "must be a PNG, JPEG, GIF or WebP image")
}

fn too_large(what: impl std::fmt::Display) -> Error {
    Error::invalid("file", format!("the image is too large ({what})"))
}

fn too_large_to_decode(width: u32, height: u32) -> Error {
    too_large(format_args!(
        "{width}x{height} would take more than {} MiB to decode: about 12 to 20 megapixels for a still image, by format, 4 to 7 for an animation",
        AVATAR_DECODE_BUDGET / (1024 * 1024)
    ))
}

fn unreadable(e: image::ImageError) -> Error {
    match e {
        image::ImageError::Limits(_) => too_large(format_args!(
            "at most {MAX_SIDE} pixels a side and {} MiB to decode",
            AVATAR_DECODE_BUDGET / (1024 * 1024)
        )),
        _ => Error::invalid("file", "is not a readable PNG, JPEG, GIF or WebP image"),
    }
}

/// The decoders' limits: the largest side, and what they may allocate in all.
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(AVATAR_DECODE_BUDGET);
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

/// The memory an upload will take, estimated from its headers (an upper bound, in bytes):
/// the decoded buffers at the sizes the headers declare, and what cropping and resizing add.
struct Cost {
    width: u32,
    height: u32,
    bytes: u64,
}

impl Cost {
    fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            bytes: 0,
        }
    }

    /// Adds `per_pixel` bytes for every pixel of a `width` x `height` buffer.
    fn buffer(mut self, width: u32, height: u32, per_pixel: u64) -> Self {
        self.bytes = self
            .bytes
            .saturating_add((u64::from(width) * u64::from(height)).saturating_mul(per_pixel));
        self
    }

    /// Adds what resizing the centred square takes: the first pass of the resampler keeps the
    /// square's width at the target height in 32-bit float RGBA, besides the small results.
    fn resize(self, square: &Square) -> Self {
        let (side, target) = (square.side, square.target);
        self.buffer(side, target, 16).buffer(target, target, 16 + 4 + 4)
    }

    /// Refuses the upload unless it fits the budget.
    fn check(self) -> Result<()> {
        if self.bytes > AVATAR_DECODE_BUDGET {
            return Err(too_large_to_decode(self.width, self.height));
        }
        Ok(())
    }
}

/// Decodes, crops and resizes an upload into what is stored: a PNG, or a GIF for an animation
/// (public for the fuzz target, `fuzz/fuzz_targets/avatar.rs`). Dimensions, frame counts and
/// the memory the decoding will take are checked from the headers before any pixel is
/// decoded; the decoders are held to [`AVATAR_DECODE_BUDGET`].
pub fn process(bytes: &[u8]) -> Result<Processed> {
    let format = image::guess_format(bytes).map_err(|_| bad_image())?;
    match format {
        ImageFormat::Png => {
            // The PNG decoder reads the chunks before the pixels (an ICC profile is
            // decompressed there) under a small limit of its own; the pixels' is set below.
            let mut metadata = limits();
            metadata.max_alloc = Some(PNG_METADATA_BUDGET);
            let decoder = PngDecoder::with_limits(Cursor::new(bytes), metadata).map_err(unreadable)?;
            // The decoder's rows and inflater, besides the pixels.
            let rows = u64::from(decoder.dimensions().0) * 8 * 3 + 256 * 1024;
            still(decoder, 0, rows)
        }
        ImageFormat::Jpeg => {
            // A baseline image is decoded a few rows at a time; a progressive one keeps the
            // coefficients of every component until the last scan. The decoder also copies
            // the file.
            let per_pixel = if jpeg_is_baseline(bytes) { 1 } else { 4 };
            let decoder = JpegDecoder::new(Cursor::new(bytes)).map_err(unreadable)?;
            still(decoder, per_pixel, bytes.len() as u64)
        }
        ImageFormat::Gif => gif(bytes),
        ImageFormat::WebP => {
            let decoder = WebPDecoder::new(Cursor::new(bytes)).map_err(unreadable)?;
            if decoder.has_animation() {
                webp_animation(bytes, decoder)
            } else {
                // A lossy image is decoded through its YUV planes (kept by macroblock, a
                // pixel and a half), a lossless one through 32-bit ARGB and its transforms;
                // the decoder reads the image's chunk into memory.
                still(decoder, WEBP_DECODER_PER_PIXEL, bytes.len() as u64)
            }
        }
        _ => Err(bad_image()),
    }
}

/// Bytes a pixel the WebP decoder takes besides its output (a lossy image with alpha: the
/// YUV planes, an RGB frame and the alpha plane).
const WEBP_DECODER_PER_PIXEL: u64 = 6;

/// Whether a JPEG's frame header (the first SOFn segment before the scans) says a baseline or
/// extended sequential image; anything else, or no frame header, counts as progressive.
fn jpeg_is_baseline(bytes: &[u8]) -> bool {
    let mut at = 2; // after SOI
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return false;
        }
        let marker = bytes[at + 1];
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        match marker {
            0xC0 | 0xC1 => return true,
            0xC2..=0xCF if marker != 0xC4 && marker != 0xC8 && marker != 0xCC => return false,
            0xDA | 0xD9 => return false,
            0xD0..=0xD7 | 0x01 => at += 2,
            _ => at += 2 + usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]])),
        }
    }
    false
}

/// The centred square of a `width` x `height` image, and the side it is resized to.
struct Square {
    x: u32,
    y: u32,
    side: u32,
    target: u32,
}

/// The square an avatar is made from; refuses empty and oversized images.
fn square_of(width: u32, height: u32) -> Result<Square> {
    if width == 0 || height == 0 {
        return Err(bad_image());
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(too_large(format_args!("at most {MAX_SIDE} pixels a side")));
    }
    let side = width.min(height);
    Ok(Square {
        x: (width - side) / 2,
        y: (height - side) / 2,
        side,
        target: side.min(AVATAR_SIZE),
    })
}

/// The square cut from `image` (without copying it) and resized.
fn squared<P>(image: &ImageBuffer<P, Vec<P::Subpixel>>, square: &Square) -> ImageBuffer<P, Vec<P::Subpixel>>
where
    P: Pixel + 'static,
    P::Subpixel: 'static,
{
    let view = image::imageops::crop_imm(image, square.x, square.y, square.side, square.side);
    image::imageops::resize(
        &*view,
        square.target,
        square.target,
        image::imageops::FilterType::Triangle,
    )
}

fn encode_png(image: &RgbaImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| Error::Internal(anyhow::anyhow!("encoding an avatar: {e}")))?;
    Ok(out)
}

/// A still image: checked against the budget from its header (`per_pixel` bytes the decoder
/// takes for each pixel besides its output, and `fixed` more), decoded, cropped, resized, PNG.
fn still(mut decoder: impl ImageDecoder, per_pixel: u64, fixed: u64) -> Result<Processed> {
    let (width, height) = decoder.dimensions();
    let square = square_of(width, height)?;
    let output = decoder.total_bytes();
    let mut cost = Cost::new(width, height)
        .buffer(width, height, per_pixel)
        .resize(&square);
    cost.bytes = cost.bytes.saturating_add(output).saturating_add(fixed);
    cost.check()?;
    let mut limits = limits();
    limits.reserve(output).map_err(unreadable)?;
    decoder.set_limits(limits).map_err(unreadable)?;
    let image = DynamicImage::from_decoder(decoder).map_err(unreadable)?;
    let resized = match &image {
        DynamicImage::ImageLuma8(i) => DynamicImage::from(squared(i, &square)).into_rgba8(),
        DynamicImage::ImageLumaA8(i) => DynamicImage::from(squared(i, &square)).into_rgba8(),
        DynamicImage::ImageRgb8(i) => DynamicImage::from(squared(i, &square)).into_rgba8(),
        DynamicImage::ImageRgba8(i) => squared(i, &square),
        DynamicImage::ImageLuma16(i) => DynamicImage::from(squared(i, &square)).into_rgba8(),
        DynamicImage::ImageLumaA16(i) => DynamicImage::from(squared(i, &square)).into_rgba8(),
        DynamicImage::ImageRgb16(i) => DynamicImage::from(squared(i, &square)).into_rgba8(),
        DynamicImage::ImageRgba16(i) => DynamicImage::from(squared(i, &square)).into_rgba8(),
        // Not produced by these decoders.
        _ => return Err(bad_image()),
    };
    Ok(Processed {
        bytes: encode_png(&resized)?,
        side: square.target,
        animated: false,
    })
}

/// Refuses an animation of `frames` frames on a `width` x `height` canvas that is over the
/// frame or work limits.
fn check_frames(frames: usize, width: u32, height: u32) -> Result<()> {
    let canvas = u64::from(width) * u64::from(height);
    if frames > MAX_FRAMES || (frames as u64).saturating_mul(canvas) > MAX_ANIMATION_PIXELS {
        return Err(too_large(format_args!(
            "at most {MAX_FRAMES} frames and {MAX_ANIMATION_PIXELS} pixels in all"
        )));
    }
    Ok(())
}

/// A GIF: its frame descriptors are read first (without decoding any frame) to count the
/// frames and size the buffers, then it is decoded frame by frame.
fn gif(bytes: &[u8]) -> Result<Processed> {
    let unreadable_gif = |_| Error::invalid("file", "is not a readable PNG, JPEG, GIF or WebP image");
    let mut options = gif::DecodeOptions::new();
    options.skip_frame_decoding(true);
    let mut scan = options.read_info(Cursor::new(bytes)).map_err(unreadable_gif)?;
    let (width, height) = (u32::from(scan.width()), u32::from(scan.height()));
    let square = square_of(width, height)?;
    let (mut frames, mut largest_frame) = (0usize, 0u64);
    while let Some(frame) = scan.next_frame_info().map_err(unreadable_gif)? {
        frames += 1;
        largest_frame = largest_frame.max(u64::from(frame.width) * u64::from(frame.height));
        check_frames(frames, width, height)?;
    }
    // The decoder keeps the canvas left by the previous frames, decodes each frame into a
    // buffer of its own size (its LZW output and its RGBA expansion) and composes it on a
    // new canvas.
    let mut cost = Cost::new(width, height).buffer(width, height, 4 + 4).resize(&square);
    cost.bytes = cost.bytes.saturating_add(largest_frame.saturating_mul(4 + 1));
    cost.check()?;
    drop(scan);
    let mut decoder = GifDecoder::new(Cursor::new(bytes)).map_err(unreadable)?;
    decoder.set_limits(limits()).map_err(unreadable)?;
    animation(decoder.into_frames(), square)
}

/// An animated WebP: its canvas and frame count come from its chunk headers.
fn webp_animation(bytes: &[u8], mut decoder: WebPDecoder<Cursor<&[u8]>>) -> Result<Processed> {
    let (width, height) = decoder.dimensions();
    let square = square_of(width, height)?;
    let frames = image_webp::WebPDecoder::new(Cursor::new(bytes))
        .map_err(|_| Error::invalid("file", "is not a readable PNG, JPEG, GIF or WebP image"))?
        .num_frames();
    check_frames(usize::try_from(frames).unwrap_or(usize::MAX), width, height)?;
    // The decoder composes on a canvas of its own and copies it into each frame (RGB frames
    // are converted to RGBA, a second copy); a frame is decoded at most at the canvas size,
    // with its decoder's working buffers.
    let bytes_per_pixel = if decoder.color_type().has_alpha() { 4 } else { 3 };
    Cost::new(width, height)
        .buffer(width, height, 4 + bytes_per_pixel + 4 + 4 + WEBP_DECODER_PER_PIXEL)
        .resize(&square)
        .check()?;
    decoder.set_limits(limits()).map_err(unreadable)?;
    animation(decoder.into_frames(), square)
}

/// An animation (frames of the whole canvas): every frame cropped and resized alike; one
/// frame makes a still PNG, more an endlessly looping GIF. The frame count was checked before.
fn animation(frames: image::Frames<'_>, square: Square) -> Result<Processed> {
    let target = square.target;
    let resize = |frame: Frame| {
        let delay = frame.delay();
        let canvas = frame.into_buffer();
        Frame::from_parts(squared(&canvas, &square), 0, 0, delay)
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
            if count > MAX_FRAMES {
                return Err(too_large(format_args!("at most {MAX_FRAMES} frames")));
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
        self.store_avatar(actor.user.id, Some(actor.user.id), None, bytes, url_base)
            .await
    }

    /// Stores a new avatar for `user` as an administrator (or the operator): the same
    /// pipeline, limits and errors as [`Core::set_avatar_image`], the change audited with the
    /// administrator as its actor; the checks of administering a user ([`Core::administer`]:
    /// an administrator, the primary administrator protected from the others) come first.
    /// To remove a user's avatar, [`Core::admin_update_user`] clears it.
    pub async fn set_user_avatar(
        &self,
        by: impl Into<Authority<'_>>,
        user: UserId,
        bytes: Vec<u8>,
        url_base: &str,
    ) -> Result<(User, StoredAvatar)> {
        let by = self.administer(by.into(), user).await?;
        // An unknown user is refused before the image is decoded or a file written.
        self.store
            .get_user(user)
            .await
            .map_err(super::users::not_found("user"))?;
        self.store_avatar(user, by, Some(crate::journal::audit::USER_UPDATE), bytes, url_base)
            .await
    }

    /// Processes and stores `bytes` as `owner`'s avatar, the change made `by` that caller and
    /// audited as `action` (an administrator's `user.update`; a user's own, not).
    async fn store_avatar(
        &self,
        owner: UserId,
        by: Option<UserId>,
        action: Option<&str>,
        bytes: Vec<u8>,
        url_base: &str,
    ) -> Result<(User, StoredAvatar)> {
        let processed = self.process_avatar_upload(bytes).await?;
        let name = avatar_file_name(owner, &crate::token::random_secret_hex()[..12], &processed);
        self.write_avatar_file(&name, &processed.bytes).await?;
        let url = format!("{}/{name}", url_base.trim_end_matches('/'));
        // The previous avatar's file, if it was this user's, goes with the change.
        let (_, after) = self
            .modify_user(owner, by, action, |u| {
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

    /// Checks an upload's size and runs the pipeline off the async threads, at most
    /// `avatar_concurrency` uploads at once (the others wait for a turn).
    pub(super) async fn process_avatar_upload(&self, bytes: Vec<u8>) -> Result<Processed> {
        if bytes.len() > self.config.avatar_max_bytes {
            return Err(Error::TooLarge("the image is larger than the upload limit"));
        }
        if bytes.is_empty() {
            return Err(Error::invalid("file", "is required"));
        }
        let turn = self
            .avatar_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("avatar turns closed: {e}")))?;
        // The turn is held by the decoding itself, so a request that goes away while its
        // image is decoded does not free a turn early.
        tokio::task::spawn_blocking(move || {
            let processed = process(&bytes);
            drop(turn);
            processed
        })
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

    #[test]
    fn jpeg_frame_headers_are_told_apart() {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        assert!(jpeg_is_baseline(&bytes));
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        bytes[sof + 1] = 0xC2;
        assert!(!jpeg_is_baseline(&bytes), "progressive");
        assert!(!jpeg_is_baseline(b"\xFF\xD8\xFF"));
        assert!(
            !jpeg_is_baseline(b"\xFF\xD8\xFF\xDA\x00\x02"),
            "scans before a frame header"
        );
    }

    /// A still image just over the budget is refused from its header, with the size in the
    /// message; one within it is decoded.
    #[test]
    fn the_budget_is_checked_from_the_header() {
        let png = |side: u32| {
            let mut out = Vec::new();
            image::DynamicImage::ImageRgba8(RgbaImage::new(side, 1))
                .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
                .unwrap();
            // Rewrite the height (and the header's checksum): the header is all the check reads.
            out[20..24].copy_from_slice(&side.to_be_bytes());
            let mut crc = 0xFFFF_FFFFu32;
            for &b in &out[12..29] {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            out[29..33].copy_from_slice(&(!crc).to_be_bytes());
            out
        };
        let error = process(&png(5200)).unwrap_err();
        assert!(matches!(error, Error::Invalid { field: "file", .. }), "{error:?}");
        assert!(
            error.to_string().contains("5200x5200 would take more than 96 MiB"),
            "{error}"
        );
        // Within the budget, the same (truncated) file fails only when its pixels are read.
        let error = process(&png(4000)).unwrap_err();
        assert!(error.to_string().contains("not a readable"), "{error}");
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

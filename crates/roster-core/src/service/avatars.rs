//! Avatars: checked by content (PNG, JPEG or WebP), decoded with size and pixel limits,
//! cropped to a square, resized, re-encoded as PNG (which drops every bit of metadata) and
//! stored under the avatar directory.

use super::{Actor, Core};
use crate::error::{Error, Result};
use crate::user::User;
use image::{ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// The side of a stored avatar, in pixels.
pub const AVATAR_SIZE: u32 = 256;
/// The largest accepted image side.
const MAX_SIDE: u32 = 8192;

fn bad_image() -> Error {
    Error::invalid("file", "must be a PNG, JPEG or WebP image")
}

/// Decodes, crops and resizes an upload, returning the PNG bytes to store (public for the
/// fuzz target, `fuzz/fuzz_targets/avatar.rs`).
pub fn process(bytes: &[u8]) -> Result<Vec<u8>> {
    let format = image::guess_format(bytes).map_err(|_| bad_image())?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP) {
        return Err(bad_image());
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Error::invalid("file", "the image is too large (at most 8192 pixels a side)"),
        _ => Error::invalid("file", "is not a readable PNG, JPEG or WebP image"),
    })?;
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 {
        return Err(bad_image());
    }
    let side = w.min(h);
    let square = image.crop_imm((w - side) / 2, (h - side) / 2, side, side);
    let target = side.min(AVATAR_SIZE);
    let resized = square.resize_exact(target, target, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    resized
        .to_rgba8()
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| Error::Internal(anyhow::anyhow!("encoding an avatar: {e}")))?;
    Ok(out)
}

/// Whether `name` is a file name this service writes (and nothing that walks directories).
fn valid_name(name: &str) -> bool {
    name.len() <= 64
        && name.ends_with(".png")
        && name[..name.len() - 4]
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl Core {
    /// Stores a new avatar for the caller; its URL is `{url_base}/{file}`. Returns the user
    /// and the URL. The previous avatar file, if it was one of ours, is removed.
    pub async fn set_avatar(&self, actor: &Actor, bytes: Vec<u8>, url_base: &str) -> Result<(User, String)> {
        if bytes.len() > self.config.avatar_max_bytes {
            return Err(Error::TooLarge("the image is larger than the upload limit"));
        }
        if bytes.is_empty() {
            return Err(Error::invalid("file", "is required"));
        }
        let png = tokio::task::spawn_blocking(move || process(&bytes))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("avatar task failed: {e}")))??;
        let name = format!("{:x}-{}.png", actor.user.id.0, &crate::token::random_secret_hex()[..12]);
        let dir = self.config.avatar_dir.clone();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("creating {}: {e}", dir.display())))?;
        let temp = dir.join(format!("{name}.tmp"));
        tokio::fs::write(&temp, &png)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("writing {}: {e}", temp.display())))?;
        tokio::fs::rename(&temp, dir.join(&name))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("storing an avatar: {e}")))?;
        let url = format!("{}/{name}", url_base.trim_end_matches('/'));
        let (before, after) = self
            .modify_user(actor.user.id, |u| {
                u.avatar = Some(url.clone());
                Ok(())
            })
            .await?;
        if let Some(old) = before.avatar {
            self.remove_avatar_file(&old).await;
        }
        Ok((after, url))
    }

    /// Reads a stored avatar by file name (PNG bytes).
    pub async fn read_avatar(&self, name: &str) -> Result<Vec<u8>> {
        if !valid_name(name) {
            return Err(Error::NotFound("avatar"));
        }
        tokio::fs::read(self.config.avatar_dir.join(name))
            .await
            .map_err(|_| Error::NotFound("avatar"))
    }

    /// Removes the file behind an avatar URL of ours; anything else is left alone.
    pub(super) async fn remove_avatar_file(&self, url: &str) {
        if let Some(name) = url.rsplit('/').next()
            && valid_name(name)
        {
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
    }

    #[test]
    fn images_are_cropped_and_resized() {
        let img = image::RgbImage::from_pixel(600, 300, image::Rgb([200, 10, 10]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Jpeg)
            .unwrap();
        let out = process(&bytes).unwrap();
        let decoded = image::load_from_memory(&out).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (256, 256));
        assert!(process(b"GIF89a....").is_err());
        assert!(process(b"not an image").is_err());
    }

    /// Writes the avatar fuzz target's seeds (`cargo test -p roster-core -- --ignored
    /// write_fuzz_seeds`): tiny images of each accepted format, shapes and pixel types.
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
    }
}

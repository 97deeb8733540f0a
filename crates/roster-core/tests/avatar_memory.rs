//! The avatar pipeline's memory, measured: a counting allocator records the peak of what the
//! calling thread holds while an upload is processed. Hostile files (tiny files declaring huge
//! images, decompression bombs) are refused from their headers, before any pixel buffer is
//! allocated; accepted images stay within the pipeline's budget.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_core::service::{AVATAR_DECODE_BUDGET, process_avatar};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Cursor, Write};

/// Counts what each thread allocates and frees (a test runs its pipeline on one thread).
struct Counting;

thread_local! {
    static HELD: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    let _ = HELD.try_with(|held| {
        let now = held.get().saturating_add(bytes);
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    let _ = HELD.try_with(|held| held.set(held.get().saturating_sub(bytes)));
}

// SAFETY: every call is passed on to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Processes `bytes`, returning the outcome and the most memory held meanwhile beyond what
/// was held before.
fn measured(bytes: &[u8]) -> (roster_core::Result<roster_core::service::ProcessedAvatar>, usize) {
    let before = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    let outcome = process_avatar(bytes);
    let peak = PEAK.with(Cell::get) - before;
    (outcome, peak)
}

const MIB: usize = 1024 * 1024;

/// Asserts that `bytes` is refused as an invalid file that is too large, having allocated at
/// most `bound` bytes on the way (the file itself is a few hundred kilobytes at most).
fn refused_early(name: &str, bytes: &[u8], bound: usize) {
    let (outcome, peak) = measured(bytes);
    match outcome {
        Err(roster_core::Error::Invalid { field: "file", reason }) => {
            assert!(reason.contains("too large"), "{name}: {reason}");
        }
        other => panic!("{name}: refused as an invalid file, not {other:?}"),
    }
    assert!(
        peak <= bound,
        "{name} ({} bytes) was refused only after holding {} MiB (at most {} MiB allowed)",
        bytes.len(),
        peak / MIB,
        bound / MIB
    );
    eprintln!("{name}: {} bytes, refused holding at most {peak} bytes", bytes.len());
}

/// The GIF of the report: an 8192x8192 logical screen and three frames of one pixel each.
fn gif_with_screen(width: u16, height: u16, frames: usize) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    out.extend_from_slice(&[0x00, 0, 0]); // no global colour table
    for _ in 0..frames {
        // Graphic control: 100 ms.
        out.extend_from_slice(&[0x21, 0xF9, 0x04, 0x00, 10, 0, 0, 0x00]);
        // A 1x1 frame at (0, 0) with a local table of two colours.
        out.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0x80]);
        out.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        // LZW, minimum code size 2: clear, index 0, end.
        out.extend_from_slice(&[0x02, 0x02, 0x44, 0x01, 0x00]);
    }
    out.push(0x3B);
    out
}

/// A PNG of `width` x `height` black pixels, written row by row (it compresses about a
/// thousand to one).
fn png_of(width: u32, height: u32, color: png::ColorType, depth: png::BitDepth) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(depth);
        encoder.set_compression(png::Compression::Balanced);
        let mut writer = encoder.write_header().unwrap();
        let mut stream = writer.stream_writer().unwrap();
        let samples = match color {
            png::ColorType::Grayscale | png::ColorType::Indexed => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
        };
        let bytes = if depth == png::BitDepth::Sixteen { 2 } else { 1 };
        let row = vec![0u8; width as usize * samples * bytes];
        for _ in 0..height {
            stream.write_all(&row).unwrap();
        }
        stream.finish().unwrap();
    }
    out
}

/// Deflate data (zlib-wrapped) of `len` zero bytes.
fn zlib_zeros(len: usize) -> Vec<u8> {
    // The image data of a PNG of one row of `len - 1` grey pixels: `len` zeros.
    let mut bomb = Vec::new();
    {
        let width = u32::try_from(len - 1).unwrap();
        let mut encoder = png::Encoder::new(&mut bomb, width, 1);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header().unwrap();
        let mut stream = writer.stream_writer().unwrap();
        let zeros = vec![0u8; 1 << 20];
        let mut left = len - 1;
        while left > 0 {
            let n = left.min(zeros.len());
            stream.write_all(&zeros[..n]).unwrap();
            left -= n;
        }
        stream.finish().unwrap();
    }
    idat_data(&bomb)
}

/// The concatenated IDAT payloads of a PNG (its zlib stream).
fn idat_data(png: &[u8]) -> Vec<u8> {
    let mut at = 8;
    let mut data = Vec::new();
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        if &png[at + 4..at + 8] == b"IDAT" {
            data.extend_from_slice(&png[at + 8..at + 8 + len]);
        }
        at += 12 + len;
    }
    data
}

/// A PNG chunk, with its CRC.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32(kind, 0xFFFF_FFFF);
    crc = crc32(data, crc);
    out.extend_from_slice(&(!crc).to_be_bytes());
    out
}

fn crc32(bytes: &[u8], mut crc: u32) -> u32 {
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// A 1x1 PNG whose ICC profile inflates to `len` bytes.
fn png_with_icc_bomb(len: usize) -> Vec<u8> {
    let small = png_of(1, 1, png::ColorType::Rgba, png::BitDepth::Eight);
    let mut iccp = b"bomb\0\0".to_vec();
    iccp.extend_from_slice(&zlib_zeros(len));
    let ihdr_end = 8 + 12 + 13;
    let mut out = small[..ihdr_end].to_vec();
    out.extend_from_slice(&chunk(b"iCCP", &iccp));
    out.extend_from_slice(&small[ihdr_end..]);
    out
}

/// A small baseline JPEG whose frame header is rewritten to declare `width` x `height`.
fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(16, 16, image::Rgb([120, 30, 200]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Jpeg)
        .unwrap();
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes
}

/// A lossless 1x1 WebP's VP8L chunk (header and payload).
fn vp8l_pixel() -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(1, 1, image::Rgba([10, 20, 30, 255]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(img)
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::WebP)
        .unwrap();
    assert_eq!(&bytes[12..16], b"VP8L", "a lossless WebP");
    bytes[12..].to_vec()
}

fn u24(v: u32) -> [u8; 3] {
    let b = v.to_le_bytes();
    [b[0], b[1], b[2]]
}

fn riff_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_vec();
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// An animated WebP with a `width` x `height` canvas and `frames` frames of one pixel.
fn webp_animation(width: u32, height: u32, frames: usize) -> Vec<u8> {
    let pixel = vp8l_pixel();
    let mut vp8x = vec![0b0001_0010, 0, 0, 0]; // animation, alpha
    vp8x.extend_from_slice(&u24(width - 1));
    vp8x.extend_from_slice(&u24(height - 1));
    let mut body = b"WEBP".to_vec();
    body.extend_from_slice(&riff_chunk(b"VP8X", &vp8x));
    body.extend_from_slice(&riff_chunk(b"ANIM", &[0, 0, 0, 0, 0, 0]));
    for _ in 0..frames {
        let mut anmf = Vec::new();
        anmf.extend_from_slice(&u24(0)); // x / 2
        anmf.extend_from_slice(&u24(0)); // y / 2
        anmf.extend_from_slice(&u24(0)); // width - 1
        anmf.extend_from_slice(&u24(0)); // height - 1
        anmf.extend_from_slice(&u24(100)); // duration, ms
        anmf.push(0);
        anmf.extend_from_slice(&pixel);
        body.extend_from_slice(&riff_chunk(b"ANMF", &anmf));
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

#[test]
fn a_tiny_gif_with_a_huge_screen_is_refused_before_decoding() {
    let gif = gif_with_screen(8192, 8192, 3);
    assert!(gif.len() < 128, "{} bytes", gif.len());
    refused_early("8192x8192 GIF, three 1-pixel frames", &gif, MIB);
    // One frame (a still) goes through the same check.
    refused_early("8192x8192 GIF, one 1-pixel frame", &gif_with_screen(8192, 8192, 1), MIB);
}

#[test]
fn a_small_png_declaring_8192_squared_is_refused_before_decoding() {
    let png = png_of(8192, 8192, png::ColorType::Rgba, png::BitDepth::Eight);
    assert!(png.len() < 400 * 1024, "{} bytes", png.len());
    refused_early("8192x8192 RGBA PNG", &png, 2 * MIB);
}

#[test]
fn decompression_bomb_pngs_are_refused_before_inflating() {
    // 16 bits a sample: 4096x4096 pixels are 128 MiB decoded, from about 150 KB.
    let deep = png_of(4096, 4096, png::ColorType::Rgba, png::BitDepth::Sixteen);
    refused_early("4096x4096 16-bit RGBA PNG", &deep, 2 * MIB);
    // An ICC profile that inflates to 200 MiB, on a 1x1 image.
    let icc = png_with_icc_bomb(200 * MIB);
    assert!(icc.len() < 400 * 1024, "{} bytes", icc.len());
    // The profile is not inflated beyond a few MiB; the image, without it, is fine.
    let (outcome, peak) = measured(&icc);
    assert!(
        matches!(outcome, Ok(_) | Err(roster_core::Error::Invalid { field: "file", .. })),
        "{outcome:?}"
    );
    assert!(peak <= 8 * MIB, "an ICC bomb held {} MiB", peak / MIB);
}

#[test]
fn a_huge_canvas_animated_webp_is_refused_before_decoding() {
    let webp = webp_animation(8192, 8192, 3);
    assert!(webp.len() < 256, "{} bytes", webp.len());
    refused_early("8192x8192 animated WebP, three 1-pixel frames", &webp, MIB);
    // Many frames on a moderate canvas: refused by the header's frame count.
    refused_early("301-frame animated WebP", &webp_animation(16, 16, 301), MIB);
    // A small canvas is fine.
    let (outcome, _) = measured(&webp_animation(64, 48, 3));
    let processed = outcome.unwrap();
    assert!(processed.animated);
    assert_eq!(processed.side, 48);
}

#[test]
fn a_jpeg_declaring_8192_squared_is_refused_before_decoding() {
    refused_early("JPEG declaring 8192x8192", &jpeg_declaring(8192, 8192), MIB);
}

#[test]
fn many_frames_on_a_large_canvas_are_refused_before_decoding() {
    // Within the memory budget a frame, but over the work limit in all.
    refused_early("1024x1024 GIF, 300 frames", &gif_with_screen(1024, 1024, 300), MIB);
}

/// Accepted images stay within the budget, whatever their format and shape.
#[test]
fn accepted_images_stay_within_the_budget() {
    let budget = usize::try_from(AVATAR_DECODE_BUDGET).unwrap();
    let encoded = |img: image::DynamicImage, format: image::ImageFormat| {
        let mut bytes = Vec::new();
        img.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
        bytes
    };
    let photo = |w, h| {
        image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
        }))
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("4000x3000 JPEG", encoded(photo(4000, 3000), image::ImageFormat::Jpeg)),
        (
            "4400x4400 RGBA PNG",
            png_of(4400, 4400, png::ColorType::Rgba, png::BitDepth::Eight),
        ),
        (
            "2500x2500 16-bit RGBA PNG",
            png_of(2500, 2500, png::ColorType::Rgba, png::BitDepth::Sixteen),
        ),
        (
            "3000x2500 lossless WebP",
            encoded(photo(3000, 2500), image::ImageFormat::WebP),
        ),
        ("2500x2500 GIF, 3 frames", gif_with_screen(2500, 2500, 3)),
        ("2000x2000 animated WebP, 3 frames", webp_animation(2000, 2000, 3)),
    ];
    for (name, bytes) in cases {
        let (outcome, peak) = measured(&bytes);
        let processed = outcome.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(processed.side, 256, "{name}");
        eprintln!("{name}: accepted, holding at most {} MiB", peak / MIB);
        assert!(
            peak <= budget,
            "{name} held {} MiB, over the budget of {} MiB",
            peak / MIB,
            budget / MIB
        );
    }
}

//! The avatar pipeline: any bytes are either refused with a client error or turn into a
//! square image of at most 256 pixels a side (a PNG, or a GIF when animated). Never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_core::service::{AVATAR_SIZE, process_avatar};

fuzz_target!(|data: &[u8]| {
    match process_avatar(data) {
        Ok(processed) if processed.animated => {
            assert!(processed.bytes.starts_with(b"GIF8"), "an animation is stored as GIF");
            assert!((1..=AVATAR_SIZE).contains(&processed.side));
        }
        Ok(processed) => {
            let png = processed.bytes;
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a still avatar is stored as PNG");
            let side = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
            let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
            assert_eq!(side, height, "avatars are square");
            assert!((1..=AVATAR_SIZE).contains(&side), "side {side}");
        }
        Err(roster_core::Error::Invalid { .. }) => {}
        Err(other) => panic!("an upload is refused as invalid, not as {other:?}"),
    }
});

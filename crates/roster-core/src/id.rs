//! Snowflake ids: 41 bits of milliseconds since 2024-01-01, 10 bits of node, 12 of sequence.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use time::OffsetDateTime;

/// Milliseconds of 2024-01-01T00:00:00Z since the Unix epoch.
pub const EPOCH_MS: i64 = 1_704_067_200_000;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl FromStr for $name {
            type Err = crate::Error;
            /// Parses the decimal form; anything else is an invalid id.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.parse::<i64>() {
                    Ok(v) if v > 0 && !s.starts_with('+') => Ok(Self(v)),
                    _ => Err(crate::Error::InvalidId),
                }
            }
        }
    };
}

id_type!(
    /// A user's id.
    UserId
);
id_type!(
    /// A session's id.
    SessionId
);
id_type!(
    /// An API key's id.
    ApiKeyId
);
id_type!(
    /// A group's id.
    GroupId
);
id_type!(
    /// A channel's id (personal notes, direct messages).
    ChannelId
);

/// The first 8 bytes of every UUID that renders a snowflake id (the last 8 are the id).
pub const UUID_MARKER: [u8; 8] = [0x72, 0x6f, 0x73, 0x74, 0x65, 0x72, 0x40, 0x01];

/// [`UUID_MARKER`] as the first three groups of a hyphenated UUID, and the hyphen after them.
const UUID_MARKER_TEXT: &str = "726f7374-6572-4001-";

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn push_hex(out: &mut String, byte: u8) {
    out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
    out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
}

/// Renders an id as a UUID (lower-case, hyphenated): the marker, then the id's 8 bytes.
/// Written digit by digit: list pages render one or two per user.
pub fn id_to_uuid(id: i64) -> String {
    let mut out = String::with_capacity(36);
    out.push_str(UUID_MARKER_TEXT);
    for (i, byte) in id.to_be_bytes().into_iter().enumerate() {
        if i == 2 {
            out.push('-');
        }
        push_hex(&mut out, byte);
    }
    out
}

/// Parses a UUID made by [`id_to_uuid`] (any case, hyphens optional); anything else, and a
/// UUID not carrying the marker, is an invalid id.
pub fn id_from_uuid(s: &str) -> crate::Result<i64> {
    let compact: String = s.chars().filter(|c| *c != '-').collect();
    if compact.len() != 32 || s.len() != 36 && s.len() != 32 {
        return Err(crate::Error::InvalidId);
    }
    let bytes = hex::decode(&compact).map_err(|_| crate::Error::InvalidId)?;
    if bytes[..8] != UUID_MARKER {
        return Err(crate::Error::InvalidId);
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[8..]);
    let id = i64::from_be_bytes(id);
    if id <= 0 {
        return Err(crate::Error::InvalidId);
    }
    Ok(id)
}

/// Hands out unique, time-ordered ids for one node.
#[derive(Debug)]
pub struct IdGenerator {
    node: i64,
    state: Mutex<(i64, i64)>,
}

impl IdGenerator {
    /// A generator for node `node` (0..1024; higher bits are dropped).
    pub fn new(node: u16) -> Self {
        Self {
            node: i64::from(node & 0x3ff),
            state: Mutex::new((0, 0)),
        }
    }

    /// The next id. Ids from one generator strictly increase.
    pub fn next_id(&self) -> i64 {
        let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64 - EPOCH_MS;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last_ms, seq) = *state;
        let (ms, seq) = if now_ms > last_ms {
            (now_ms, 0)
        } else if seq < 0xfff {
            (last_ms, seq + 1)
        } else {
            // Sequence exhausted within this millisecond: borrow the next one.
            (last_ms + 1, 0)
        };
        *state = (ms, seq);
        (ms << 22) | (self.node << 12) | seq
    }
}

/// The creation time encoded in a snowflake id.
pub fn timestamp_of(id: i64) -> OffsetDateTime {
    let ms = (id >> 22) + EPOCH_MS;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// LibreChat's id form: 24 hex digits (a MongoDB ObjectId), the zero-padded hex of the id.
impl UserId {
    /// The id as 24 lower-case hex digits.
    pub fn to_object_id(self) -> String {
        let mut out = String::with_capacity(24);
        out.push_str("00000000");
        for byte in self.0.to_be_bytes() {
            push_hex(&mut out, byte);
        }
        out
    }

    /// Parses 24 hex digits (any case) made by [`UserId::to_object_id`]; anything else is an
    /// invalid id.
    pub fn from_object_id(s: &str) -> crate::Result<Self> {
        if s.len() != 24 || !s.bytes().all(|b| b.is_ascii_hexdigit()) || !s.starts_with("00000000") {
            return Err(crate::Error::InvalidId);
        }
        match i64::from_str_radix(&s[8..], 16) {
            Ok(v) if v > 0 => Ok(UserId(v)),
            _ => Err(crate::Error::InvalidId),
        }
    }
}

#[cfg(test)]
mod object_id_tests {
    use super::UserId;

    #[test]
    fn object_ids_round_trip() {
        let id = UserId(123_456_789_012);
        let s = id.to_object_id();
        assert_eq!(s.len(), 24);
        assert_eq!(UserId::from_object_id(&s).unwrap(), id);
        assert_eq!(UserId::from_object_id(&s.to_uppercase()).unwrap(), id);
        assert!(UserId::from_object_id("65a1b2c3d4e5f60718293a4b").is_err());
        assert!(UserId::from_object_id("xyz").is_err());
        assert!(UserId::from_object_id("000000000000000000000000").is_err());
        assert!(UserId::from_object_id("0000000080000000000000000").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_carry_their_time() {
        let generator = IdGenerator::new(5);
        let mut last = 0;
        for _ in 0..10_000 {
            let id = generator.next_id();
            assert!(id > last);
            last = id;
        }
        let age = OffsetDateTime::now_utc() - timestamp_of(last);
        assert!(age.whole_seconds().abs() < 5);
        assert_eq!((last >> 12) & 0x3ff, 5);
    }

    #[test]
    fn uuids_round_trip_and_reject_others() {
        // Written digit by digit as the generic formatting wrote them.
        for id in [1, 123_456_789, 0x0123_4567_89ab_cdef, i64::MAX] {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&UUID_MARKER);
            bytes[8..].copy_from_slice(&id.to_be_bytes());
            let hex = hex::encode(bytes);
            let formatted = format!(
                "{}-{}-{}-{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..32]
            );
            assert_eq!(id_to_uuid(id), formatted);
            assert_eq!(UserId(id).to_object_id(), format!("{id:024x}"));
        }
        let uuid = id_to_uuid(123_456_789);
        assert_eq!(uuid.len(), 36);
        assert_eq!(id_from_uuid(&uuid).unwrap(), 123_456_789);
        assert_eq!(id_from_uuid(&uuid.to_uppercase()).unwrap(), 123_456_789);
        assert_eq!(id_from_uuid(&uuid.replace('-', "")).unwrap(), 123_456_789);
        assert!(id_from_uuid("3f1b2c4d-0000-4000-8000-000000000001").is_err());
        assert!(id_from_uuid("not-a-uuid").is_err());
        assert!(id_from_uuid(&id_to_uuid(-5)).is_err());
        assert!(id_from_uuid("").is_err());
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!("abc".parse::<UserId>().is_err());
        assert!("-5".parse::<UserId>().is_err());
        assert!("0".parse::<UserId>().is_err());
        assert!("+5".parse::<UserId>().is_err());
        assert!("99999999999999999999".parse::<UserId>().is_err());
        assert_eq!("42".parse::<UserId>().ok(), Some(UserId(42)));
    }
}

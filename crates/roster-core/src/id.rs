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
    fn parse_rejects_garbage() {
        assert!("abc".parse::<UserId>().is_err());
        assert!("-5".parse::<UserId>().is_err());
        assert!("0".parse::<UserId>().is_err());
        assert!("+5".parse::<UserId>().is_err());
        assert!("99999999999999999999".parse::<UserId>().is_err());
        assert_eq!("42".parse::<UserId>().ok(), Some(UserId(42)));
    }
}

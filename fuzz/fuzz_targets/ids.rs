//! Id parsing in every form: the decimal snowflake (native, Plexichat; every id type), the
//! UUID form (Open WebUI, Langflow) and the 24-hex ObjectId form (LibreChat). Whatever a
//! parser accepts is a positive id that renders back to the same id; each form round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_core::id::{id_from_uuid, id_to_uuid};
use roster_core::{ApiKeyId, GroupId, SessionId, UserId};

fn decimal<T: std::str::FromStr<Err = roster_core::Error> + std::fmt::Display>(s: &str) -> Option<T> {
    match s.parse::<T>() {
        Ok(id) => Some(id),
        Err(roster_core::Error::InvalidId) => None,
        Err(other) => panic!("a malformed id is InvalidId, not {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    // Any 8 bytes as an id: every form round-trips for positive ids, and none accepts the rest.
    if data.len() >= 8 {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&data[..8]);
        let n = i64::from_be_bytes(raw);
        let uuid = id_to_uuid(n);
        let object_id = UserId(n).to_object_id();
        if n > 0 {
            assert_eq!(id_from_uuid(&uuid).ok(), Some(n));
            assert_eq!(UserId::from_object_id(&object_id).ok(), Some(UserId(n)));
            assert_eq!(n.to_string().parse::<UserId>().ok(), Some(UserId(n)));
        } else {
            assert!(id_from_uuid(&uuid).is_err());
            assert!(UserId::from_object_id(&object_id).is_err());
            assert!(n.to_string().parse::<UserId>().is_err());
        }
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(id) = decimal::<UserId>(s) {
        assert!(id.0 > 0);
        assert_eq!(id.to_string().parse::<UserId>().ok(), Some(id));
        // Leading zeros aside, the decimal form is the canonical one.
        assert_eq!(s.trim_start_matches('0'), id.to_string());
    }
    let session = decimal::<SessionId>(s).map(|i| i.0);
    let key = decimal::<ApiKeyId>(s).map(|i| i.0);
    let group = decimal::<GroupId>(s).map(|i| i.0);
    let user = decimal::<UserId>(s).map(|i| i.0);
    assert!(
        session == user && key == user && group == user,
        "every id type parses alike"
    );
    match id_from_uuid(s) {
        Ok(id) => {
            assert!(id > 0);
            let canonical = id_to_uuid(id);
            let compact: String = s.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
            assert_eq!(canonical.replace('-', ""), compact);
        }
        Err(roster_core::Error::InvalidId) => {}
        Err(other) => panic!("a malformed UUID is InvalidId, not {other:?}"),
    }
    match UserId::from_object_id(s) {
        Ok(id) => {
            assert!(id.0 > 0);
            assert_eq!(id.to_object_id(), s.to_ascii_lowercase());
        }
        Err(roster_core::Error::InvalidId) => {}
        Err(other) => panic!("a malformed ObjectId is InvalidId, not {other:?}"),
    }
});

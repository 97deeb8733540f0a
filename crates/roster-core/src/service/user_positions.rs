//! Remembered positions of offset paging. A deep page (Open WebUI's `page`, Langflow's `skip`)
//! seeks the position of the user just before it by walking the sort index up to its offset:
//! half a million index entries for the middle page of a million users, on every request. The
//! positions found are remembered per listing (its search, filters and order), so the same page
//! asked again costs no walk, and a page after a remembered one walks only from there (the next
//! page walks one page).
//!
//! They are remembered as the counts of matching users are ([`super::user_counts`]), with a
//! longer lifetime: forgotten at once when this process commits any change, and after
//! [`POSITION_LIFETIME`] otherwise, so a change made elsewhere shifts the pages (as offset paging
//! does between two requests anyway) within that time. The users of a page are always read
//! from the database.

use super::Core;
use super::user_counts::CountKey;
use crate::error::Result;
use crate::id::UserId;
use crate::store::{SortKey, UserQuery, UserSort};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a listing's positions are remembered without a change of this process's.
pub const POSITION_LIFETIME: Duration = Duration::from_secs(5);
/// How many listings' positions are remembered (the oldest is forgotten past it).
const MAX_LISTINGS: usize = 16;
/// How many positions one listing remembers (past it, they are forgotten and found again).
const MAX_POSITIONS: usize = 1024;

type Position = (SortKey, UserId);

/// What a listing's positions depend on: its matches and their order.
#[derive(Debug, Clone, PartialEq)]
struct ListingKey {
    matches: CountKey,
    sort: UserSort,
    descending: bool,
}

#[derive(Debug)]
struct Positions {
    key: ListingKey,
    /// This process's commit count when they began to be remembered.
    generation: u64,
    since: Instant,
    /// Offset (from 0) to the position of the match there.
    known: BTreeMap<u64, Position>,
}

/// The remembered positions (see the module).
#[derive(Debug, Default)]
pub(super) struct PositionCache {
    listings: Mutex<Vec<Positions>>,
}

impl PositionCache {
    /// The remembered position nearest at or before `offset`, with its offset, if the
    /// listing's positions are still valid at `generation`.
    fn nearest(&self, key: &ListingKey, generation: u64, offset: u64, now: Instant) -> Option<(u64, Position)> {
        let listings = self.listings.lock().unwrap_or_else(|e| e.into_inner());
        let positions = listings.iter().find(|p| &p.key == key)?;
        if positions.generation != generation || now.saturating_duration_since(positions.since) >= POSITION_LIFETIME {
            return None;
        }
        positions
            .known
            .range(..=offset)
            .next_back()
            .map(|(at, position)| (*at, position.clone()))
    }

    /// Remembers the position at `offset`, found by a walk begun at commit count `generation`.
    fn remember(&self, key: ListingKey, generation: u64, offset: u64, position: Position, now: Instant) {
        let mut listings = self.listings.lock().unwrap_or_else(|e| e.into_inner());
        let index = match listings.iter().position(|p| p.key == key) {
            Some(index) => {
                let positions = &listings[index];
                let expired = now.saturating_duration_since(positions.since) >= POSITION_LIFETIME;
                if positions.generation > generation {
                    // Found before a change that the remembered ones already follow.
                    return;
                }
                if positions.generation < generation || expired {
                    listings.remove(index);
                    None
                } else {
                    Some(index)
                }
            }
            None => None,
        };
        let index = index.unwrap_or_else(|| {
            if listings.len() >= MAX_LISTINGS {
                listings.remove(0);
            }
            listings.push(Positions {
                key,
                generation,
                since: now,
                known: BTreeMap::new(),
            });
            listings.len() - 1
        });
        let known = &mut listings[index].known;
        if known.len() >= MAX_POSITIONS {
            known.clear();
        }
        known.insert(offset, position);
    }
}

impl Core {
    /// The position (sort key, id) of the match at `offset` (from 0) of `query`'s search and
    /// filters in its order, or None past the last: from the remembered one at or before it,
    /// walking the sort index only from there (see the module).
    pub(super) async fn user_position(&self, query: &UserQuery, offset: u64) -> Result<Option<Position>> {
        let matches = CountKey::of(query);
        if !matches.is_timeless() {
            return Ok(self.store.user_position(query, offset).await?);
        }
        let key = ListingKey {
            matches,
            sort: query.sort,
            descending: query.descending,
        };
        // Read before the walk, so a change committed while walking makes what it finds stale.
        let generation = self.changes.commits();
        let found = match self.user_positions.nearest(&key, generation, offset, Instant::now()) {
            Some((at, position)) if at == offset => return Ok(Some(position)),
            Some((at, position)) => {
                let rest = UserQuery {
                    after: Some(position),
                    ..query.clone()
                };
                self.store.user_position(&rest, offset - at - 1).await?
            }
            None => self.store.user_position(query, offset).await?,
        };
        if let Some(position) = &found {
            self.user_positions
                .remember(key, generation, offset, position.clone(), Instant::now());
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(search: &str) -> ListingKey {
        ListingKey {
            matches: CountKey::of(&UserQuery {
                search: Some(search.to_string()),
                ..UserQuery::default()
            }),
            sort: UserSort::CreatedAt,
            descending: false,
        }
    }

    fn at(n: i64) -> Position {
        (SortKey::Int(n), UserId(n))
    }

    #[test]
    fn the_nearest_position_at_or_before_an_offset() {
        let cache = PositionCache::default();
        let now = Instant::now();
        assert_eq!(cache.nearest(&key("a"), 1, 100, now), None);
        cache.remember(key("a"), 1, 100, at(100), now);
        cache.remember(key("a"), 1, 40, at(40), now);
        assert_eq!(cache.nearest(&key("a"), 1, 100, now), Some((100, at(100))));
        assert_eq!(cache.nearest(&key("a"), 1, 99, now), Some((40, at(40))));
        assert_eq!(cache.nearest(&key("a"), 1, 39, now), None);
        assert_eq!(cache.nearest(&key("b"), 1, 100, now), None);
    }

    #[test]
    fn positions_are_forgotten_at_a_commit_or_their_lifetime() {
        let cache = PositionCache::default();
        let now = Instant::now();
        cache.remember(key("a"), 1, 10, at(10), now);
        // A commit of this process since: nothing is valid, and what is found next starts over.
        assert_eq!(cache.nearest(&key("a"), 2, 10, now), None);
        cache.remember(key("a"), 2, 20, at(20), now);
        assert_eq!(cache.nearest(&key("a"), 2, 15, now), None);
        assert_eq!(cache.nearest(&key("a"), 2, 20, now), Some((20, at(20))));
        // A walk begun before that commit is not remembered.
        cache.remember(key("a"), 1, 30, at(30), now);
        assert_eq!(cache.nearest(&key("a"), 2, 30, now), Some((20, at(20))));
        // Past the lifetime: gone, and what is found then starts a new lifetime.
        let later = now + POSITION_LIFETIME;
        assert_eq!(cache.nearest(&key("a"), 2, 20, later), None);
        cache.remember(key("a"), 2, 50, at(50), later);
        assert_eq!(cache.nearest(&key("a"), 2, 60, later), Some((50, at(50))));
    }

    #[test]
    fn listings_and_positions_are_bounded() {
        let cache = PositionCache::default();
        let now = Instant::now();
        for i in 0..=MAX_LISTINGS {
            cache.remember(key(&format!("u{i}")), 1, 1, at(1), now);
        }
        assert_eq!(cache.nearest(&key("u0"), 1, 1, now), None);
        assert!(cache.nearest(&key("u1"), 1, 1, now).is_some());
        for offset in 0..=MAX_POSITIONS as u64 {
            cache.remember(key("u1"), 1, offset, at(offset as i64), now);
        }
        assert!(
            cache
                .listings
                .lock()
                .unwrap()
                .iter()
                .all(|p| p.known.len() <= MAX_POSITIONS)
        );
    }
}

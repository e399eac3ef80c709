//! The grant cache's storage, counting its entries for the
//! `source_auth_grant_cache_entries` gauge (feature `metrics`).
//!
//! The gauge is moved by each change rather than set to one cache's size, so
//! that several layers in one process add up: an entry kept counts one up
//! ([`keep`]), an entry evicted, replaced or dropped with its cache counts one
//! down. Without the feature the storage is quick_cache's own default, exactly.

use std::hash::Hash;
use std::ops::Deref;

use quick_cache::sync::{Cache, DefaultLifecycle, PlaceholderGuard};
use quick_cache::{DefaultHashBuilder, UnitWeighter};

use crate::events;

#[cfg(feature = "metrics")]
type Lifecycle<K, V> = counted::CountEvictions<K, V>;
#[cfg(not(feature = "metrics"))]
type Lifecycle<K, V> = DefaultLifecycle<K, V>;

type Storage<K, V> = Cache<K, V, UnitWeighter, DefaultHashBuilder, Lifecycle<K, V>>;

/// A quick_cache `Cache` whose entries leave the gauge when it is dropped.
pub(crate) struct Entries<K: Eq + Hash, V: Clone>(Storage<K, V>);

/// The right to fill a vacant or replaced entry, which others wait on.
pub(crate) type Vacant<'a, K, V> =
    PlaceholderGuard<'a, K, V, UnitWeighter, DefaultHashBuilder, Lifecycle<K, V>>;

impl<K: Eq + Hash, V: Clone> Entries<K, V> {
    /// An empty cache for about `capacity` entries, as `Cache::new` makes one.
    pub(crate) fn new(capacity: usize) -> Self {
        Self(Cache::with(
            capacity,
            capacity as u64,
            UnitWeighter,
            DefaultHashBuilder::default(),
            Lifecycle::default(),
        ))
    }
}

/// Every read and write goes to the cache itself; only dropping differs.
impl<K: Eq + Hash, V: Clone> Deref for Entries<K, V> {
    type Target = Storage<K, V>;

    fn deref(&self) -> &Storage<K, V> {
        &self.0
    }
}

/// The entries still cached leave the gauge with their cache.
#[cfg(feature = "metrics")]
impl<K: Eq + Hash, V: Clone> Drop for Entries<K, V> {
    fn drop(&mut self) {
        events::grant_entries_removed(self.0.len());
    }
}

/// Fills `vacant` with `value`, counting the entry if the cache kept it. It does
/// not when the placeholder was removed meanwhile; the caller's value is still
/// good for its own request.
pub(crate) fn keep<K: Eq + Hash, V: Clone>(vacant: Vacant<'_, K, V>, value: V) {
    if vacant.insert(value).is_ok() {
        events::grant_entry_added();
    }
}

/// An entry made a placeholder to be replaced: it no longer counts until
/// [`keep`] fills it again.
pub(crate) fn replacing() {
    events::grant_entries_removed(1);
}

/// Evictions counted down; only with `metrics`, so that without it the cache is
/// exactly quick_cache's default.
#[cfg(feature = "metrics")]
mod counted {
    use std::marker::PhantomData;

    use quick_cache::Lifecycle;

    use super::DefaultLifecycle;
    use crate::events;

    /// quick_cache's default lifecycle, also counting what it evicts.
    pub(crate) struct CountEvictions<K, V>(PhantomData<DefaultLifecycle<K, V>>);

    impl<K, V> Default for CountEvictions<K, V> {
        fn default() -> Self {
            Self(PhantomData)
        }
    }

    impl<K, V> Clone for CountEvictions<K, V> {
        fn clone(&self) -> Self {
            Self::default()
        }
    }

    impl<K, V> Lifecycle<K, V> for CountEvictions<K, V> {
        type RequestState = Evicted<K, V>;

        fn on_evict(&self, evicted: &mut Evicted<K, V>, key: K, value: V) {
            evicted.count += 1;
            DefaultLifecycle::default().on_evict(&mut evicted.kept, key, value);
        }
    }

    /// What one cache operation evicted, reported when it is dropped: after the
    /// cache has released its shard's lock, so a recorder never runs under it.
    pub(crate) struct Evicted<K, V> {
        count: usize,
        /// The default lifecycle's few evicted entries, dropped outside the lock too.
        kept: <DefaultLifecycle<K, V> as Lifecycle<K, V>>::RequestState,
    }

    impl<K, V> Default for Evicted<K, V> {
        fn default() -> Self {
            Self {
                count: 0,
                kept: Default::default(),
            }
        }
    }

    impl<K, V> Drop for Evicted<K, V> {
        fn drop(&mut self) {
            if self.count > 0 {
                events::grant_entries_removed(self.count);
            }
        }
    }
}

//! An API key that the app can replace while it runs.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};
use http::HeaderValue;

use super::ApiKey;
use crate::error::{Error, ErrorKind, Result};
use crate::events;
use crate::member::SigningKey;

/// An API key that can be replaced while the app runs, without a restart: the
/// handle an app keeps and calls when its secret store hands it a new key.
///
/// Every layer, service and [`TokenSigner`](crate::TokenSigner) built from it
/// shares it. From [`rotate`](Self::rotate) on, every request signs with the new
/// key and sends it as its default credential, and tokens cached under the old key
/// are not sent again (the next request for each mints anew); requests already in
/// flight finish with what they started with. Reading the current key takes no
/// lock. Clones share one key.
///
/// The procedure end to end: add the new key at Source; call `rotate` with it;
/// wait out the longest lifetime of a token signed with the old key (5 minutes
/// by default, at most 24 hours, including tokens handed to browsers); then revoke
/// the old key at Source. The services that verify tokens signed with these keys
/// ([`TokenVerifier::set_keys`](crate::TokenVerifier::set_keys)) take the new
/// key before the first call and drop the old one after the wait.
///
/// ```
/// use source_auth::{ApiKey, RotatingKey, SourceAuthLayer, TokenSigner};
///
/// let old = ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?;
/// let keys = RotatingKey::new(old);
/// let layer = SourceAuthLayer::new(keys.clone());
/// let signer = TokenSigner::rotating(keys.clone());
///
/// // Later, when the secret store has a new key:
/// let new = ApiKey::new("key_1FjqtVw3zSGyzoIti", "sk_test_5fD40IrkuMXkzEbsku2aeq8ed11111111")?;
/// keys.rotate(new)?;
/// assert_eq!(keys.key_id(), "key_1FjqtVw3zSGyzoIti");
/// assert_eq!(&*signer.key_id(), "key_1FjqtVw3zSGyzoIti");
/// # drop(layer);
/// # Ok::<(), source_auth::Error>(())
/// ```
#[derive(Clone)]
pub struct RotatingKey {
    shared: Arc<Rotation>,
}

struct Rotation {
    current: ArcSwap<CurrentKey>,
    /// The current key's generation, published after it: what a cached token's
    /// key is compared with, a plain load on the hot path. Written only under
    /// `rotating`, from the current key's own, so it counts nothing separately.
    generation: AtomicU64,
    /// Held for a whole rotation, so that rotations at once each take the next
    /// generation: two keys never share one.
    rotating: Mutex<()>,
}

/// A key and the headers that send it, made once per rotation.
pub(crate) struct CurrentKey {
    pub(crate) key: ApiKey,
    pub(crate) signing: SigningKey,
    pub(crate) bearer: HeaderValue,
    pub(crate) basic: HeaderValue,
    /// The generation this key was installed as.
    pub(crate) generation: u64,
}

impl CurrentKey {
    fn new(key: ApiKey, generation: u64) -> Self {
        Self {
            signing: SigningKey::new(&key),
            bearer: key.authorization(false),
            basic: key.authorization(true),
            key,
            generation,
        }
    }
}

impl RotatingKey {
    /// A handle holding `key` until the first rotation.
    pub fn new(key: ApiKey) -> Self {
        Self {
            shared: Arc::new(Rotation {
                current: ArcSwap::from_pointee(CurrentKey::new(key, 0)),
                generation: AtomicU64::new(0),
                rotating: Mutex::new(()),
            }),
        }
    }

    /// Replaces the key for every layer, service and signer built from this
    /// handle.
    ///
    /// Refuses a key of the other mode ([`ErrorKind::ModeMismatch`]): a live app
    /// rotating to a test key would send test tokens to live data, and a test
    /// app rotating to a live key would reach live data. Rotations at once are
    /// applied one after the other, each key under a generation of its own.
    ///
    /// ```
    /// use source_auth::{ApiKey, ErrorKind, RotatingKey};
    ///
    /// let keys = RotatingKey::new(ApiKey::new("key_0EipsUv2yRFxynHshisN", "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000")?);
    /// let live = ApiKey::new("key_1FjqtVw3zSGyzoIti", "sk_live_5fD40IrkuMXkzEbsku2aeq8ed11111111")?;
    /// assert_eq!(keys.rotate(live).unwrap_err().kind(), ErrorKind::ModeMismatch);
    /// assert_eq!(keys.key_id(), "key_0EipsUv2yRFxynHshisN");
    /// # Ok::<(), source_auth::Error>(())
    /// ```
    pub fn rotate(&self, key: ApiKey) -> Result<()> {
        let _rotating = self
            .shared
            .rotating
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.current();
        if key.mode() != current.key.mode() {
            return Err(Error::new(
                ErrorKind::ModeMismatch,
                format!(
                    "RotatingKey::rotate was given a {:?} key for a handle holding a {:?} key; \
                     rotate to a key of the same mode, or build a new handle",
                    key.mode(),
                    current.key.mode()
                ),
            ));
        }
        let key_id = key.id().to_owned();
        // The key first, then the generation: a minter that reads the generation
        // first and the key second never labels an old key's token as current.
        let generation = current.generation + 1;
        self.shared
            .current
            .store(Arc::new(CurrentKey::new(key, generation)));
        self.shared.generation.store(generation, Ordering::SeqCst);
        events::key_rotated(&key_id);
        Ok(())
    }

    /// The current key's id.
    pub fn key_id(&self) -> String {
        self.current().key.id().to_owned()
    }

    /// The current key, with the generation it was installed as.
    #[inline]
    pub(crate) fn current(&self) -> Guard<Arc<CurrentKey>> {
        self.shared.current.load()
    }

    /// Which key is current, as a number that only grows.
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for RotatingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current();
        f.debug_struct("RotatingKey")
            .field("key", &current.key)
            .field("generation", &current.generation)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc00000000";

    #[test]
    fn rotation_replaces_the_key_and_its_headers_for_every_clone() {
        let keys = RotatingKey::new(ApiKey::new("key_old", SECRET).unwrap());
        let clone = keys.clone();
        let before = keys.current().bearer.clone();
        let new_secret = "sk_test_5fD40IrkuMXkzEbsku2aeq8ed11111111";
        keys.rotate(ApiKey::new("key_new", new_secret).unwrap())
            .unwrap();
        assert_eq!(clone.key_id(), "key_new");
        assert_eq!(clone.generation(), 1);
        let current = clone.current();
        assert_eq!(current.generation, 1);
        assert_ne!(current.bearer, before);
        assert_eq!(current.bearer, format!("Bearer {new_secret}").as_str());
        assert!(current.basic.as_bytes().starts_with(b"Basic "));
        assert!(current.bearer.is_sensitive() && current.basic.is_sensitive());
        let debug = format!("{keys:?}");
        assert!(
            debug.contains("key_new") && !debug.contains(new_secret),
            "{debug}"
        );
    }

    /// Rotations at once each take a generation of their own, and the one
    /// published is the current key's: on the code before this fix (`load + 1`,
    /// then two stores) two threads rotating in a tight loop lost generations in
    /// every run of this test.
    #[test]
    fn rotations_at_once_never_share_a_generation() {
        const EACH: u64 = 20_000;
        let keys = RotatingKey::new(ApiKey::new("key_old", SECRET).unwrap());
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            for thread in 0..2 {
                let (keys, start) = (&keys, &start);
                scope.spawn(move || {
                    let key = ApiKey::new(format!("key_thread{thread}"), SECRET).unwrap();
                    start.wait();
                    for _ in 0..EACH {
                        keys.rotate(key.clone()).unwrap();
                    }
                });
            }
        });
        assert_eq!(keys.generation(), 2 * EACH);
        assert_eq!(keys.current().generation, 2 * EACH);
    }

    /// A key of the other mode is refused, and the handle keeps its key.
    #[test]
    fn a_key_of_the_other_mode_is_refused() {
        let keys = RotatingKey::new(ApiKey::new("key_old", SECRET).unwrap());
        let live = ApiKey::new("key_live", "sk_live_5fD40IrkuMXkzEbsku2aeq8ed11111111").unwrap();
        let error = keys.rotate(live).unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::ModeMismatch);
        assert!(error.to_string().contains("Live key"), "{error}");
        assert!(!error.to_string().contains("sk_live"), "{error}");
        assert_eq!(keys.key_id(), "key_old");
        assert_eq!(keys.generation(), 0);
    }
}

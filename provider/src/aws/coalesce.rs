//! Reads that several parts of one refresh make alike are sent once while one is in flight: the three or four
//! rules of a stack each judge their permission against the same function's resource policy, and each finds
//! itself in the same listing of the stack's rules. The parts are read concurrently, so they would otherwise
//! ask AWS the same question at the same moment. A read asked after the one in flight has ended is sent anew:
//! no answer is older than a read started at the same moment would be, so a write followed by a read (as
//! converge does) always sees the write.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Mutex;

use futures_util::future::{BoxFuture, FutureExt, Shared};

use super::error::Result;

type InFlight<V> = Shared<BoxFuture<'static, Result<V>>>;

pub struct Coalesced<V: Clone> {
    in_flight: Mutex<HashMap<String, InFlight<V>>>,
}

impl<V: Clone> Default for Coalesced<V> {
    fn default() -> Self {
        Coalesced {
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> fmt::Debug for Coalesced<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Coalesced")
    }
}

impl<V: Clone + Send + Sync + 'static> Coalesced<V> {
    /// The answer of the read of `key` in flight, or of `read`, started now when none is.
    pub async fn read<Fut>(&self, key: &str, read: impl FnOnce() -> Fut) -> Result<V>
    where
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let shared = self
            .entries()
            .entry(key.to_string())
            .or_insert_with(|| read().boxed().shared())
            .clone();
        // Ended or abandoned (Terraform stopped the call), the read leaves the map: a later one is sent anew.
        let _leave = Leave {
            map: self,
            key,
            shared: shared.clone(),
        };
        shared.await
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, InFlight<V>>> {
        // A panic cannot leave the map half-updated (each use is one insert or remove).
        self.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Leave<'a, V: Clone + Send + Sync + 'static> {
    map: &'a Coalesced<V>,
    key: &'a str,
    shared: InFlight<V>,
}

impl<V: Clone + Send + Sync + 'static> Drop for Leave<'_, V> {
    fn drop(&mut self) {
        let mut entries = self.map.entries();
        if entries.get(self.key).is_some_and(|f| f.ptr_eq(&self.shared)) {
            entries.remove(self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_reads_share_one_request_and_a_later_read_is_sent_anew() {
        let reads: Coalesced<usize> = Coalesced::default();
        let sent = Arc::new(AtomicUsize::new(0));
        let read = || {
            let sent = sent.clone();
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(sent.fetch_add(1, Ordering::SeqCst) + 1)
            }
        };
        let (a, b, c) = tokio::join!(reads.read("k", read), reads.read("k", read), reads.read("other", read));
        assert_eq!(sent.load(Ordering::SeqCst), 2, "one request per key in flight");
        assert_eq!(a, b);
        assert_ne!(a, c);
        let later = reads.read("k", read).await.unwrap();
        assert_eq!(later, 3, "a read after the first ended is a request of its own");
        assert!(reads.entries().is_empty());
    }
}

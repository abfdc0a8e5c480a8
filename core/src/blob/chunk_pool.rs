//! A process-wide pool of buffers for blob chunks in memory (a chunk read
//! for a peer, a chunk received from one until it is appended), bounded in
//! bytes ([`CHUNK_POOL_BYTES`]): a transfer of many chunks reuses the same
//! pages instead of allocating, and faulting in, fresh ones per chunk.

use std::sync::Mutex;

use crate::tuning::{CHUNK_POOL_BYTES, CHUNK_POOL_MIN_BUFFER_BYTES};

static POOL: Mutex<Pool> = Mutex::new(Pool::new(CHUNK_POOL_BYTES));

/// An empty buffer that holds at least `capacity` bytes, from the pool
/// when it has one.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    let mut buffer = lock().take().unwrap_or_default();
    buffer.clear();
    buffer.reserve_exact(capacity);
    buffer
}

/// Keeps `buffer` for a later [`take`], if the pool has room for it.
pub(crate) fn give_back(buffer: Vec<u8>) {
    lock().give_back(buffer);
}

fn lock() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Buffers kept for reuse, their capacities adding up to at most `limit`
/// bytes; one given back past that, or smaller than
/// [`CHUNK_POOL_MIN_BUFFER_BYTES`], is freed.
struct Pool {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
    limit: usize,
}

impl Pool {
    const fn new(limit: usize) -> Pool {
        Pool {
            buffers: Vec::new(),
            bytes: 0,
            limit,
        }
    }

    fn take(&mut self) -> Option<Vec<u8>> {
        let buffer = self.buffers.pop()?;
        self.bytes -= buffer.capacity();
        Some(buffer)
    }

    fn give_back(&mut self, buffer: Vec<u8>) {
        let size = buffer.capacity();
        if size < CHUNK_POOL_MIN_BUFFER_BYTES || self.bytes.saturating_add(size) > self.limit {
            return;
        }
        self.bytes += size;
        self.buffers.push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_keeps_at_most_its_bytes_and_no_small_buffers() {
        let size = CHUNK_POOL_MIN_BUFFER_BYTES;
        let mut pool = Pool::new(3 * size);
        for _ in 0..10 {
            pool.give_back(Vec::with_capacity(size));
            assert!(pool.bytes <= 3 * size, "{} bytes kept", pool.bytes);
        }
        assert_eq!(pool.buffers.len(), 3);
        // Taken buffers leave the count.
        assert!(pool.take().is_some());
        assert_eq!(pool.bytes, 2 * size);
        // A small buffer is not kept: many would be many entries.
        pool.give_back(Vec::with_capacity(size - 1));
        assert_eq!(pool.buffers.len(), 2);
    }

    #[test]
    fn a_taken_buffer_is_empty_and_large_enough() {
        give_back(vec![7; CHUNK_POOL_MIN_BUFFER_BYTES]);
        let buffer = take(2 * CHUNK_POOL_MIN_BUFFER_BYTES);
        assert!(buffer.is_empty());
        assert!(buffer.capacity() >= 2 * CHUNK_POOL_MIN_BUFFER_BYTES);
    }
}

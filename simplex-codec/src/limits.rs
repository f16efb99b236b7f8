//! The protocol limits, in one place: transport block sizes, the XFTP chunk sizes relays
//! accept and the file size limits of the reference agent.

/// Bytes of every XFTP transport block (request and response heads).
pub const XFTP_BLOCK_SIZE: usize = 16384;
/// Bytes of every SMP transport block.
pub const SMP_BLOCK_SIZE: usize = 16384;

/// 64 KiB, the smallest chunk an XFTP relay accepts.
pub const CHUNK_SIZE_64K: u32 = 64 * 1024;
/// 256 KiB.
pub const CHUNK_SIZE_256K: u32 = 256 * 1024;
/// 1 MiB.
pub const CHUNK_SIZE_1M: u32 = 1024 * 1024;
/// 4 MiB, the largest chunk an XFTP relay accepts.
pub const CHUNK_SIZE_4M: u32 = 4 * 1024 * 1024;
/// Every chunk size relays accept, smallest first.
pub const ALLOWED_CHUNK_SIZES: [u32; 4] = [
    CHUNK_SIZE_64K,
    CHUNK_SIZE_256K,
    CHUNK_SIZE_1M,
    CHUNK_SIZE_4M,
];
/// The largest chunk: buffers never need to be bigger.
pub const MAX_CHUNK_SIZE: u32 = CHUNK_SIZE_4M;

/// Default largest file a client accepts (the reference CLI's soft limit).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 1 << 30;
/// The reference agent's hard limit; no configuration may exceed it.
pub const HARD_MAX_FILE_SIZE: u64 = 5 << 30;

/// Whether a relay accepts chunks of `size` bytes.
pub fn is_allowed_chunk_size(size: u32) -> bool {
    ALLOWED_CHUNK_SIZES.contains(&size)
}

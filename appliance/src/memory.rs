//! Memory given back. GStreamer's threads allocate through glibc's malloc,
//! which gives each busy thread an arena of its own (up to eight per core)
//! and keeps what a patient's pipeline freed for later, so the daemon's
//! resident memory grew with every call of a box's day. Two arenas are
//! enough for a pipeline's few busy threads, and each patient's pipeline,
//! once stopped, is handed back to the kernel. Measured in the README.

#![allow(unsafe_code)]

/// How many malloc arenas the daemon's threads share.
const ARENAS: i32 = 2;

/// Limits malloc's arenas; before any thread is started, so that every
/// thread shares them.
pub fn limit_arenas() {
    // SAFETY: mallopt only sets a malloc parameter; called once, at start.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Gives back to the kernel what malloc holds free: after a patient's
/// pipeline stopped, which freed megabytes at once.
pub fn give_back() {
    // SAFETY: malloc_trim only releases free memory; any thread may call it.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

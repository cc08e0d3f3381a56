//! Arrays whose all-zero bytes are valid values: the memory of the arena's chunks.
//!
//! On `std`, an array comes from `alloc_zeroed`, or on Linux, from 4 MiB on, straight from
//! the kernel: fresh anonymous memory is zero without a memset, and 2 MiB alignment lets the
//! kernel back it with transparent huge pages (advised with `madvise`), which cuts page
//! faults when the arena grows and TLB misses on random lookups. Under loom, atomics cannot
//! live in raw zeroed memory, so an array is a boxed slice built element by element with
//! the `zero` constructor instead.

/// Bytes an array of `n` `S`s takes.
pub(crate) fn array_bytes<S>(n: usize) -> usize {
    imp::array_bytes::<S>(n)
}

/// A new array of `n` `S`s, each equal to `zero()`. `None` if its size overflows `isize`.
///
/// # Safety
/// An `S` of all-zero bytes must be a valid value equal to `zero()`.
pub(crate) unsafe fn new_zeroed<S>(n: usize, zero: impl Fn() -> S) -> Option<*mut S> {
    // SAFETY: the caller's contract.
    unsafe { imp::new_zeroed(n, zero) }
}

/// Frees an array made by [`new_zeroed`], without dropping its elements.
///
/// # Safety
/// `base` came from `new_zeroed::<S>(n, _)` and is not used afterwards.
pub(crate) unsafe fn free<S>(base: *mut S, n: usize) {
    // SAFETY: the caller's contract.
    unsafe { imp::free(base, n) }
}

#[cfg(not(loom))]
mod imp {
    use std::alloc::Layout;

    fn layout<S>(n: usize) -> Option<Layout> {
        Layout::array::<S>(n).ok()
    }

    pub(super) fn array_bytes<S>(n: usize) -> usize {
        layout::<S>(n).map_or(0, |l| l.size())
    }

    /// # Safety
    /// As for [`super::new_zeroed`].
    pub(super) unsafe fn new_zeroed<S>(n: usize, _zero: impl Fn() -> S) -> Option<*mut S> {
        let layout = layout::<S>(n)?;
        #[cfg(all(target_os = "linux", not(miri)))]
        if huge::wanted(&layout) {
            return Some(huge::map(layout).cast());
        }
        // SAFETY: the layout has non-zero size (the arena's slots have 8 bytes of metadata
        // at least). All-zero bytes are valid `S`s (the caller's contract).
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        if base.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Some(base.cast())
    }

    /// # Safety
    /// As for [`super::free`].
    pub(super) unsafe fn free<S>(base: *mut S, n: usize) {
        let layout = layout::<S>(n).expect("allocated with this layout");
        #[cfg(all(target_os = "linux", not(miri)))]
        if huge::wanted(&layout) {
            // SAFETY: mapped by `huge::map` with this layout (caller's contract).
            unsafe { huge::unmap(base.cast(), layout) };
            return;
        }
        // SAFETY: allocated by `alloc_zeroed` with this layout (caller's contract).
        unsafe { std::alloc::dealloc(base.cast(), layout) };
    }

    /// Large arrays straight from the kernel: zeroed, 2 MiB aligned, advised as huge pages.
    #[cfg(all(target_os = "linux", not(miri)))]
    mod huge {
        use std::alloc::Layout;
        use std::ptr;

        const THRESHOLD: usize = 4 << 20;
        const ALIGN: usize = 2 << 20;

        pub(super) fn wanted(layout: &Layout) -> bool {
            layout.size() >= THRESHOLD && layout.align() <= ALIGN
        }

        fn page_rounded(size: usize) -> usize {
            // 4 KiB divides every page size Linux uses for anonymous memory here, and
            // `ALIGN`.
            (size + 4095) & !4095
        }

        pub(super) fn map(layout: Layout) -> *mut u8 {
            let size = page_rounded(layout.size());
            let len = size + ALIGN;
            // SAFETY: an anonymous private mapping; no existing memory is affected.
            let p = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                std::alloc::handle_alloc_error(layout);
            }
            let start = p as usize;
            let aligned = (start + ALIGN - 1) & !(ALIGN - 1);
            // SAFETY: both ranges lie inside the mapping just made, are page aligned, and are
            // not the part we keep. Unmapping them is best-effort; a failure only wastes
            // address space.
            unsafe {
                if aligned > start {
                    libc::munmap(p, aligned - start);
                }
                let tail = start + len - (aligned + size);
                if tail > 0 {
                    libc::munmap((aligned + size) as *mut libc::c_void, tail);
                }
                // Advisory only.
                libc::madvise(aligned as *mut libc::c_void, size, libc::MADV_HUGEPAGE);
            }
            aligned as *mut u8
        }

        /// # Safety
        /// `base` came from `map(layout)` and is not used afterwards.
        pub(super) unsafe fn unmap(base: *mut u8, layout: Layout) {
            // SAFETY: exactly the range `map` kept (caller's contract).
            unsafe { libc::munmap(base.cast(), page_rounded(layout.size())) };
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(super) fn array_bytes<S>(n: usize) -> usize {
        n * core::mem::size_of::<S>()
    }

    /// # Safety
    /// None needed under loom: every element is built by `zero`.
    pub(super) unsafe fn new_zeroed<S>(n: usize, zero: impl Fn() -> S) -> Option<*mut S> {
        let array: Box<[S]> = (0..n).map(|_| zero()).collect();
        Some(Box::into_raw(array).cast())
    }

    /// # Safety
    /// As for [`super::free`].
    pub(super) unsafe fn free<S>(base: *mut S, n: usize) {
        let array = core::ptr::slice_from_raw_parts_mut(base, n);
        // SAFETY: made by `Box::into_raw` in `new_zeroed` with this length (caller's
        // contract).
        drop(unsafe { Box::from_raw(array) });
    }
}

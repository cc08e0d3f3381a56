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

/// Why [`try_new_zeroed`] made no array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoMemory {
    /// Its size overflows `isize`: no memory can back it, now or later.
    TooLarge,
    /// The allocator (or the kernel) refused this layout.
    Failed(std::alloc::Layout),
}

/// A new array of `n` `S`s, each equal to `zero()`, or why not: its size overflows
/// `isize`, or the allocation failed (reported, not aborted, so that
/// [`Arena::try_insert`](crate::Arena::try_insert) can give the value back).
///
/// # Safety
/// An `S` of all-zero bytes must be a valid value equal to `zero()`.
pub(crate) unsafe fn try_new_zeroed<S>(n: usize, zero: impl Fn() -> S) -> Result<*mut S, NoMemory> {
    // SAFETY: the caller's contract.
    unsafe { imp::new_zeroed(n, zero) }
}

/// Frees an array made by [`try_new_zeroed`], without dropping its elements.
///
/// # Safety
/// `base` came from `new_zeroed::<S>(n, _)` and is not used afterwards.
pub(crate) unsafe fn free<S>(base: *mut S, n: usize) {
    // SAFETY: the caller's contract.
    unsafe { imp::free(base, n) }
}

/// The unit in which memory goes back to the operating system.
pub(crate) const PAGE: usize = 4096;

/// Whether [`release`] really gives pages back (Linux, not under miri or loom). Elsewhere
/// the caller resets the memory it meant to give back itself, so that it reads as released
/// memory does (zeros), and the protocols around it are exercised the same way.
pub(crate) const RELEASES_PAGES: bool = cfg!(all(target_os = "linux", not(miri), not(loom)));

/// Gives the pages of `[start, start + len)` (page aligned) back to the operating system:
/// they read as zero when touched again. Returns how many of their bytes were resident.
/// Does nothing and returns 0 unless [`RELEASES_PAGES`].
///
/// # Safety
/// The range lies inside one array from [`try_new_zeroed`] whose elements are valid as all-zero
/// bytes, and nobody reads or writes those bytes non-atomically meanwhile (atomic loads of
/// them see either their old value or zero).
pub(crate) unsafe fn release(start: *mut u8, len: usize) -> usize {
    debug_assert!((start as usize).is_multiple_of(PAGE) && len.is_multiple_of(PAGE));
    #[cfg(all(target_os = "linux", not(miri), not(loom)))]
    {
        let resident = pages::resident(start, len);
        // SAFETY: the range is page aligned and inside our own allocation (the caller's
        // contract); MADV_DONTNEED on private anonymous (or heap) memory only makes those
        // pages read as zero, which the caller's contract allows.
        unsafe { libc::madvise(start.cast(), len, libc::MADV_DONTNEED) };
        resident
    }
    #[cfg(not(all(target_os = "linux", not(miri), not(loom))))]
    {
        let _ = (start, len);
        0
    }
}

/// Bytes of `[start, start + len)` that are resident (backed by physical memory), or `None`
/// unless [`RELEASES_PAGES`] (then nobody knows).
pub(crate) fn resident(start: *const u8, len: usize) -> Option<usize> {
    #[cfg(all(target_os = "linux", not(miri), not(loom)))]
    {
        let first = start as usize & !(PAGE - 1);
        let end = start as usize + len;
        let last = (end + PAGE - 1) & !(PAGE - 1);
        // Counts whole pages, then takes off the parts of the end pages outside the range.
        let mut bytes = pages::resident(first as *mut u8, last - first);
        if bytes == 0 {
            return Some(0);
        }
        let head = start as usize - first;
        if head > 0 && pages::resident(first as *mut u8, PAGE) > 0 {
            bytes -= head;
        }
        let tail = last - end;
        if tail > 0 && pages::resident((last - PAGE) as *mut u8, PAGE) > 0 {
            bytes = bytes.saturating_sub(tail);
        }
        Some(bytes.min(len))
    }
    #[cfg(not(all(target_os = "linux", not(miri), not(loom))))]
    {
        let _ = (start, len);
        None
    }
}

#[cfg(all(target_os = "linux", not(miri), not(loom)))]
mod pages {
    use super::PAGE;
    use std::os::unix::fs::FileExt;

    /// Resident bytes of the page-aligned range `[start, start + len)`.
    ///
    /// A page counts when it is present and mapped only here (`/proc/self/pagemap`, flags
    /// "present" and "exclusively mapped"): a page given back and then only *read* again
    /// (a stale key's lookup, an iteration, the sweep) maps the kernel's shared zero page,
    /// which costs no memory, and `mincore` would count it. (The flag exists since Linux
    /// 4.2.) Where pagemap cannot be read, `mincore` counts.
    pub(super) fn resident(start: *mut u8, len: usize) -> usize {
        pagemap(start, len).unwrap_or_else(|| by_mincore(start, len))
    }

    fn pagemap(start: *mut u8, len: usize) -> Option<usize> {
        const PRESENT: u64 = 1 << 63;
        const EXCLUSIVE: u64 = 1 << 56;
        // Opened once per process: `read_exact_at` is `pread`, which shares no offset, so
        // any number of threads may use the one handle.
        static PAGEMAP: std::sync::OnceLock<Option<std::fs::File>> = std::sync::OnceLock::new();
        let file = PAGEMAP
            .get_or_init(|| std::fs::File::open("/proc/self/pagemap").ok())
            .as_ref()?;
        let first = start as usize / PAGE;
        let pages = len / PAGE;
        let mut entries = [0u8; 8 * 512];
        let mut resident = 0;
        let mut at = 0;
        while at < pages {
            let n = (pages - at).min(512);
            file.read_exact_at(&mut entries[..8 * n], ((first + at) * 8) as u64)
                .ok()?;
            for entry in entries[..8 * n].chunks_exact(8) {
                let e = u64::from_ne_bytes(entry.try_into().ok()?);
                if e & (PRESENT | EXCLUSIVE) == PRESENT | EXCLUSIVE {
                    resident += PAGE;
                }
            }
            at += n;
        }
        Some(resident)
    }

    fn by_mincore(start: *mut u8, len: usize) -> usize {
        let mut resident = 0;
        let mut vec = [0u8; 512];
        let mut at = start as usize;
        let end = at + len;
        while at < end {
            let n = ((end - at) / PAGE).min(vec.len());
            // SAFETY: `vec` has room for `n` entries, one per page of the range; mincore
            // only reads the page tables. A failure (ENOMEM for an unmapped page cannot
            // happen inside our allocation) counts as nothing resident.
            let r = unsafe { libc::mincore(at as *mut libc::c_void, n * PAGE, vec.as_mut_ptr()) };
            if r == 0 {
                resident += vec[..n].iter().filter(|&&b| b & 1 != 0).count() * PAGE;
            }
            at += n * PAGE;
        }
        resident
    }
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
    /// As for [`super::try_new_zeroed`].
    pub(super) unsafe fn new_zeroed<S>(
        n: usize,
        _zero: impl Fn() -> S,
    ) -> Result<*mut S, super::NoMemory> {
        let layout = layout::<S>(n).ok_or(super::NoMemory::TooLarge)?;
        #[cfg(all(target_os = "linux", not(miri)))]
        if huge::wanted(&layout) {
            return huge::map(layout)
                .map(<*mut u8>::cast)
                .ok_or(super::NoMemory::Failed(layout));
        }
        // SAFETY: the layout has non-zero size (the arena's slots have 8 bytes of metadata
        // at least). All-zero bytes are valid `S`s (the caller's contract).
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        if base.is_null() {
            return Err(super::NoMemory::Failed(layout));
        }
        Ok(base.cast())
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
        // The allocator may keep a freed block in its heap, resident, for later requests
        // (glibc does for blocks below its mmap threshold, which it raises after every
        // large free): give the pages wholly inside the block to the kernel first, so the
        // memory leaves the process either way. Not after the free: the allocator writes its
        // own bookkeeping into the block then.
        #[cfg(all(target_os = "linux", not(miri)))]
        {
            let start = (base as usize).next_multiple_of(super::PAGE);
            let end = (base as usize + layout.size()) & !(super::PAGE - 1);
            if end > start {
                // SAFETY: page-aligned pages inside our block, which nobody uses any more
                // (caller's contract); they only read as zero if touched again.
                unsafe { super::release(start as *mut u8, end - start) };
            }
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

        /// `None` if the kernel refuses the mapping.
        pub(super) fn map(layout: Layout) -> Option<*mut u8> {
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
                return None;
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
            Some(aligned as *mut u8)
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
    pub(super) unsafe fn new_zeroed<S>(
        n: usize,
        zero: impl Fn() -> S,
    ) -> Result<*mut S, super::NoMemory> {
        let array: Box<[S]> = (0..n).map(|_| zero()).collect();
        Ok(Box::into_raw(array).cast())
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

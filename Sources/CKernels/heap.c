// malloc's own account of the heap, for INFO memory: what is in use and what it holds free.
#include "kernels.h"
#include <stdlib.h>   /* defines __GLIBC__ on glibc */

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
void fdb_heap_stats(size_t *in_use, size_t *held_free) {
    struct mallinfo2 m = mallinfo2();
    *in_use = m.uordblks + m.hblkhd;
    *held_free = m.fordblks;
}
void fdb_heap_trim(void) { malloc_trim(0); }
#else
void fdb_heap_stats(size_t *in_use, size_t *held_free) { *in_use = 0; *held_free = 0; }
void fdb_heap_trim(void) {}
#endif

// ---- regions: the index's big arrays ------------------------------------------------------------
// Vectors and links are read at random, one node after another: with 4 KiB pages nearly every
// distance also missed the TLB (a page walk per vector). Regions of 2 MiB or more are mapped
// on their own, 2 MiB aligned, and advised for transparent huge pages (this machine's kernel,
// like most, gives them only where asked: `madvise` mode). Freed regions go straight back to
// the kernel, not to a heap that holds them.
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define FDB_HUGE ((size_t)2 << 20)

static size_t region_bytes(size_t bytes) { return (bytes + FDB_HUGE - 1) / FDB_HUGE * FDB_HUGE; }

void *fdb_region_alloc(size_t bytes) {
#if defined(__linux__)
    if (bytes >= FDB_HUGE) {
        size_t size = region_bytes(bytes);
        char *raw = mmap(NULL, size + FDB_HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) return NULL;
        // Trim to a 2 MiB boundary, so that every page of the region can be a huge one.
        char *start = (char *)(((uintptr_t)raw + FDB_HUGE - 1) & ~(uintptr_t)(FDB_HUGE - 1));
        if (start > raw) munmap(raw, (size_t)(start - raw));
        size_t tail = (size_t)(raw + size + FDB_HUGE - (start + size));
        if (tail > 0) munmap(start + size, tail);
#ifdef MADV_HUGEPAGE
        madvise(start, size, MADV_HUGEPAGE);
#endif
        return start;
    }
#endif
    return calloc(1, bytes > 0 ? bytes : 1);
}

void fdb_region_free(void *p, size_t bytes) {
    if (p == NULL) return;
#if defined(__linux__)
    if (bytes >= FDB_HUGE) { munmap(p, region_bytes(bytes)); return; }
#endif
    free(p);
}

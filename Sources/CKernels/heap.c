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

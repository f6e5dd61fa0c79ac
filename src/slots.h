/* slots.h - the large transfer buffers, kept by each thread between its
 * transfers.
 *
 * A session moving many small files would otherwise map and unmap its
 * buffers once per file (a tenth of the server's time for 4 KiB files).
 * They are mapped rather than malloc'ed so that they go back to the system
 * when the thread ends or is told it is idle, instead of staying in a busy
 * server's heap; a client thread keeps at most 1 MiB of them. */
#ifndef FT_SLOTS_H
#define FT_SLOTS_H

#include <stddef.h>

/* A buffer of size bytes, or NULL when out of memory. */
void *ft_slot_get(size_t size);

/* Gives a buffer from ft_slot_get back, to the thread's few kept ones or
 * to the system. NULL is ignored. */
void ft_slot_put(void *p, size_t size);

/* Returns the calling thread's kept buffers to the system: for a thread
 * that goes idle (a session waiting for its client). */
void ft_slot_release_kept(void);

#endif

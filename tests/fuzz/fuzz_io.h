/* fuzz_io.h - the plumbing shared by the fuzz targets. */
#ifndef FT_FUZZ_IO_H
#define FT_FUZZ_IO_H

#include <stddef.h>
#include <stdint.h>

/* A socketpair whose sv[1] end will read exactly data, then end of
 * stream; what the code under test writes back is absorbed by large
 * buffers on sv[0]. Returns -1 if the input cannot be queued whole. */
int fuzz_socketpair_with_input(int sv[2], const uint8_t *data, size_t size);

/* Removes a folder and everything in it (for a target's scratch root). */
void fuzz_remove_tree(const char *path);

#endif

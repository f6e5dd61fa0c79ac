/* resume.h - what two sides already share of a file, checked not trusted.
 *
 * The side that holds part of a file (the client's partial download, the
 * server's partial upload) sends the BLAKE2b-256 digest of each whole
 * chunk of it (FT_RESUME_CHUNK_BYTES); the other side reads the same
 * chunks of its own copy and finds the first that differs. The transfer
 * goes on from there: never from a size taken on trust (FTP's REST,
 * sftp -a), and not from zero when only the tail is damaged. */
#ifndef FT_RESUME_H
#define FT_RESUME_H

#include <stdint.h>

#include "conn.h"
#include "io.h"

/* Sends the digests of the whole chunks among the first have bytes of fd,
 * in SUMS frames ending with an empty one. src_size and src_mtime say what
 * source the part came from (0 when it does not matter). */
enum ft_err ft_resume_send_sums(struct ft_conn *c, int fd, uint64_t have,
                                uint64_t src_size, int64_t src_mtime);

/* Receives the peer's SUMS up to the empty one and compares them with r
 * from its start: *offset is the length of the prefix they share, a
 * multiple of the chunk size. *src_size and *src_mtime are the peer's.
 * With r NULL the list is read and nothing matches. */
enum ft_err ft_resume_match_sums(struct ft_conn *c, const struct ft_reader *r,
                                 uint64_t *offset, uint64_t *src_size,
                                 int64_t *src_mtime);

/* The key an interrupted upload is kept under: 32 hex digits of a
 * BLAKE2b digest of its name, size and mtime, so that only the same
 * upload finds it again. */
#define FT_RESUME_KEY_HEX_BYTES 33
void ft_resume_upload_key(const char *name, uint64_t size, int64_t mtime,
                          char hex[FT_RESUME_KEY_HEX_BYTES]);

/* The server's side of put --continue: sends the digests of the first
 * have bytes of the upload, read through r (the part an earlier run
 * left), reads the client's RESUME_AT and checks it (a chunk boundary
 * within have); *offset is where the client goes on from. */
enum ft_err ft_resume_agree_offset(struct ft_conn *c, const struct ft_reader *r,
                                   uint64_t have, uint64_t src_size,
                                   int64_t src_mtime, uint64_t *offset);

/* The client's side: reads the server's digests of its have bytes,
 * compares them with fd from its start and answers with RESUME_AT;
 * *offset is where the data goes on from (fd is not moved). */
enum ft_err ft_resume_choose_offset(struct ft_conn *c, int fd, uint64_t have,
                                    uint64_t *offset);

#endif

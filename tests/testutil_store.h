/* testutil_store.h - the store the tests' servers use: a folder, or S3
 * with FT_TEST_STORE=s3 (the environment scripts/radosgw.sh prints). */
#ifndef FT_TESTUTIL_STORE_H
#define FT_TESTUTIL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ft_server_config;

/* Whether FT_TEST_STORE=s3: every server the harness starts then keeps
 * its files under a fresh prefix of $FT_S3_BUCKET. Unset or "dir": the
 * folder each test made, as always. Any other value aborts. */
bool tu_store_s3(void);

/* Points cfg at the store for the test's folder root: under S3 the
 * location s3://BUCKET/<this run>/<root's name> (the same for the same
 * root, so a server restarted on it finds its files), the endpoint and
 * keys, and the key file root/.ft/server.key (where the directory store
 * keeps it). Returns the location, owned by the caller (free it after
 * the server stopped); NULL and cfg untouched for the directory. */
char *tu_store_config(struct ft_server_config *cfg, const char *root);

/* The same as `ft serve` arguments, replacing "--root ROOT": appends the
 * S3 options to args (at most TU_STORE_ARGS strings) and returns how many,
 * their strings owned by *owned (free it after the child started). */
#define TU_STORE_ARGS 8
size_t tu_store_serve_args(const char *root, const char **args, char **owned);

/* A stored file of the server on root, read or written behind its back
 * whatever the backend: the file root/name, or the object under root's
 * prefix. tu_store_read returns a malloc'd buffer (NULL: none such) and
 * its size in *len; tu_store_write makes the folders on the way and
 * aborts on failure. */
char *tu_store_read(const char *root, const char *name, size_t *len);
void tu_store_write(const char *root, const char *name, const void *data,
                    size_t len);
/* Whether name is stored: a file, or a folder (on S3 its marker or any
 * key below it). */
bool tu_store_exists(const char *root, const char *name);
/* The stored folder name ("": the whole store) as a local folder to
 * compare with: root/name itself, or under S3 a copy of its objects made
 * now (folder markers as folders, each file with the mtime and mode the
 * server reports; the .ft/ sidecars left out). Release it
 * with tu_store_view_done. */
char *tu_store_view(const char *root, const char *name);
void tu_store_view_done(char *view);
/* tu_store_write with the modification time mtime: the file's on the
 * folder, the object's ft-mtime metadata on S3. */
void tu_store_write_dated(const char *root, const char *name, const void *data,
                          size_t len, int64_t mtime);
/* Sets the stored file's modification time behind the server's back: on
 * S3 the object is written again with that ft-mtime and no other
 * metadata (its digest, its mode), as a tool other than ft would. */
void tu_store_touch(const char *root, const char *name, int64_t mtime);
/* tu_tamper for a stored file: 8 bytes changed from byte 1000, and
 * nothing the server knows a file by shows it. On the folder its size and
 * times stay; on S3 the object is written again with its mtime, its mode,
 * and the digest recorded for its old bytes as its own metadata. */
void tu_store_tamper(const char *root, const char *name);
/* Whether the stored name is a folder: on S3 no object of that name, but
 * its "NAME/" marker or keys below it. */
bool tu_store_is_folder(const char *root, const char *name);
/* Right below the stored folder name ("": the top): how many entries (on
 * the folder, root/.ft at the top among them; on S3 each key and common
 * prefix, the hidden .ft/ at the top among them once the backend wrote
 * there) and the bytes of its files. A missing folder: -1 on the folder,
 * 0 on S3 (nothing holds its keys). */
int tu_store_count(const char *root, const char *name);
int64_t tu_store_bytes(const char *root, const char *name);
/* Polls, up to timeout_ms, until tu_store_count(root, name) is n. */
bool tu_store_wait_count(const char *root, const char *name, int n,
                         int timeout_ms);
/* Stores the local file as name, behind the server's back. */
void tu_store_put_file(const char *root, const char *name, const char *local);
/* Makes the folder name (its parent exists) behind the server's back. */
void tu_store_mkdir(const char *root, const char *name);
/* Whether the stored name holds exactly the local file's bytes. */
bool tu_store_same(const char *root, const char *name, const char *local);

/* Uploads on root's server, whatever the backend: waits (bounded) until
 * the uploads in flight and kept hold more than min_bytes (the folder
 * root/.ft/partial, or the parts of S3 multipart uploads under root's
 * prefix and its hidden .ft/partial/ objects); and how many uploads are
 * kept for put --continue. */
bool tu_store_wait_upload(const char *root, int64_t min_bytes, int timeout_ms);
int tu_store_kept(const char *root);
/* The bytes those kept uploads hold. */
int64_t tu_store_kept_bytes(const char *root);
/* How many unfinished uploads there are now: temporaries in root/.ft/tmp,
 * or multipart uploads and kept objects under root's prefix; and a wait
 * (bounded) until there are none. */
int tu_store_unfinished(const char *root);
bool tu_store_wait_clean(const char *root, int timeout_ms);

/* A test of the folder itself (links, permissions, .ft/ files, fsync,
 * files put there behind the server): skipped, saying why, under S3. */
#define TU_DIRECTORY_ONLY(why) \
    do { \
        if (tu_store_s3()) { \
            print_message("directory-only (%s): skipped under S3\n", why); \
            skip(); \
        } \
    } while (0)

#endif

/* ft/error.h - the one error type of ft.
 *
 * Every function of the library that can fail returns an enum ft_err. The
 * numbers never change: they also travel on the wire in ERROR frames (see
 * docs/PROTOCOL.md), so a new code is only ever appended. */
#ifndef FT_ERROR_H
#define FT_ERROR_H

/* X(NAME, number, message). One list generates the enum and ft_strerror so
 * the two cannot drift. */
#define FT_ERR_MAP(X)                                                          \
    X(OK, 0, "success")                                                        \
    X(USAGE, 1, "invalid argument")                                            \
    X(NOMEM, 2, "out of memory")                                               \
    X(IO, 3, "local I/O error")                                                \
    X(CONNECT, 4, "cannot connect")                                            \
    X(CLOSED, 5, "connection closed by peer")                                  \
    X(TIMEOUT, 6, "timed out")                                                 \
    X(PROTOCOL, 7, "protocol error")                                           \
    X(FRAME_TOO_BIG, 8, "frame longer than the maximum")                       \
    X(NOT_FT, 9, "peer does not speak the ft protocol")                        \
    X(VERSION, 10, "unsupported protocol version")                             \
    X(INTEGRITY, 11, "integrity check failed")                                 \
    X(BAD_NAME, 12, "invalid name")                                            \
    X(NOT_FOUND, 13, "no such file")                                           \
    X(NO_SPACE, 14, "no space left on server")                                 \
    X(TOO_LARGE, 15, "file too large")                                         \
    X(READ_ONLY, 16, "server is read-only")                                    \
    X(BUSY, 17, "server busy")                                                 \
    X(DENIED, 18, "permission denied")                                         \
    X(INTERRUPTED, 19, "interrupted")                                          \
    X(SERVER, 20, "server-side failure")                                       \
    X(CHANGED, 21, "the file changed while being sent")                        \
    X(TAMPERED, 22,                                                            \
      "integrity failure on the connection: data was altered in transit")      \
    X(KEY_CHANGED, 23, "the server's key is not the one pinned for it")        \
    X(TOKEN, 24, "wrong or missing token")                                     \
    X(UNKNOWN_KEY, 25, "this server does not know the client's key")          \
    X(KEY_REFUSED, 26, "the client's key is refused here")                    \
    X(NOT_ALLOWED, 27, "not allowed for this client")                         \
    X(QUOTA, 28, "quota exceeded")

enum ft_err {
#define FT_ERR_ENUM(name, num, msg) FT_ERR_##name = num,
    FT_ERR_MAP(FT_ERR_ENUM)
#undef FT_ERR_ENUM
};
#define FT_OK FT_ERR_OK

/* A static, human-readable description of err; never NULL. */
const char *ft_strerror(enum ft_err err);

/* The stable name of err, such as "NOT_FOUND"; never NULL. */
const char *ft_err_name(enum ft_err err);

#endif

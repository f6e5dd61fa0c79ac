/* sandbox.c - a process confining itself with Landlock. */
#define _GNU_SOURCE
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* What a header older than the kernel lacks: Debian 12's (Linux 6.1)
 * knows ABI 2 at most. The values are the kernel's ABI, fixed for good. */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif
/* enum landlock_rule_type's second member (ABI 4). */
#define RULE_NET_PORT 2

/* struct landlock_ruleset_attr as ABI 6 has it; an older header has only
 * its first field. The kernel takes the size it is given and refuses
 * fields it does not know unless they are 0, as they are below its ABI. */
struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

/* struct landlock_net_port_attr (ABI 4). */
struct net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

/* What the confined process keeps beneath its read-write folder: files and
 * folders made, read, written, truncated, removed, renamed across folders
 * (an upload is published from .ft/tmp). Not: executing, device files,
 * links, sockets or pipes. */
#define RW_ACCESS                                                              \
    (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE |            \
     LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |             \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |            \
     LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER |                  \
     LANDLOCK_ACCESS_FS_TRUNCATE)

/* Beneath a path it may only read: files, and folders' lists. */
#define RO_ACCESS (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

/* LeakSanitizer, when the process exits, lists its threads and reads its
 * memory map: a build with it keeps those readable (they tell the process
 * only of itself). No other build reads them. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_READS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_READS 1
#endif
#endif
#ifdef SANITIZER_READS
static const char *const sanitizer_reads[] = { "/proc/self/task", "/proc/self/maps" };
#endif

int ft_sandbox_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                       LANDLOCK_CREATE_RULESET_VERSION);

    return abi > 0 ? (int)abi : 0;
}

/* Every file system right the ABI knows: those not granted are refused. */
static uint64_t fs_handled(int abi)
{
    uint64_t a = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */

    if (abi >= 2)
        a |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        a |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        a |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return a;
}

/* The threads of this process, from /proc; 0 when /proc cannot say
 * (which the caller refuses: it must not confine one thread of many). */
static long thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long n = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "Threads: %ld", &n) == 1)
            break;
    }
    fclose(f);
    return n;
}

static int add_path_rule(int ruleset, int fd, uint64_t access)
{
    struct landlock_path_beneath_attr pb = { .allowed_access = access,
                                             .parent_fd = fd };

    return (int)syscall(SYS_landlock_add_rule, ruleset,
                        LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
}

/* Lets path be read, beneath it if a folder (a file takes no folder
 * right); errbuf says what failed. */
static enum ft_err add_read_rule(int ruleset, const char *path, char *errbuf,
                                 size_t errlen)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    struct stat sb;
    int rc = fd < 0 || fstat(fd, &sb) != 0
                 ? -1
                 : add_path_rule(ruleset, fd, S_ISDIR(sb.st_mode)
                                                  ? RO_ACCESS
                                                  : LANDLOCK_ACCESS_FS_READ_FILE);

    if (rc != 0)
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc != 0 ? FT_ERR_IO : FT_OK;
}

/* Allows access (bind or connect) to each of ports; errbuf says which
 * failed. */
static enum ft_err add_port_rules(int ruleset, const uint16_t *ports, size_t n,
                                  uint64_t access, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        struct net_port_attr np = { .allowed_access = access, .port = ports[i] };

        if (syscall(SYS_landlock_add_rule, ruleset, RULE_NET_PORT, &np, 0) != 0) {
            snprintf(errbuf, errlen, "tcp port %u: %s", (unsigned)ports[i],
                     strerror(errno));
            return FT_ERR_IO;
        }
    }
    return FT_OK;
}

/* Adds the rules of r to ruleset; errbuf says what failed. */
static enum ft_err add_rules(int ruleset, int abi, const struct ft_sandbox_rules *r,
                             char *errbuf, size_t errlen)
{
    uint64_t root = r->root_read_only ? RO_ACCESS
                                      : RW_ACCESS;

    if (r->root_fd >= 0 && add_path_rule(ruleset, r->root_fd, root & fs_handled(abi)) != 0) {
        snprintf(errbuf, errlen, "%s: %s", r->root_shown, strerror(errno));
        return FT_ERR_IO;
    }
    for (size_t i = 0; i < r->n_ro; i++) {
        if (add_read_rule(ruleset, r->ro_paths[i], errbuf, errlen) != FT_OK)
            return FT_ERR_IO;
    }
#ifdef SANITIZER_READS
    for (size_t i = 0; i < sizeof(sanitizer_reads) / sizeof(*sanitizer_reads); i++) {
        if (add_read_rule(ruleset, sanitizer_reads[i], errbuf, errlen) != FT_OK)
            return FT_ERR_IO;
    }
#endif
    if (abi >= 4 &&
        (add_port_rules(ruleset, r->bind_ports, r->n_ports, LANDLOCK_ACCESS_NET_BIND_TCP,
                        errbuf, errlen) != FT_OK ||
         add_port_rules(ruleset, r->connect_ports, r->n_connect,
                        LANDLOCK_ACCESS_NET_CONNECT_TCP, errbuf, errlen) != FT_OK))
        return FT_ERR_IO;
    return FT_OK;
}

/* Appends to a report, cut short rather than overrun. */
__attribute__((format(printf, 3, 4)))
static void say(char *report, size_t len, const char *fmt, ...)
{
    size_t n = strnlen(report, len);
    va_list ap;

    if (n + 1 >= len)
        return;
    va_start(ap, fmt);
    vsnprintf(report + n, len - n, fmt, ap);
    va_end(ap);
}

/* What the process kept, for the start-up log. */
static void describe(const struct ft_sandbox_rules *r, int abi, char *report,
                     size_t len)
{
    if (r->root_fd >= 0)
        snprintf(report, len, "landlock ABI %d: files beneath %s %s", abi,
                 r->root_shown, r->root_read_only ? "read-only" : "read-write");
    else
        snprintf(report, len, "landlock ABI %d: no files of a store (%s)", abi,
                 r->root_shown);
    for (size_t i = 0; i < r->n_ro; i++)
        say(report, len, ", %s read-only", r->ro_paths[i]);
    say(report, len, ", nothing else");
    if (abi < 4) {
        say(report, len, "; tcp not restricted (ABI 4 does that)");
        return;
    }
    say(report, len, "; tcp bind");
    for (size_t i = 0; i < r->n_ports; i++)
        say(report, len, "%s%u", i == 0 ? " " : ",", (unsigned)r->bind_ports[i]);
    say(report, len, r->n_ports != 0 ? " only" : " none");
    say(report, len, r->n_connect != 0 ? ", connect" : ", no connect");
    for (size_t i = 0; i < r->n_connect; i++)
        say(report, len, "%s%u", i == 0 ? " " : ",", (unsigned)r->connect_ports[i]);
    if (r->n_connect != 0)
        say(report, len, " only");
    if (abi >= 6)
        say(report, len, "; signals and abstract unix sockets: within this "
                         "process only");
}

enum ft_err ft_sandbox_apply(const struct ft_sandbox_rules *r, bool *applied,
                             char *report, size_t len)
{
    int abi = ft_sandbox_abi();
    struct ruleset_attr attr = { 0 };
    enum ft_err err;
    int ruleset;

    *applied = false;
    if (abi == 0) {
        snprintf(report, len, "landlock unavailable (%s): not confined",
                 strerror(errno));
        return FT_OK;
    }
    if (abi == 1) {
        snprintf(report, len, "landlock ABI 1 would refuse the rename that "
                              "publishes an upload: not confined");
        return FT_OK;
    }
    if (thread_count() != 1) {
        snprintf(report, len, "this process has started threads already (or "
                              "/proc cannot say): they would stay unconfined");
        return FT_ERR_USAGE;
    }
    /* The log's time stamps read the time zone once, the first time; from
     * now on /etc/localtime cannot be read. */
    tzset();
    attr.handled_access_fs = fs_handled(abi);
    if (abi >= 4)
        attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP |
                                  LANDLOCK_ACCESS_NET_CONNECT_TCP;
    if (abi >= 6)
        attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
    ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (ruleset < 0) {
        snprintf(report, len, "landlock ruleset: %s", strerror(errno));
        return FT_ERR_IO;
    }
    err = add_rules(ruleset, abi, r, report, len);
    /* Landlock's condition for a process without CAP_SYS_ADMIN, and a
     * good one anyway: nothing it runs can gain privileges. */
    if (err == FT_OK && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
                         syscall(SYS_landlock_restrict_self, ruleset, 0) != 0)) {
        snprintf(report, len, "landlock: %s", strerror(errno));
        err = FT_ERR_IO;
    }
    close(ruleset);
    if (err != FT_OK)
        return err;
    *applied = true;
    describe(r, abi, report, len);
    return FT_OK;
}

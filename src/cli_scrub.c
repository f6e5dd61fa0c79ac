/* cli_scrub.c - ft serve --scrub: the store's recorded digests checked
 * against its files, a line (or a JSON object) per finding. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_report.h"
#include "hash.h"
#include "name.h"
#include "store.h"

static const char *const finding_names[] = {
    [FT_SCRUB_MISMATCH] = "mismatch",
    [FT_SCRUB_CHANGED] = "changed",
    [FT_SCRUB_UNREADABLE] = "unreadable",
};

static void report_json(enum ft_scrub_finding what, const char *name, uint64_t size,
                        const uint8_t *recorded, const uint8_t *actual, int err)
{
    char hex[FT_HASH_HEX_BYTES];

    printf("{\"type\":\"%s\",", finding_names[what]);
    cli_json_name(stdout, name);
    printf(",\"size\":%" PRIu64, size);
    if (recorded != NULL) {
        ft_hash_hex(recorded, hex);
        printf(",\"recorded\":\"%s\"", hex);
    }
    if (actual != NULL) {
        ft_hash_hex(actual, hex);
        printf(",\"actual\":\"%s\"", hex);
    }
    if (what == FT_SCRUB_UNREADABLE) {
        fputs(",\"error\":", stdout);
        cli_json_string(stdout, strerror(err), strlen(strerror(err)));
    }
    puts("}");
}

static void report(void *ctx, enum ft_scrub_finding what, const char *name,
                   uint64_t size, const uint8_t *recorded, const uint8_t *actual,
                   int err)
{
    const struct cli_serve_args *a = ctx;
    char quoted[FT_PATH_MAX * 4 + 8], want[FT_HASH_HEX_BYTES], got[FT_HASH_HEX_BYTES];

    if (a->json) {
        report_json(what, name, size, recorded, actual, err);
        return;
    }
    ft_name_quote(name, strlen(name), quoted, sizeof(quoted));
    if (what == FT_SCRUB_MISMATCH) {
        ft_hash_hex(recorded, want);
        ft_hash_hex(actual, got);
        printf("mismatch %s: its content no longer matches the digest recorded "
               "when it was published (recorded %s, now %s)\n", quoted, want, got);
    } else if (what == FT_SCRUB_CHANGED) {
        printf("changed %s: changed since its digest was recorded (size, time or "
               "inode), not checked\n", quoted);
    } else {
        printf("unreadable %s: %s\n", quoted, strerror(err));
    }
}

static void summary(const struct cli_serve_args *a, const struct ft_scrub_stats *s)
{
    if (a->json)
        printf("{\"type\":\"summary\",\"files\":%" PRIu64 ",\"checked\":%" PRIu64
               ",\"bytes\":%" PRIu64 ",\"mismatched\":%" PRIu64 ",\"changed\":%" PRIu64
               ",\"unrecorded\":%" PRIu64 ",\"unreadable\":%" PRIu64 "}\n",
               s->files, s->checked, s->bytes, s->mismatched, s->changed,
               s->unrecorded, s->unreadable);
    else
        printf("scrub: %" PRIu64 " files, %" PRIu64 " checked (%" PRIu64 " bytes read), %"
               PRIu64 " do not match, %" PRIu64 " changed since recorded, %" PRIu64
               " without a record, %" PRIu64 " unreadable\n", s->files, s->checked,
               s->bytes, s->mismatched, s->changed, s->unrecorded, s->unreadable);
}

int cli_scrub(const struct cli_serve_args *a, const char *root)
{
    struct ft_scrub_stats stats;
    char err[512];
    enum ft_err rc;

    if (root == NULL)
        root = a->cfg.root != NULL ? a->cfg.root : FT_DEFAULT_ROOT;
    rc = ft_store_scrub(root, report, (void *)a, &stats, err, sizeof(err));
    if (rc != FT_OK) {
        fprintf(stderr, "ft: serve --scrub: %s\n", err);
        return cli_exit_code(rc);
    }
    summary(a, &stats);
    if (fflush(stdout) != 0)
        return CLI_EXIT_LOCAL_IO;
    if (stats.mismatched > 0)
        return CLI_EXIT_INTEGRITY;
    return stats.unreadable > 0 ? CLI_EXIT_LOCAL_IO : CLI_EXIT_OK;
}

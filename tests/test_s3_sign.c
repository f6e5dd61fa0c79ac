/* test_s3_sign.c - ft's own AWS Signature Version 4 (src/s3_sign.c, for the
 * requests curl 7.88 signs wrong) against the example AWS publishes for S3
 * (GET Object with a Range, 2013-05-24, the documentation's example keys),
 * and its header order where curl's goes wrong. No engine needed: the
 * round trip through radosgw is test_s3's test_part_copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "s3_int.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* 2013-05-24T00:00:00Z */
#define EXAMPLE_TIME ((time_t)1369353600)

static struct ft_s3 *example_client(const char *endpoint)
{
    struct ft_s3_config cfg = { .endpoint = endpoint,
                                .bucket = "examplebucket",
                                .region = "us-east-1",
                                .access_key = "AKIAIOSFODNN7EXAMPLE",
                                .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
    struct ft_s3 *s = NULL;

    assert_int_equal(ft_s3_open(&cfg, &s), FT_ERR_OK);
    return s;
}

static const char *find_line(const struct curl_slist *l, const char *start)
{
    for (; l != NULL; l = l->next)
        if (strncmp(l->data, start, strlen(start)) == 0)
            return l->data;
    return NULL;
}

static void test_aws_example(void **state)
{
    struct ft_s3 *s = example_client("https://examplebucket.s3.amazonaws.com");
    struct curl_slist *h = curl_slist_append(NULL, "Range: bytes=0-9");
    const char *auth;
    (void)state;

    h = curl_slist_append(h, "x-amz-content-sha256: " EMPTY_SHA256);
    assert_int_equal(ft_s3_sign(s, "GET", "https://examplebucket.s3.amazonaws.com/test.txt",
                                &h, EXAMPLE_TIME),
                     FT_ERR_OK);
    assert_string_equal(find_line(h, "x-amz-date:"), "x-amz-date: 20130524T000000Z");
    auth = find_line(h, "Authorization:");
    assert_non_null(auth);
    assert_string_equal(auth,
                        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
                        "20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;"
                        "x-amz-content-sha256;x-amz-date,Signature="
                        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    curl_slist_free_all(h);
    ft_s3_close(s);
}

/* The pair curl 7.88 orders wrongly: the shorter name first, whatever
 * order the lines come in; a default port is not part of the host. */
static void test_prefix_names_sorted(void **state)
{
    struct ft_s3 *s = example_client("http://127.0.0.1:80");
    struct curl_slist *h = curl_slist_append(NULL, "x-amz-copy-source-range: bytes=0-9");
    const char *auth;
    (void)state;

    h = curl_slist_append(h, "x-amz-copy-source: /b/k");
    h = curl_slist_append(h, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    assert_int_equal(ft_s3_sign(s, "PUT", "http://127.0.0.1:80/b/k?partNumber=1&uploadId=x",
                                &h, EXAMPLE_TIME),
                     FT_ERR_OK);
    auth = find_line(h, "Authorization:");
    assert_non_null(auth);
    assert_non_null(strstr(auth, "SignedHeaders=host;x-amz-content-sha256;"
                                 "x-amz-copy-source;x-amz-copy-source-range;x-amz-date,"));
    curl_slist_free_all(h);
    ft_s3_close(s);
}

/* Without the payload's hash header there is nothing to sign with. */
static void test_needs_payload_header(void **state)
{
    struct ft_s3 *s = example_client("http://127.0.0.1:7480");
    struct curl_slist *h = curl_slist_append(NULL, "Range: bytes=0-9");
    (void)state;

    assert_int_equal(ft_s3_sign(s, "GET", "http://127.0.0.1:7480/b/k", &h, EXAMPLE_TIME),
                     FT_ERR_USAGE);
    assert_null(find_line(h, "Authorization:"));
    curl_slist_free_all(h);
    ft_s3_close(s);
}

/* The scope holds the region the handle was opened with (us-east-1 when
 * none); one that curl's "aws:amz:REGION:s3" cannot carry (a ':') or that
 * is too long is refused at open. */
static void test_region(void **state)
{
    struct ft_s3_config cfg = { .endpoint = "http://127.0.0.1:7480", .bucket = "b",
                                .region = "eu-west-3", .access_key = "k", .secret_key = "s" };
    const char *want[] = { "Credential=k/20130524/eu-west-3/s3/aws4_request,",
                           "Credential=k/20130524/us-east-1/s3/aws4_request," };
    char region[66];
    struct ft_s3 *s = NULL;
    (void)state;

    for (int i = 0; i < 2; i++) {
        struct curl_slist *h = curl_slist_append(NULL, "x-amz-content-sha256: " EMPTY_SHA256);

        cfg.region = i == 0 ? "eu-west-3" : NULL;
        assert_int_equal(ft_s3_open(&cfg, &s), FT_ERR_OK);
        assert_int_equal(ft_s3_sign(s, "GET", "http://127.0.0.1:7480/b/k", &h, EXAMPLE_TIME),
                         FT_ERR_OK);
        assert_non_null(strstr(find_line(h, "Authorization:"), want[i]));
        curl_slist_free_all(h);
        ft_s3_close(s);
    }
    cfg.region = "eu:west-3";
    assert_int_equal(ft_s3_open(&cfg, &s), FT_ERR_USAGE);
    memset(region, 'r', sizeof(region) - 1);
    region[sizeof(region) - 1] = '\0';
    cfg.region = region;
    assert_int_equal(ft_s3_open(&cfg, &s), FT_ERR_USAGE);
    region[63] = '\0'; /* the longest kept */
    assert_int_equal(ft_s3_open(&cfg, &s), FT_ERR_OK);
    ft_s3_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_example),
        cmocka_unit_test(test_prefix_names_sorted),
        cmocka_unit_test(test_needs_payload_header),
        cmocka_unit_test(test_region),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

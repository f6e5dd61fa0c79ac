/* s3_xml.c - S3's XML answers read as they arrive (expat), one element at a time. */
#include "s3_int.h"

#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* S3 answers nest four deep at most; anything deeper is not S3's. */
#define XML_DEPTH_MAX 16
#define XML_NAME_MAX 64

struct ft_s3xml {
    XML_Parser p;
    ft_s3xml_end on_end;
    void *arg;
    int depth;
    int failed;
    char names[XML_DEPTH_MAX][XML_NAME_MAX];
    /* Text of the innermost open element: a key (1024 bytes of UTF-8) fits. */
    char text[FT_S3_XML_TEXT_MAX];
    size_t text_len;
};

static void on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    struct ft_s3xml *x = data;
    (void)attrs;
    if (x->failed)
        return;
    if (x->depth >= XML_DEPTH_MAX) {
        x->failed = 1;
        XML_StopParser(x->p, XML_FALSE);
        return;
    }
    /* A name too long for the stack is no name S3 uses: kept cut short. */
    snprintf(x->names[x->depth], XML_NAME_MAX, "%s", name);
    x->depth++;
    x->text_len = 0;
}

static void on_end(void *data, const XML_Char *name)
{
    struct ft_s3xml *x = data;
    (void)name;
    if (x->failed)
        return;
    x->depth--;
    x->text[x->text_len] = '\0';
    x->on_end(x->arg, x->depth > 0 ? x->names[x->depth - 1] : "", x->names[x->depth],
              x->text);
    x->text_len = 0;
}

static void on_text(void *data, const XML_Char *s, int len)
{
    struct ft_s3xml *x = data;
    if (x->failed)
        return;
    if ((size_t)len >= sizeof(x->text) - x->text_len) {
        x->failed = 1;
        XML_StopParser(x->p, XML_FALSE);
        return;
    }
    memcpy(x->text + x->text_len, s, (size_t)len);
    x->text_len += (size_t)len;
}

struct ft_s3xml *ft_s3xml_new(ft_s3xml_end cb, void *arg)
{
    struct ft_s3xml *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->p = XML_ParserCreate("UTF-8");
    if (!x->p) {
        free(x);
        return NULL;
    }
    x->on_end = cb;
    x->arg = arg;
    XML_SetUserData(x->p, x);
    XML_SetElementHandler(x->p, on_start, on_end);
    XML_SetCharacterDataHandler(x->p, on_text);
    return x;
}

int ft_s3xml_feed(struct ft_s3xml *x, const void *data, size_t n, int last)
{
    if (x->failed)
        return -1;
    while (n > 0 || last) {
        int piece = n > (1u << 30) ? 1 << 30 : (int)n;
        int final = last && (size_t)piece == n;
        if (XML_Parse(x->p, data, piece, final) != XML_STATUS_OK || x->failed) {
            x->failed = 1;
            return -1;
        }
        data = (const char *)data + piece;
        n -= (size_t)piece;
        if (final)
            break;
    }
    return 0;
}

void ft_s3xml_free(struct ft_s3xml *x)
{
    if (!x)
        return;
    XML_ParserFree(x->p);
    free(x);
}

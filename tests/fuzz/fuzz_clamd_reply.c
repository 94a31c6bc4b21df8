/*
 * fuzz_clamd_reply.c — libFuzzer target over the reader of clamd's answers
 * (mover/checks/clamd.c). The first byte picks the session id expected (0: none).
 * Invariants: OK only for exactly "<id>: stream: OK"; FOUND only for
 * "<id>: stream: <name> FOUND" with a name of 1..CLAMD_NAME_MAX printable, space-free
 * bytes, which is the text; ERROR only for an answer ending in " ERROR"; the text is
 * always NUL-terminated printable ASCII; nothing is read outside the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks/clamd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable_text(const clamd_reply *r)
{
    size_t n = strnlen(r->text, sizeof(r->text));
    if (n == sizeof(r->text)) abort();
    for (size_t i = 0; i < n; i++)
        if (r->text[i] < 0x20 || r->text[i] >= 0x7f) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    uint32_t id = data[0] % 4;
    data++;
    size--;
    /* a copy of exactly `size` bytes, so ASan sees any read past the answer */
    uint8_t *copy = malloc(size ? size : 1);
    if (copy == NULL) return 0;
    memcpy(copy, data, size);
    clamd_reply r;
    clamd_verdict v = clamd_reply_parse(copy, size, id, &r);
    printable_text(&r);
    char prefix[16] = "";
    if (id != 0) snprintf(prefix, sizeof(prefix), "%u: ", id);
    size_t plen = strlen(prefix);
    bool prefixed = size >= plen && memcmp(copy, prefix, plen) == 0;
    switch (v) {
    case CLAMD_OK:
        if (!prefixed || size != plen + 10 || memcmp(copy + plen, "stream: OK", 10) != 0) abort();
        break;
    case CLAMD_FOUND: {
        size_t n = strlen(r.text);
        if (!prefixed || n == 0 || n > CLAMD_NAME_MAX || size != plen + 8 + n + 6) abort();
        if (memcmp(copy + plen, "stream: ", 8) != 0 || memcmp(copy + plen + 8, r.text, n) != 0) abort();
        if (memcmp(copy + size - 6, " FOUND", 6) != 0 || strchr(r.text, ' ') != NULL) abort();
        break;
    }
    case CLAMD_ERROR:
        if (!prefixed || size < 6 || memcmp(copy + size - 6, " ERROR", 6) != 0) abort();
        break;
    case CLAMD_GARBLED: break;
    case CLAMD_FAILED: abort(); /* the reader never says "no answer" */
    }
    clamd_reply t;
    if (clamd_reply_text(copy, size, id, &t)) {
        if (!prefixed) abort();
    }
    printable_text(&t);
    free(copy);
    return 0;
}

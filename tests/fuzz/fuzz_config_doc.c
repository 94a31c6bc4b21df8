/*
 * fuzz_config_doc.c — libFuzzer target over the configuration reference generator
 * (config/config_doc.c): the marker parser of sl_config_doc_update and the Markdown
 * subset of sl_config_doc_text, on arbitrary bytes. Invariants: an update that succeeds
 * is a fixed point (updating its output again changes nothing) and holds a block for
 * every section; a text is accepted in Markdown exactly when it is accepted in roff,
 * and roff output is ASCII.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_doc.h"
#include "util/alloc.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_update(sl_cursor text, sl_config_doc_format format)
{
    sl_buf once = { 0 }, twice = { 0 };
    if (sl_ok(sl_config_doc_update(text, format, &once))) {
        if (sl_failed(sl_config_doc_update(sl_cursor_from_buf(&once), format, &twice))) abort();
        if (!sl_cursor_eq(sl_cursor_from_buf(&once), sl_cursor_from_buf(&twice))) abort();
        /* success needs a block for every section: the top one at least */
        if (memmem(once.data, once.len, "generated: top", 14) == NULL) abort();
    }
    sl_buf_clean_up(&once);
    sl_buf_clean_up(&twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_cursor text = sl_cursor_from_bytes(data, size);
    check_update(text, SL_CONFIG_DOC_MARKDOWN);
    check_update(text, SL_CONFIG_DOC_ROFF);

    char *s = sl_strndup((const char *)data, size);
    sl_buf md = { 0 }, roff = { 0 };
    bool md_ok = sl_ok(sl_config_doc_text(s, SL_CONFIG_DOC_MARKDOWN, "fuzz", &md));
    bool roff_ok = sl_ok(sl_config_doc_text(s, SL_CONFIG_DOC_ROFF, "fuzz", &roff));
    if (md_ok != roff_ok) abort();
    for (size_t i = 0; roff_ok && i < roff.len; i++)
        if (roff.data[i] >= 0x80) abort();
    sl_buf_clean_up(&md);
    sl_buf_clean_up(&roff);
    sl_free(s);
    return 0;
}

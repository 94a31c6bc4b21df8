/*
 * fuzz_sts_xml.c — libFuzzer target over the STS AssumeRole answer parser
 * (mover/s3/sts.c). Invariants beyond "no crash": exactly one outcome (credentials, an
 * error document, or a failure); credentials always carry a non-empty key id, secret
 * and token and an expiration in 1970..9999; an error document always a non-empty
 * code; a failure leaves nothing behind; the same bytes give the same verdict twice.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/sts.h"
#include "util/timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sts_credentials c, c2;
    s3_error e, e2;
    bool is_error = false, is_error2 = false;
    int ok = sl_ok(sts_parse_assume_role(data, size, &c, &e, &is_error));
    int ok2 = sl_ok(sts_parse_assume_role(data, size, &c2, &e2, &is_error2));
    if (ok != ok2 || is_error != is_error2) abort();
    if (!ok) {
        if (is_error || c.access_key_id.data || c.session_token.data || e.code_text.data) abort();
    } else if (is_error) {
        if (e.code_text.len == 0 || c.access_key_id.data) abort();
        if (e.code != s3_error_code_from_name(sl_cursor_from_buf(&e.code_text))) abort();
    } else {
        if (c.access_key_id.len == 0 || c.secret_access_key.len == 0 || c.session_token.len == 0) abort();
        if (c.expiration_ms < 0 || c.expiration_ms > SL_TIME_MAX_MS) abort();
        if (e.code_text.data) abort();
        if (c.session_token.len != c2.session_token.len ||
            memcmp(c.session_token.data, c2.session_token.data, c.session_token.len) != 0)
            abort();
    }
    sts_credentials_clean_up(&c);
    sts_credentials_clean_up(&c2);
    s3_error_clean_up(&e);
    s3_error_clean_up(&e2);
    return 0;
}

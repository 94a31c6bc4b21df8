/*
 * secret.c — the events listener's shared secret (see secret.h).
 */
#include "events/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "attest/dsse.h"

sl_result events_secret_load(const char *path, sl_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) RAISE(SL_ERR_IO, "events.secret_file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        RAISE(SL_ERR_IO, "events.secret_file %s: not a regular file", path);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        RAISE(SL_ERR_IO, "events.secret_file %s: mode %04o lets others read or write it; chmod 600 %s", path,
              (unsigned)(st.st_mode & 07777), path);
    }
    close(fd);
    sl_buf text = { 0 };
    sl_result r = sl_buf_read_file(&text, path, EVENTS_SECRET_MAX + 2);
    if (sl_failed(r)) {
        sl_buf_clean_up_secure(&text);
        return r;
    }
    if (text.len > 0 && text.data[text.len - 1] == '\n') text.len--;
    if (text.len > 0 && text.data[text.len - 1] == '\r') text.len--;
    bool printable = true;
    for (size_t i = 0; i < text.len && printable; i++) printable = text.data[i] > 0x20 && text.data[i] < 0x7F;
    if (text.len < EVENTS_SECRET_MIN || text.len > EVENTS_SECRET_MAX || !printable) {
        size_t len = text.len;
        sl_buf_clean_up_secure(&text);
        RAISE(SL_ERR_INVALID_ARGUMENT,
              "events.secret_file %s: expected %d to %d printable ASCII characters without spaces, got %zu bytes%s",
              path, EVENTS_SECRET_MIN, EVENTS_SECRET_MAX, len, printable ? "" : " with other characters");
    }
    sl_buf_clean_up_secure(out);
    *out = text;
    return SL_SUCCESS;
}

bool events_secret_matches(const sl_buf *secret, sl_cursor given)
{
    if (secret == NULL || secret->len == 0) return false;
    uint8_t a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
    SHA256(secret->data, secret->len, a);
    SHA256(given.ptr ? given.ptr : (const uint8_t *)"", given.len, b);
    bool same = CRYPTO_memcmp(a, b, sizeof(a)) == 0;
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    return same;
}

static bool starts_with_ci(sl_cursor c, const char *prefix)
{
    size_t n = strlen(prefix);
    return c.len >= n && sl_cursor_eq_ignore_case(sl_cursor_from_bytes(c.ptr, n), sl_cursor_from_bytes(prefix, n));
}

sl_cursor events_secret_presented(sl_cursor authorization, sl_cursor query, sl_buf *scratch)
{
    sl_cursor auth = sl_cursor_trim(authorization);
    if (starts_with_ci(auth, "Basic ")) {
        sl_cursor b64 = sl_cursor_trim(sl_cursor_from_bytes(auth.ptr + 6, auth.len - 6));
        sl_buf_reset(scratch);
        if (sl_failed(attest_base64_decode(scratch, b64))) {
            sl_error_clear();
            return (sl_cursor){ 0 };
        }
        sl_cursor pair = sl_cursor_from_buf(scratch);
        ptrdiff_t colon = sl_cursor_find_byte(pair, ':');
        if (colon < 0) return (sl_cursor){ 0 };
        return sl_cursor_from_bytes(pair.ptr + colon + 1, pair.len - (size_t)colon - 1);
    }
    if (starts_with_ci(auth, "Bearer ")) return sl_cursor_trim(sl_cursor_from_bytes(auth.ptr + 7, auth.len - 7));
    /* token=<secret> in the query (no percent-decoding: the secret is printable ASCII,
     * and an operator writes it as it is) */
    sl_cursor rest = query, pair;
    while (rest.len > 0 && sl_cursor_next_token(&rest, '&', &pair))
        if (sl_cursor_starts_with(pair, sl_cursor_from_cstr("token=")))
            return sl_cursor_from_bytes(pair.ptr + 6, pair.len - 6);
    return (sl_cursor){ 0 };
}

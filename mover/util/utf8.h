/*
 * utf8.h — strict UTF-8 (RFC 3629 §3-4: no overlong forms, no surrogates, nothing above
 * U+10FFFF), one decoder for every module that takes text from outside: manifests,
 * task names and patterns, keys, S3 XML.
 *
 * Threading: pure functions; safe on any thread.
 */
#ifndef SLUICE_UTIL_UTF8_H
#define SLUICE_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* The length (1..4) of the UTF-8 sequence at s[0..len), with its code point in *cp
 * (may be NULL); 0 when it is not a valid sequence (or len is 0). */
size_t sl_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp);

/* Whether every byte of `text` is part of a valid sequence; if not, *bad_at (may be
 * NULL) is the offset of the first byte of the first bad one. */
bool sl_utf8_valid(sl_cursor text, size_t *bad_at);

#endif /* SLUICE_UTIL_UTF8_H */

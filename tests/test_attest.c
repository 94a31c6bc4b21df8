/*
 * test_attest.c — unit tests of mover/attest: the vectors of tests/vectors/attest
 * (written by an independent implementation, make_vectors.py: Python's json module and
 * the openssl command) reproduced byte for byte — statement, PAE, signature, metadata,
 * envelope — and read back; every verdict of the verifier (rotation included); the
 * strictness of the metadata decoder; the 2 KiB metadata limit; key files (mode 0600
 * enforced, symbolic links and non-keys refused) and keygen.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "attest/attest.h"
#include "attest/keygen.h"
#include "util/alloc.h"
#include "util/buf.h"

#define VECTORS SLUICE_SOURCE_DIR "/tests/vectors/attest"

/* ---- helpers ---- */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/sluice-attest-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void read_file(const char *path, sl_buf *out)
{
    sl_buf_reset(out);
    if (sl_failed(sl_buf_read_file(out, path, 1 << 20))) fail_msg("cannot read %s: %s", path, sl_error_detail());
}

/* Copies the vectors' signing key to a 0600 file (git keeps no modes) and loads it. */
static attest_signer *vector_signer(void)
{
    sl_buf pem = { 0 };
    read_file(VECTORS "/signing.key", &pem);
    char path[128];
    snprintf(path, sizeof(path), "%s/vector-%d.key", tmpdir, rand());
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(pem.data, 1, pem.len, f), pem.len);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    sl_buf_clean_up(&pem);
    attest_signer *s = NULL;
    assert_true(sl_ok(attest_signer_load(path, &s)));
    unlink(path);
    return s;
}

static attest_keyring *ring_of(const char *pub_path)
{
    attest_keyring *ring = NULL;
    assert_true(sl_ok(attest_keyring_new(&ring)));
    if (pub_path != NULL) assert_true(sl_ok(attest_keyring_add_file(ring, pub_path)));
    return ring;
}

/* facts.json → attest_facts (borrowing from the JSON document). */
typedef struct vector_facts {
    json_t *doc;
    attest_facts facts;
    attest_check checks[ATTEST_MAX_CHECKS];
    sl_cursor reviewers[ATTEST_MAX_REVIEWERS];
} vector_facts;

static sl_cursor field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || !json_is_string(v)) return (sl_cursor){ 0 };
    return sl_cursor_from_bytes(json_string_value(v), json_string_length(v));
}

static int64_t time_of(json_t *times, const char *key) { return json_integer_value(json_object_get(times, key)); }

static void load_facts(const char *dir, vector_facts *vf)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/facts.json", dir);
    json_error_t err;
    vf->doc = json_load_file(path, 0, &err);
    if (vf->doc == NULL) fail_msg("%s: %s", path, err.text);
    attest_facts *f = &vf->facts;
    *f = (attest_facts){ 0 };
    f->trusted_key = field(vf->doc, "trusted_key");
    f->staging_key = field(vf->doc, "staging_key");
    f->sha256 = field(vf->doc, "sha256");
    f->media_type = field(vf->doc, "media_type");
    f->artifact = field(vf->doc, "artifact");
    f->task = field(vf->doc, "task");
    f->route = field(vf->doc, "route");
    f->decision = field(vf->doc, "decision");
    json_t *checks = json_object_get(vf->doc, "checks");
    for (size_t i = 0; i < json_array_size(checks); i++) {
        vf->checks[i].name = field(json_array_get(checks, i), "name");
        vf->checks[i].version = field(json_array_get(checks, i), "version");
    }
    f->checks = vf->checks;
    f->check_count = json_array_size(checks);
    f->findings = (uint64_t)json_integer_value(json_object_get(vf->doc, "findings"));
    json_t *reviewers = json_object_get(vf->doc, "reviewers");
    for (size_t i = 0; i < json_array_size(reviewers); i++) {
        json_t *r = json_array_get(reviewers, i);
        vf->reviewers[i] = sl_cursor_from_bytes(json_string_value(r), json_string_length(r));
    }
    f->reviewers = vf->reviewers;
    f->reviewer_count = json_array_size(reviewers);
    json_t *times = json_object_get(vf->doc, "times");
    f->times = (attest_times){ time_of(times, "quarantined"), time_of(times, "checked"), time_of(times, "decided"),
                               time_of(times, "signed") };
}

/* metadata.txt → pairs (cursors into `text`). */
static size_t parse_metadata(const sl_buf *text, sl_cursor *pairs, size_t max_pairs)
{
    size_t n = 0;
    sl_cursor rest = sl_cursor_from_buf(text), line;
    while (rest.len > 0 && sl_cursor_next_token(&rest, '\n', &line)) {
        if (line.len == 0) continue;
        ptrdiff_t colon = sl_cursor_find_byte(line, ':');
        assert_true(colon > 0 && n < max_pairs);
        pairs[2 * n] = sl_cursor_from_bytes(line.ptr, (size_t)colon);
        pairs[2 * n + 1] = sl_cursor_from_bytes(line.ptr + colon + 2, line.len - (size_t)colon - 2);
        n++;
    }
    return n;
}

static void assert_same_bytes(const sl_buf *got, const sl_buf *want, const char *what)
{
    if (got->len != want->len || memcmp(got->data, want->data, got->len) != 0)
        fail_msg("%s differs:\n got  %.*s\n want %.*s", what, (int)got->len, (const char *)got->data, (int)want->len,
                 (const char *)want->data);
}

static void case_dirs(char dirs[][512], size_t *count, size_t max)
{
    DIR *d = opendir(VECTORS);
    assert_non_null(d);
    *count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[512];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s/facts.json", VECTORS, e->d_name);
        if (e->d_name[0] == '.' || stat(path, &st) != 0) continue;
        assert_true(*count < max);
        snprintf(dirs[(*count)++], 512, "%s/%s", VECTORS, e->d_name);
    }
    closedir(d);
}

/* ---- the vectors ---- */

static void check_vector(const char *dir, attest_signer *signer, attest_keyring *ring)
{
    vector_facts vf;
    load_facts(dir, &vf);
    char path[600];
    sl_buf want = { 0 }, got = { 0 };

    snprintf(path, sizeof(path), "%s/statement.json", dir);
    read_file(path, &want);
    assert_true(sl_ok(attest_statement(&got, &vf.facts)));
    assert_same_bytes(&got, &want, path);

    snprintf(path, sizeof(path), "%s/pae.bin", dir);
    read_file(path, &want);
    sl_buf pae = { 0 };
    assert_true(sl_ok(attest_pae(&pae, sl_cursor_from_cstr(ATTEST_INTOTO_PAYLOAD_TYPE), sl_cursor_from_buf(&got))));
    assert_same_bytes(&pae, &want, path);
    sl_buf_clean_up(&pae);

    attest_headers h = { 0 };
    assert_true(sl_ok(attest_sign_promotion(signer, &vf.facts, &h)));
    sl_buf text = { 0 };
    for (size_t i = 0; i < h.count; i++) {
        assert_true(sl_ok(sl_buf_append_cursor(&text, h.pairs[2 * i])));
        assert_true(sl_ok(sl_buf_append_cstr(&text, ": ")));
        assert_true(sl_ok(sl_buf_append_cursor(&text, h.pairs[2 * i + 1])));
        assert_true(sl_ok(sl_buf_append_byte(&text, '\n')));
    }
    snprintf(path, sizeof(path), "%s/metadata.txt", dir);
    read_file(path, &want);
    assert_same_bytes(&text, &want, path);
    snprintf(path, sizeof(path), "%s/metadata-bytes.txt", dir);
    read_file(path, &want);
    assert_int_equal(h.bytes, strtoul(sl_buf_cstr(&want), NULL, 10));
    assert_true(h.bytes <= ATTEST_METADATA_LIMIT);

    /* read back from the file's metadata: the same statement, verified */
    sl_cursor pairs[64];
    size_t n = parse_metadata(&text, pairs, 32);
    attest_object o = { .key = vf.facts.trusted_key, .content_type = vf.facts.media_type, .metadata = pairs,
                        .metadata_count = n, .sha256 = vf.facts.sha256 };
    attest_verdict v;
    assert_true(sl_ok(attest_verify_object(ring, &o, &v)));
    if (v.reason != ATTEST_VERIFIED) fail_msg("%s: %s: %s", dir, attest_reason_name(v.reason), v.detail);
    assert_same_bytes(&v.statement, &got, "the rebuilt statement");
    snprintf(path, sizeof(path), "%s/envelope.json", dir);
    read_file(path, &want);
    assert_same_bytes(&v.envelope, &want, path);

    attest_verdict_clean_up(&v);
    attest_headers_clean_up(&h);
    sl_buf_clean_up(&text);
    sl_buf_clean_up(&want);
    sl_buf_clean_up(&got);
    json_decref(vf.doc);
}

static void vectors_are_reproduced_and_verify(void **state)
{
    (void)state;
    attest_signer *signer = vector_signer();
    attest_keyring *ring = ring_of(VECTORS "/signing.pub");
    char dirs[16][512];
    size_t count;
    case_dirs(dirs, &count, 16);
    assert_true(count >= 3);
    for (size_t i = 0; i < count; i++) check_vector(dirs[i], signer, ring);
    attest_keyring_destroy(ring);
    attest_signer_destroy(signer);
}

/* ---- verdicts ---- */

typedef struct signed_object {
    vector_facts vf;
    attest_headers h;
    sl_cursor pairs[64];
    size_t count;
    sl_buf store; /* changed values live here */
} signed_object;

static void sign_auto_vector(signed_object *so, attest_signer *signer)
{
    memset(so, 0, sizeof(*so));
    load_facts(VECTORS "/auto", &so->vf);
    assert_true(sl_ok(attest_sign_promotion(signer, &so->vf.facts, &so->h)));
    so->count = so->h.count;
    memcpy(so->pairs, so->h.pairs, 2 * so->h.count * sizeof(sl_cursor));
    assert_true(sl_ok(sl_buf_reserve(&so->store, 4096))); /* never moves below */
}

static void signed_object_clean_up(signed_object *so)
{
    attest_headers_clean_up(&so->h);
    sl_buf_clean_up(&so->store);
    json_decref(so->vf.doc);
}

static attest_reason verdict_of(const attest_keyring *ring, const signed_object *so, sl_cursor key, sl_cursor type,
                                sl_cursor sha, char *detail, size_t detail_size)
{
    attest_object o = { .key = key, .content_type = type, .metadata = so->pairs, .metadata_count = so->count,
                        .sha256 = sha };
    attest_verdict v;
    assert_true(sl_ok(attest_verify_object(ring, &o, &v)));
    attest_reason r = v.reason;
    if (detail) snprintf(detail, detail_size, "%s", v.detail);
    attest_verdict_clean_up(&v);
    return r;
}

static attest_reason verdict(const attest_keyring *ring, const signed_object *so)
{
    return verdict_of(ring, so, so->vf.facts.trusted_key, so->vf.facts.media_type, so->vf.facts.sha256, NULL, 0);
}

static void set_value(signed_object *so, const char *name, const char *value)
{
    for (size_t i = 0; i < so->count; i++) {
        if (!sl_cursor_eq_cstr(so->pairs[2 * i], name)) continue;
        size_t at = so->store.len;
        assert_true(sl_ok(sl_buf_append_cstr(&so->store, value)));
        so->pairs[2 * i + 1] = sl_cursor_from_bytes(so->store.data + at, strlen(value));
        return;
    }
    fail_msg("no field %s", name);
}

static void verdicts_name_each_kind_of_tampering(void **state)
{
    (void)state;
    attest_signer *signer = vector_signer();
    attest_keyring *ring = ring_of(VECTORS "/signing.pub");
    signed_object so;
    sign_auto_vector(&so, signer);
    assert_int_equal(verdict(ring, &so), ATTEST_VERIFIED);
    char detail[512];

    /* one changed byte of the content */
    char other[65];
    memcpy(other, so.vf.facts.sha256.ptr, 64);
    other[63] = other[63] == '0' ? '1' : '0';
    other[64] = '\0';
    assert_int_equal(verdict_of(ring, &so, so.vf.facts.trusted_key, so.vf.facts.media_type, sl_cursor_from_cstr(other),
                                detail, sizeof(detail)),
                     ATTEST_CONTENT_CHANGED);
    assert_non_null(strstr(detail, other));
    /* copied to another key */
    assert_int_equal(verdict_of(ring, &so, sl_cursor_from_cstr("metrics/other-task/out.csv"), so.vf.facts.media_type,
                                so.vf.facts.sha256, NULL, 0),
                     ATTEST_MOVED);
    /* another Content-Type */
    assert_int_equal(verdict_of(ring, &so, so.vf.facts.trusted_key, sl_cursor_from_cstr("application/pdf"),
                                so.vf.facts.sha256, NULL, 0),
                     ATTEST_BAD_SIGNATURE);

    /* each metadata field changed alone */
    static const struct {
        const char *name, *value;
        attest_reason want;
    } changes[] = {
        { "sluice-sha256", "0000000000000000000000000000000000000000000000000000000000000000", ATTEST_BAD_SIGNATURE },
        { "sluice-artifact", "97b9918483abbebe3b47f9d814ecf40f", ATTEST_BAD_SIGNATURE },
        { "sluice-task", "another-task", ATTEST_BAD_SIGNATURE },
        { "sluice-route", "reports", ATTEST_BAD_SIGNATURE },
        { "sluice-decision", "review", ATTEST_BAD_SIGNATURE },
        { "sluice-attestation", "2", ATTEST_MALFORMED },
        { "sluice-staging", "4/in/", ATTEST_BAD_SIGNATURE },
        { "sluice-checks", "key,metadata,size,sha256,extension", ATTEST_BAD_SIGNATURE },
        { "sluice-findings", "1", ATTEST_BAD_SIGNATURE },
        { "sluice-reviewers", "mallory", ATTEST_BAD_SIGNATURE },
        { "sluice-times", "1764960000123,1764960000456,1764960000457,1764960000790", ATTEST_BAD_SIGNATURE },
        { "sluice-subject", "0123456789abcdef", ATTEST_MOVED },
        { "sluice-keyid", "0000000000000000000000000000000000000000000000000000000000000000", ATTEST_UNKNOWN_KEY },
        { "sluice-signature",
          "AM3FJJpdhP97l+Xm4g30HG+n0kgYgwcxrnQ5pfuhUyYVc2qBnTtjtjF5D4yWxNB0CxmoI4+/QSQdbbMprS74CQ==",
          ATTEST_BAD_SIGNATURE },
    };
    for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        signed_object copy = so;
        set_value(&copy, changes[i].name, changes[i].value);
        so.store = copy.store; /* the store may be shared; it never moves */
        attest_reason got = verdict_of(ring, &copy, so.vf.facts.trusted_key, so.vf.facts.media_type,
                                       so.vf.facts.sha256, detail, sizeof(detail));
        if (got != changes[i].want)
            fail_msg("%s changed: %s (%s), want %s", changes[i].name, attest_reason_name(got), detail,
                     attest_reason_name(changes[i].want));
    }

    /* a field added after promotion; one removed; none at all */
    signed_object extra = so;
    extra.pairs[2 * extra.count] = sl_cursor_from_cstr("classification");
    extra.pairs[2 * extra.count + 1] = sl_cursor_from_cstr("public");
    extra.count++;
    assert_int_equal(verdict(ring, &extra), ATTEST_UNCOVERED_METADATA);
    signed_object fewer = so;
    fewer.count--;
    assert_int_equal(verdict(ring, &fewer), ATTEST_MALFORMED);
    signed_object none = so;
    none.count = 5; /* only the five fields of old promotions */
    assert_int_equal(verdict(ring, &none), ATTEST_NOT_ATTESTED);

    signed_object_clean_up(&so);
    attest_keyring_destroy(ring);
    attest_signer_destroy(signer);
}

static void rotated_out_key_verifies_while_trusted(void **state)
{
    (void)state;
    char prefix[128], pub[140];
    snprintf(prefix, sizeof(prefix), "%s/new", tmpdir);
    snprintf(pub, sizeof(pub), "%s.pub", prefix);
    char id[ATTEST_KEY_ID_LEN + 1];
    assert_true(sl_ok(attest_keygen(prefix, id)));
    attest_signer *old = vector_signer();
    signed_object so;
    sign_auto_vector(&so, old); /* signed before the rotation */

    attest_keyring *both = ring_of(pub);
    assert_true(sl_ok(attest_keyring_add_file(both, VECTORS "/signing.pub")));
    assert_int_equal(attest_keyring_count(both), 2);
    assert_int_equal(verdict(both, &so), ATTEST_VERIFIED);
    attest_keyring *only_new = ring_of(pub);
    assert_int_equal(verdict(only_new, &so), ATTEST_UNKNOWN_KEY);

    signed_object_clean_up(&so);
    attest_keyring_destroy(both);
    attest_keyring_destroy(only_new);
    attest_signer_destroy(old);
}

/* ---- the decoder is strict ---- */

static void decoder_accepts_one_spelling_only(void **state)
{
    (void)state;
    attest_signer *signer = vector_signer();
    signed_object so;
    sign_auto_vector(&so, signer);
    static const struct {
        const char *name, *value, *says;
    } bad[] = {
        { "sluice-checks", "key,type=libmagic%2e5.44", "upper-case hex" },
        { "sluice-checks", "key,type=libmagic%41", "written as itself" },
        { "sluice-checks", "key,type=libmagic 5.44", "must be %-encoded" },
        { "sluice-checks", "key,type=", "empty version" },
        { "sluice-checks", "key,,type", "empty" },
        { "sluice-checks", "key,type=libmagic%2", "two hex digits" },
        { "sluice-findings", "01", "leading zeros" },
        { "sluice-findings", "9007199254740993", "larger than" },
        { "sluice-times", "1,2,3", "4 times" },
        { "sluice-times", "-,-,-,-", "decimal" },
        { "sluice-times", "0,1,2,3", "'-'" },
        { "sluice-staging", "x/in/", "decimal" },
        { "sluice-staging", "in", "suffix length" },
        { "sluice-sha256", "8A6D5F0F3B0D1D2E4A7C1F5E9B2A6C3D4E5F60718293A4B5C6D7E8F901A2B3C4", "lower-case hex" },
        { "sluice-keyid", "abc", "64 lower-case hex" },
        { "sluice-subject", "B220DACA8133B52B", "lower-case hex" },
        { "sluice-signature", "PM3FJJpdhP97l+Xm4g30HG+n0kgYgwcxrnQ5pfuhUyYVc2qBnTtjtjF5D4yWxNB0CxmoI4+/QSQdbbMprS74CR==",
          "padding bits" },
        { "sluice-signature", "PM3FJJpdhP97l-Xm4g30HG+n0kgYgwcxrnQ5pfuhUyYVc2qBnTtjtjF5D4yWxNB0CxmoI4+/QSQdbbMprS74CQ==",
          "alphabet" },
        { "sluice-reviewers", "", "empty" },
        { "sluice-reviewers", "a,b,c,d,e,f,g,h,i", "more than" },
        { "sluice-task", "", "empty" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        signed_object copy = so;
        set_value(&copy, bad[i].name, bad[i].value);
        so.store = copy.store;
        attest_decoded d;
        sl_error_clear();
        if (sl_ok(attest_metadata_decode(copy.pairs, copy.count, &d)))
            fail_msg("%s: %s was accepted", bad[i].name, bad[i].value);
        assert_int_equal(sl_error_last(), SL_ERR_PARSE);
        if (strstr(sl_error_detail(), bad[i].says) == NULL)
            fail_msg("%s: %s: \"%s\" does not say \"%s\"", bad[i].name, bad[i].value, sl_error_detail(), bad[i].says);
    }

    /* twice, unknown, missing */
    signed_object twice = so;
    twice.pairs[2 * twice.count] = sl_cursor_from_cstr("Sluice-Task");
    twice.pairs[2 * twice.count + 1] = sl_cursor_from_cstr("x");
    twice.count++;
    attest_decoded d;
    assert_true(sl_failed(attest_metadata_decode(twice.pairs, twice.count, &d)));
    assert_non_null(strstr(sl_error_detail(), "twice"));
    twice.pairs[2 * (twice.count - 1)] = sl_cursor_from_cstr("sluice-color");
    assert_true(sl_failed(attest_metadata_decode(twice.pairs, twice.count, &d)));
    assert_non_null(strstr(sl_error_detail(), "not part of an attestation"));

    signed_object_clean_up(&so);
    attest_signer_destroy(signer);
}

/* ---- limits and facts ---- */

static void metadata_over_two_kib_is_refused(void **state)
{
    (void)state;
    attest_signer *signer = vector_signer();
    vector_facts vf;
    load_facts(VECTORS "/auto", &vf);
    char staging[1500];
    memset(staging, 's', sizeof(staging) - 1);
    staging[sizeof(staging) - 1] = '\0';
    vf.facts.staging_key = sl_cursor_from_cstr(staging);
    attest_headers h = { 0 };
    sl_error_clear();
    assert_true(sl_failed(attest_sign_promotion(signer, &vf.facts, &h)));
    assert_int_equal(sl_error_last(), SL_ERR_LIMIT);
    assert_non_null(strstr(sl_error_detail(), "S3 allows 2048"));
    assert_int_equal(h.count, 0);

    /* facts that cannot be attested */
    json_decref(vf.doc);
    load_facts(VECTORS "/auto", &vf);
    vector_facts copy = vf;
    copy.facts.sha256 = sl_cursor_from_cstr("abc");
    assert_true(sl_failed(attest_sign_promotion(signer, &copy.facts, &h)));
    copy = vf;
    copy.facts.check_count = 0;
    assert_true(sl_failed(attest_sign_promotion(signer, &copy.facts, &h)));
    copy = vf;
    copy.facts.task = sl_cursor_from_bytes("\xc3\x28", 2);
    assert_true(sl_failed(attest_sign_promotion(signer, &copy.facts, &h)));
    assert_int_equal(sl_error_last(), SL_ERR_ENCODING);
    json_decref(vf.doc);
    attest_signer_destroy(signer);
}

static void base64_and_json_strings(void **state)
{
    (void)state;
    sl_buf b = { 0 }, back = { 0 };
    for (size_t n = 0; n < 7; n++) {
        sl_buf_reset(&b);
        sl_buf_reset(&back);
        assert_true(sl_ok(attest_base64_encode(&b, (const uint8_t *)"foobar", n)));
        static const char *const want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
        assert_string_equal(sl_buf_cstr(&b), want[n]); /* RFC 4648 section 10 */
        assert_true(sl_ok(attest_base64_decode(&back, sl_cursor_from_buf(&b))));
        assert_int_equal(back.len, n);
        assert_memory_equal(back.data, "foobar", n);
    }
    sl_buf_reset(&back);
    assert_true(sl_failed(attest_base64_decode(&back, sl_cursor_from_cstr("Zh=="))));
    assert_true(sl_failed(attest_base64_decode(&back, sl_cursor_from_cstr("Zg="))));
    assert_true(sl_failed(attest_base64_decode(&back, sl_cursor_from_cstr("Z==="))));
    sl_buf_reset(&b);
    assert_true(sl_ok(attest_json_string(&b, sl_cursor_from_bytes("a\"\\\b\t\n\f\r\x01\x1f/\xc3\xa9\0z", 15))));
    assert_string_equal(sl_buf_cstr(&b), "\"a\\\"\\\\\\b\\t\\n\\f\\r\\u0001\\u001f/\xc3\xa9\\u0000z\"");
    assert_false(attest_utf8_valid(sl_cursor_from_cstr("\xc0\xaf")));         /* overlong */
    assert_false(attest_utf8_valid(sl_cursor_from_cstr("\xed\xa0\x80")));     /* surrogate */
    assert_false(attest_utf8_valid(sl_cursor_from_cstr("\xf4\x90\x80\x80"))); /* > U+10FFFF */
    assert_false(attest_utf8_valid(sl_cursor_from_cstr("\xe2\x82")));         /* cut short */
    assert_true(attest_utf8_valid(sl_cursor_from_cstr("\xf0\x9f\x9a\x80")));
    sl_buf_clean_up(&b);
    sl_buf_clean_up(&back);
}

/* ---- key files ---- */

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void signing_key_file_is_checked(void **state)
{
    (void)state;
    char prefix[128], key[140], pub[140], link[140], junk[140];
    snprintf(prefix, sizeof(prefix), "%s/k", tmpdir);
    snprintf(key, sizeof(key), "%s.key", prefix);
    snprintf(pub, sizeof(pub), "%s.pub", prefix);
    char id[ATTEST_KEY_ID_LEN + 1];
    assert_true(sl_ok(attest_keygen(prefix, id)));
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(pub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    attest_signer *s = NULL;
    assert_true(sl_ok(attest_signer_load(key, &s)));
    assert_string_equal(attest_signer_key_id(s), id);
    attest_keyring *ring = ring_of(pub);
    assert_true(attest_keyring_has(ring, sl_cursor_from_cstr(id)));
    uint8_t sig[ATTEST_SIGNATURE_LEN];
    assert_true(sl_ok(attest_signer_sign(s, (const uint8_t *)"m", 1, sig)));
    assert_true(sl_ok(attest_keyring_verify(ring, sl_cursor_from_cstr(id), (const uint8_t *)"m", 1, sig, sizeof(sig))));
    sig[0] ^= 1;
    sl_error_clear();
    assert_true(sl_failed(attest_keyring_verify(ring, sl_cursor_from_cstr(id), (const uint8_t *)"m", 1, sig, sizeof(sig))));
    assert_int_equal(sl_error_last(), SL_ERR_CRYPTO);
    attest_signer_destroy(s);
    attest_keyring_destroy(ring);

    /* never overwritten */
    sl_error_clear();
    assert_true(sl_failed(attest_keygen(prefix, id)));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);

    /* group- or world-readable: refused, saying what to do */
    assert_int_equal(chmod(key, 0640), 0);
    sl_error_clear();
    assert_true(sl_failed(attest_signer_load(key, &s)));
    assert_int_equal(sl_error_last(), SL_ERR_STATE);
    assert_non_null(strstr(sl_error_detail(), "chmod 600"));
    assert_non_null(strstr(sl_error_detail(), "0640"));
    assert_int_equal(chmod(key, 0400), 0);
    assert_true(sl_ok(attest_signer_load(key, &s)));
    attest_signer_destroy(s);

    /* a symbolic link, a public key, not a key, a missing file */
    snprintf(link, sizeof(link), "%s/link.key", tmpdir);
    assert_int_equal(symlink(key, link), 0);
    assert_true(sl_failed(attest_signer_load(link, &s)));
    assert_non_null(strstr(sl_error_detail(), "symbolic link"));
    assert_int_equal(chmod(pub, 0600), 0);
    assert_true(sl_failed(attest_signer_load(pub, &s)));
    assert_int_equal(sl_error_last(), SL_ERR_PARSE);
    snprintf(junk, sizeof(junk), "%s/junk.key", tmpdir);
    write_text(junk, "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", 0600);
    assert_true(sl_failed(attest_signer_load(junk, &s)));
    assert_int_equal(sl_error_last(), SL_ERR_PARSE);
    assert_true(sl_failed(attest_signer_load("/nonexistent/attest.key", &s)));
    assert_int_equal(sl_error_last(), SL_ERR_IO);
    ring = ring_of(NULL);
    assert_true(sl_failed(attest_keyring_add_file(ring, junk)));
    /* an RSA key is not an Ed25519 key */
    char rsa[160], cmd[400];
    snprintf(rsa, sizeof(rsa), "%s/rsa.pem", tmpdir);
    snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 -out '%s' 2>/dev/null", rsa);
    if (system(cmd) == 0) {
        assert_true(sl_failed(attest_keyring_add_file(ring, rsa)));
        assert_non_null(strstr(sl_error_detail(), "not an Ed25519 key"));
    }
    attest_keyring_destroy(ring);
}

static void keygen_command_reports(void **state)
{
    (void)state;
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s/cmd", tmpdir);
    FILE *out = tmpfile(), *err = tmpfile();
    assert_int_equal(attest_keygen_command(prefix, out, err), 0);
    assert_int_equal(attest_keygen_command(prefix, out, err), 1);
    assert_int_equal(attest_keygen_command(NULL, out, err), 2);
    char text[1024] = { 0 };
    rewind(err);
    assert_true(fread(text, 1, sizeof(text) - 1, err) > 0);
    assert_non_null(strstr(text, "never overwritten"));
    fclose(out);
    fclose(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vectors_are_reproduced_and_verify),
        cmocka_unit_test(verdicts_name_each_kind_of_tampering),
        cmocka_unit_test(rotated_out_key_verifies_while_trusted),
        cmocka_unit_test(decoder_accepts_one_spelling_only),
        cmocka_unit_test(metadata_over_two_kib_is_refused),
        cmocka_unit_test(base64_and_json_strings),
        cmocka_unit_test(signing_key_file_is_checked),
        cmocka_unit_test(keygen_command_reports),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}

/*
 * keys.c — Ed25519 signers, keyrings and key generation of keys.h, on OpenSSL's EVP
 * interface. Key files go through one reader (read_key_file: no symbolic link, a
 * regular file, bounded size, optionally owner-only) and one PEM parser per kind; key
 * ids come from one function (key_id_of) so signer and ring always agree.
 */
#include "attest/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "util/alloc.h"

struct attest_signer {
    EVP_PKEY *key;
    char key_id[ATTEST_KEY_ID_LEN + 1];
};

struct ring_key {
    EVP_PKEY *key;
    char key_id[ATTEST_KEY_ID_LEN + 1];
};

struct attest_keyring {
    struct ring_key *keys;
    size_t count;
};

/* ---- files ---- */

/* Reads a key file into out: not a symbolic link, a regular file of at most
 * ATTEST_MAX_KEY_FILE bytes; with owner_only, no group/other permission bits. */
static sl_result read_key_file(const char *path, bool owner_only, sl_buf *out)
{
    ENSURE(path != NULL && path[0] != '\0', SL_ERR_INVALID_ARGUMENT, "no key file given");
    int fd;
    do fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int err = errno;
        ENSURE(err != ELOOP, SL_ERR_IO, "%s is a symbolic link; give the key file itself", path);
        RAISE(SL_ERR_IO, "cannot open the key file %s: %s", path, strerror(err));
    }
    sl_result result = SL_FAILURE;
    struct stat st;
    ENSURE_CLEANUP(fstat(fd, &st) == 0, SL_ERR_IO, "%s: fstat: %s", path, strerror(errno));
    ENSURE_CLEANUP(S_ISREG(st.st_mode), SL_ERR_IO, "the key file %s is not a regular file", path);
    ENSURE_CLEANUP(!owner_only || (st.st_mode & 077) == 0, SL_ERR_STATE,
                   "the signing key %s has mode %04o: others may read it; it must be readable by its owner "
                   "only (chmod 600 %s)",
                   path, (unsigned)(st.st_mode & 07777), path);
    ENSURE_CLEANUP((size_t)st.st_size <= ATTEST_MAX_KEY_FILE, SL_ERR_PARSE, "the key file %s is %lld bytes: not a key",
                   path, (long long)st.st_size);
    GUARD_CLEANUP(sl_buf_reserve(out, ATTEST_MAX_KEY_FILE));
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, out->data + got, ATTEST_MAX_KEY_FILE - got);
        if (n < 0 && errno == EINTR) continue;
        ENSURE_CLEANUP(n >= 0, SL_ERR_IO, "%s: read: %s", path, strerror(errno));
        if (n == 0) break;
        got += (size_t)n;
        ENSURE_CLEANUP(got < ATTEST_MAX_KEY_FILE, SL_ERR_PARSE, "the key file %s grew past %zu bytes", path,
                       ATTEST_MAX_KEY_FILE);
    }
    out->len = got;
    out->data[got] = '\0';
    result = SL_SUCCESS;
cleanup:
    close(fd);
    return result;
}

/* Creates `path` new (O_EXCL, mode), writes all of data, fsyncs. */
static sl_result write_new_file(const char *path, const uint8_t *data, size_t len, mode_t mode)
{
    int fd;
    do fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int err = errno;
        ENSURE(err != EEXIST, SL_ERR_STATE, "%s exists; never overwritten (choose another name)", path);
        RAISE(SL_ERR_IO, "cannot create %s: %s", path, strerror(err));
    }
    sl_result result = SL_FAILURE;
    ENSURE_CLEANUP(fchmod(fd, mode) == 0, SL_ERR_IO, "%s: fchmod: %s", path, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        ENSURE_CLEANUP(n > 0, SL_ERR_IO, "%s: write: %s", path, n < 0 ? strerror(errno) : "no progress");
        done += (size_t)n;
    }
    ENSURE_CLEANUP(fsync(fd) == 0, SL_ERR_IO, "%s: fsync: %s", path, strerror(errno));
    result = SL_SUCCESS;
cleanup:
    close(fd);
    return result;
}

/* ---- keys ---- */

static sl_result key_id_of(EVP_PKEY *key, char out[ATTEST_KEY_ID_LEN + 1])
{
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(key, &der);
    ENSURE(der_len > 0, SL_ERR_CRYPTO, "i2d_PUBKEY failed");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    int ok = EVP_Digest(der, (size_t)der_len, digest, &digest_len, EVP_sha256(), NULL);
    OPENSSL_free(der);
    ENSURE(ok == 1 && digest_len == 32, SL_ERR_CRYPTO, "SHA-256 of the public key failed");
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[ATTEST_KEY_ID_LEN] = '\0';
    return SL_SUCCESS;
}

/* Parses a PEM private key (private) or public key / private key (!private). */
static sl_result parse_pem(sl_cursor pem, bool private_only, const char *what, EVP_PKEY **out)
{
    ENSURE(pem.len <= ATTEST_MAX_KEY_FILE, SL_ERR_PARSE, "%s: %zu bytes: not a key", what, pem.len);
    BIO *bio = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    ENSURE(bio != NULL, SL_ERR_CRYPTO, "BIO_new_mem_buf failed");
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (key == NULL && !private_only) {
        (void)BIO_reset(bio);
        key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    ENSURE(key != NULL, SL_ERR_PARSE, "%s: not a PEM %s (write one with sluice-mover keygen)", what,
           private_only ? "private key" : "public or private key");
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(key);
        RAISE(SL_ERR_PARSE, "%s: not an Ed25519 key", what);
    }
    *out = key;
    return SL_SUCCESS;
}

sl_result attest_signer_load(const char *path, attest_signer **out)
{
    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "attest_signer_load needs an output");
    sl_buf pem = { 0 };
    sl_result result = SL_FAILURE;
    attest_signer *s = sl_calloc(1, sizeof(*s));
    GUARD_CLEANUP(read_key_file(path, true, &pem));
    GUARD_CLEANUP(parse_pem(sl_cursor_from_buf(&pem), true, path, &s->key));
    GUARD_CLEANUP(key_id_of(s->key, s->key_id));
    *out = s;
    s = NULL;
    result = SL_SUCCESS;
cleanup:
    sl_buf_clean_up_secure(&pem);
    attest_signer_destroy(s);
    return result;
}

void attest_signer_destroy(attest_signer *signer)
{
    if (signer == NULL) return;
    EVP_PKEY_free(signer->key);
    sl_free(signer);
}

const char *attest_signer_key_id(const attest_signer *signer) { return signer->key_id; }

sl_result attest_signer_sign(const attest_signer *signer, const uint8_t *msg, size_t len,
                             uint8_t sig[ATTEST_SIGNATURE_LEN])
{
    ENSURE(signer != NULL && (msg != NULL || len == 0) && sig != NULL, SL_ERR_INVALID_ARGUMENT,
           "attest_signer_sign needs a signer, a message and room for the signature");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ENSURE(ctx != NULL, SL_ERR_CRYPTO, "EVP_MD_CTX_new failed");
    sl_result result = SL_FAILURE;
    size_t sig_len = ATTEST_SIGNATURE_LEN;
    GUARD_OSSL_CLEANUP(EVP_DigestSignInit(ctx, NULL, NULL, NULL, signer->key), SL_ERR_CRYPTO);
    GUARD_OSSL_CLEANUP(EVP_DigestSign(ctx, sig, &sig_len, msg, len), SL_ERR_CRYPTO);
    ENSURE_CLEANUP(sig_len == ATTEST_SIGNATURE_LEN, SL_ERR_CRYPTO, "Ed25519 gave a %zu-byte signature", sig_len);
    result = SL_SUCCESS;
cleanup:
    EVP_MD_CTX_free(ctx);
    return result;
}

/* ---- keyrings ---- */

sl_result attest_keyring_new(attest_keyring **out)
{
    ENSURE(out != NULL, SL_ERR_INVALID_ARGUMENT, "attest_keyring_new needs an output");
    *out = sl_calloc(1, sizeof(**out));
    return SL_SUCCESS;
}

void attest_keyring_destroy(attest_keyring *ring)
{
    if (ring == NULL) return;
    for (size_t i = 0; i < ring->count; i++) EVP_PKEY_free(ring->keys[i].key);
    sl_free(ring->keys);
    sl_free(ring);
}

static const struct ring_key *find(const attest_keyring *ring, sl_cursor key_id)
{
    for (size_t i = 0; ring != NULL && i < ring->count; i++)
        if (sl_cursor_eq_cstr(key_id, ring->keys[i].key_id)) return &ring->keys[i];
    return NULL;
}

/* Takes `key` (freed on every path). */
static sl_result add_key(attest_keyring *ring, EVP_PKEY *key)
{
    char id[ATTEST_KEY_ID_LEN + 1];
    if (sl_failed(key_id_of(key, id))) {
        EVP_PKEY_free(key);
        return SL_FAILURE;
    }
    if (find(ring, sl_cursor_from_cstr(id)) != NULL) {
        EVP_PKEY_free(key);
        return SL_SUCCESS;
    }
    size_t bytes;
    if (!sl_mul_size(ring->count + 1, sizeof(*ring->keys), &bytes)) {
        EVP_PKEY_free(key);
        RAISE(SL_ERR_OVERFLOW, "too many keys in the ring");
    }
    ring->keys = sl_realloc(ring->keys, bytes);
    ring->keys[ring->count].key = key;
    memcpy(ring->keys[ring->count].key_id, id, sizeof(id));
    ring->count++;
    return SL_SUCCESS;
}

sl_result attest_keyring_add_pem(attest_keyring *ring, sl_cursor pem, const char *what)
{
    ENSURE(ring != NULL, SL_ERR_INVALID_ARGUMENT, "attest_keyring_add_pem needs a ring");
    EVP_PKEY *key = NULL;
    GUARD(parse_pem(pem, false, what ? what : "key", &key));
    return add_key(ring, key);
}

sl_result attest_keyring_add_file(attest_keyring *ring, const char *path)
{
    ENSURE(ring != NULL, SL_ERR_INVALID_ARGUMENT, "attest_keyring_add_file needs a ring");
    sl_buf pem = { 0 };
    sl_result result = read_key_file(path, false, &pem);
    if (sl_ok(result)) result = attest_keyring_add_pem(ring, sl_cursor_from_buf(&pem), path);
    sl_buf_clean_up_secure(&pem); /* it may have been a private key */
    return result;
}

sl_result attest_keyring_add_signer(attest_keyring *ring, const attest_signer *signer)
{
    ENSURE(ring != NULL && signer != NULL, SL_ERR_INVALID_ARGUMENT, "attest_keyring_add_signer needs a ring and a signer");
    ENSURE(EVP_PKEY_up_ref(signer->key) == 1, SL_ERR_CRYPTO, "EVP_PKEY_up_ref failed");
    return add_key(ring, signer->key);
}

size_t attest_keyring_count(const attest_keyring *ring) { return ring ? ring->count : 0; }

bool attest_keyring_has(const attest_keyring *ring, sl_cursor key_id) { return find(ring, key_id) != NULL; }

sl_result attest_keyring_verify(const attest_keyring *ring, sl_cursor key_id, const uint8_t *msg, size_t len,
                                const uint8_t *sig, size_t sig_len)
{
    const struct ring_key *k = find(ring, key_id);
    ENSURE(k != NULL, SL_ERR_NOT_FOUND, "key %.*s is not among the %zu trusted keys", (int)(key_id.len > 64 ? 64 : key_id.len),
           (const char *)key_id.ptr, attest_keyring_count(ring));
    ENSURE(sig_len == ATTEST_SIGNATURE_LEN, SL_ERR_CRYPTO, "a signature of %zu bytes (Ed25519 has 64)", sig_len);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ENSURE(ctx != NULL, SL_ERR_CRYPTO, "EVP_MD_CTX_new failed");
    sl_result result = SL_FAILURE;
    GUARD_OSSL_CLEANUP(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->key), SL_ERR_CRYPTO);
    ENSURE_CLEANUP(EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1, SL_ERR_CRYPTO,
                   "the signature does not verify with key %s", k->key_id);
    result = SL_SUCCESS;
cleanup:
    EVP_MD_CTX_free(ctx);
    return result;
}

/* ---- key generation ---- */

static sl_result pem_of(EVP_PKEY *key, bool private_part, sl_buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    ENSURE(bio != NULL, SL_ERR_CRYPTO, "BIO_new failed");
    int ok = private_part ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_PUBKEY(bio, key);
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    sl_result result = SL_FAILURE;
    ENSURE_CLEANUP(ok == 1 && len > 0, SL_ERR_CRYPTO, "PEM encoding of the key failed");
    GUARD_CLEANUP(sl_buf_append(out, data, (size_t)len));
    result = SL_SUCCESS;
cleanup:
    if (len > 0) OPENSSL_cleanse(data, (size_t)len);
    BIO_free(bio);
    return result;
}

sl_result attest_keygen(const char *prefix, char key_id[ATTEST_KEY_ID_LEN + 1])
{
    ENSURE(prefix != NULL && prefix[0] != '\0' && key_id != NULL, SL_ERR_INVALID_ARGUMENT,
           "attest_keygen needs a file prefix");
    sl_buf key_path = { 0 }, pub_path = { 0 }, private_pem = { 0 }, public_pem = { 0 };
    sl_result result = SL_FAILURE;
    bool key_written = false;
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ENSURE_CLEANUP(key != NULL, SL_ERR_CRYPTO, "Ed25519 key generation failed");
    GUARD_CLEANUP(sl_buf_appendf(&key_path, "%s.key", prefix));
    GUARD_CLEANUP(sl_buf_appendf(&pub_path, "%s.pub", prefix));
    struct stat st;
    ENSURE_CLEANUP(lstat(sl_buf_cstr(&pub_path), &st) != 0, SL_ERR_STATE, "%s exists; never overwritten",
                   sl_buf_cstr(&pub_path));
    GUARD_CLEANUP(pem_of(key, true, &private_pem));
    GUARD_CLEANUP(pem_of(key, false, &public_pem));
    GUARD_CLEANUP(key_id_of(key, key_id));
    GUARD_CLEANUP(write_new_file(sl_buf_cstr(&key_path), private_pem.data, private_pem.len, 0600));
    key_written = true;
    GUARD_CLEANUP(write_new_file(sl_buf_cstr(&pub_path), public_pem.data, public_pem.len, 0644));
    result = SL_SUCCESS;
cleanup:
    if (sl_failed(result) && key_written) (void)unlink(sl_buf_cstr(&key_path));
    EVP_PKEY_free(key);
    sl_buf_clean_up_secure(&private_pem);
    sl_buf_clean_up(&public_pem);
    sl_buf_clean_up(&key_path);
    sl_buf_clean_up(&pub_path);
    return result;
}

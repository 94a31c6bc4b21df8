/*
 * keys.h — sluice's signing identity: Ed25519 keys through OpenSSL's EVP interface (no
 * other crypto library), their key ids, and the ring of public keys a verifier trusts.
 *
 * A signer is the private key the daemon reads at start. Its file must be a regular
 * file that only its owner may read (no group or other permission bit: mode 0600 or
 * 0400), holding a PKCS#8 PEM Ed25519 private key — what `sluice-mover keygen` writes.
 * A key id is the lower-case hex SHA-256 of the public key's DER SubjectPublicKeyInfo
 * (`openssl pkey -pubin -in KEY.pub -outform DER | openssl dgst -sha256`), so anyone
 * holding the public key can compute it. A keyring holds several public keys, looked up
 * by key id: one key signs, every key of the ring verifies, so a rotated-out key keeps
 * verifying what it signed while its public key stays in the ring.
 *
 * Ownership: signers and keyrings are heap objects (_new/_load, _destroy; destroy
 * accepts NULL); private key bytes read from a file are wiped once parsed.
 * Threading: a loaded signer or keyring is immutable and may be used from any thread.
 * Errors: SL_ERR_IO (a file cannot be read or written), SL_ERR_STATE (a key file's
 * mode lets others read it, a file to create exists), SL_ERR_PARSE (not a PEM Ed25519
 * key), SL_ERR_CRYPTO (OpenSSL failed), SL_ERR_NOT_FOUND (no such key id in the ring).
 */
#ifndef SLUICE_ATTEST_KEYS_H
#define SLUICE_ATTEST_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/error.h"

#define ATTEST_KEY_ID_LEN 64    /* hex characters */
#define ATTEST_SIGNATURE_LEN 64 /* bytes of an Ed25519 signature */
#define ATTEST_MAX_KEY_FILE ((size_t)64 * 1024)

typedef struct attest_signer attest_signer;
typedef struct attest_keyring attest_keyring;

/* Loads the private key at `path` (mode and format as above). The detail of an error
 * names the file and what to do ("chmod 600 FILE"). */
SL_MUST_CHECK sl_result attest_signer_load(const char *path, attest_signer **out);
void attest_signer_destroy(attest_signer *signer);

/* The key id (ATTEST_KEY_ID_LEN hex characters and a NUL), valid while the signer lives. */
const char *attest_signer_key_id(const attest_signer *signer);

/* Signs `len` bytes (Ed25519, RFC 8032: the message itself, no pre-hash). */
SL_MUST_CHECK sl_result attest_signer_sign(const attest_signer *signer, const uint8_t *msg, size_t len,
                                           uint8_t sig[ATTEST_SIGNATURE_LEN]);

SL_MUST_CHECK sl_result attest_keyring_new(attest_keyring **out);
void attest_keyring_destroy(attest_keyring *ring);

/* Adds the public key of a PEM file: a public key (SubjectPublicKeyInfo), or a private
 * key whose public half is taken. A key already in the ring is not added twice. */
SL_MUST_CHECK sl_result attest_keyring_add_file(attest_keyring *ring, const char *path);
/* Adds a PEM text (for tests and the fuzzer). `what` names it in errors. */
SL_MUST_CHECK sl_result attest_keyring_add_pem(attest_keyring *ring, sl_cursor pem, const char *what);
/* Adds the signer's public key. */
SL_MUST_CHECK sl_result attest_keyring_add_signer(attest_keyring *ring, const attest_signer *signer);

size_t attest_keyring_count(const attest_keyring *ring);
/* Whether the ring holds this key id. */
bool attest_keyring_has(const attest_keyring *ring, sl_cursor key_id);

/* Verifies an Ed25519 signature of `msg` with the ring's key `key_id`.
 * Errors: SL_ERR_NOT_FOUND (no such key in the ring), SL_ERR_CRYPTO (the signature does
 * not verify, or has the wrong length). */
SL_MUST_CHECK sl_result attest_keyring_verify(const attest_keyring *ring, sl_cursor key_id, const uint8_t *msg,
                                              size_t len, const uint8_t *sig, size_t sig_len);

/* Generates a key pair and writes `prefix`.key (PKCS#8 PEM, mode 0600) and `prefix`.pub
 * (PEM SubjectPublicKeyInfo, mode 0644), each created new (never overwritten: an
 * existing file is SL_ERR_STATE and nothing is written) and fsync'd. `key_id` gets the
 * new key's id. */
SL_MUST_CHECK sl_result attest_keygen(const char *prefix, char key_id[ATTEST_KEY_ID_LEN + 1]);

#endif /* SLUICE_ATTEST_KEYS_H */

/* gossip-crypto-backend-private.h — the interface between libgossip and its
 * crypto module.
 *
 * AES-GCM and the nonce generator live in a loadable module
 * ($(libdir)/gossip-1.0/crypto-openssl.so) that libgossip opens the first
 * time a keyring is made: linking OpenSSL's libcrypto costs every process
 * about 400 kB of private memory for its relocated tables, which only
 * clusters with encryption or a bearer token on should pay.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Bumped whenever the struct below changes. */
#define GOSSIP_CRYPTO_BACKEND_ABI 2

/* The symbol the module exports. */
#define GOSSIP_CRYPTO_BACKEND_SYMBOL "gossip_crypto_module_backend"

typedef struct {
  guint abi;
  /* One AES-GCM operation (AES-128/192/256 by @key_len) with a 96-bit nonce
   * and a 128-bit tag. On decryption @tag is the expected tag, on encryption
   * it receives the computed one. FALSE on any failure, authentication
   * failures included. Callable from any thread. */
  gboolean (*gcm_crypt)    (const guint8 *key, gsize key_len, gboolean encrypt,
                            const guint8 *nonce, const guint8 *aad, gsize aad_len,
                            const guint8 *in, gsize in_len, guint8 *out, guint8 *tag);
  /* Cryptographically secure random bytes. */
  gboolean (*random_bytes) (guint8 *buf, gsize len);
  /* Zeroes memory in a way the compiler cannot elide. */
  void     (*cleanse)      (void *p, gsize len);
  /* HMAC-SHA256 of @data under @key into @out (32 bytes). */
  gboolean (*hmac_sha256)  (const guint8 *key, gsize key_len, const guint8 *data, gsize len,
                            guint8 *out);
  /* HKDF-SHA256 (RFC 5869) of @ikm with @salt and @info, @out_len bytes. */
  gboolean (*hkdf_sha256)  (const guint8 *ikm, gsize ikm_len, const guint8 *salt, gsize salt_len,
                            const guint8 *info, gsize info_len, guint8 *out, gsize out_len);
  /* Compares in time independent of the contents: TRUE when equal. */
  gboolean (*equal)        (const guint8 *a, const guint8 *b, gsize len);
} GossipCryptoBackend;

const GossipCryptoBackend *gossip_crypto_module_backend (void);

G_END_DECLS

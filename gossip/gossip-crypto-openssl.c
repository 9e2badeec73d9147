/* gossip-crypto-openssl.c — libgossip's crypto module: AES-GCM, HMAC-SHA256
 * and HKDF through OpenSSL EVP, nonces from OpenSSL's CSPRNG.
 *
 * Built as a loadable module (see gossip-crypto-backend-private.h for why);
 * it exports nothing but gossip_crypto_module_backend().
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <limits.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "gossip-crypto-backend-private.h"

#define NONCE_SIZE 12
#define TAG_SIZE   16

/* The ciphers, fetched once: with OpenSSL 3 the EVP_aes_*_gcm() objects
 * are fetched again from the provider on every initialisation, which costs
 * more than sealing a small frame. Never freed: they live as long as the
 * module, which is never unloaded. */
static EVP_CIPHER *
gcm_cipher (gsize key_len)
{
  static EVP_CIPHER *ciphers[3];
  static const char * const names[3] = { "AES-128-GCM", "AES-192-GCM", "AES-256-GCM" };
  static GMutex lock;
  EVP_CIPHER *cipher;
  guint i;

  switch (key_len)
    {
    case 16: i = 0; break;
    case 24: i = 1; break;
    case 32: i = 2; break;
    default: return NULL;
    }
  cipher = g_atomic_pointer_get (&ciphers[i]);
  if (cipher == NULL)
    {
      /* A failed fetch (no provider) is tried again next time. */
      g_mutex_lock (&lock);
      cipher = ciphers[i];
      if (cipher == NULL)
        {
          cipher = EVP_CIPHER_fetch (NULL, names[i], NULL);
          g_atomic_pointer_set (&ciphers[i], cipher);
        }
      g_mutex_unlock (&lock);
    }
  return cipher;
}

/* A context of its own per operation, so that any number of threads may
 * seal and open with the same keys concurrently. */
static gboolean
openssl_gcm_crypt (const guint8 *key,
                   gsize         key_len,
                   gboolean      encrypt,
                   const guint8 *nonce,
                   const guint8 *aad,
                   gsize         aad_len,
                   const guint8 *in,
                   gsize         in_len,
                   guint8       *out,
                   guint8       *tag)
{
  const EVP_CIPHER *cipher = gcm_cipher (key_len);
  EVP_CIPHER_CTX *ctx;
  gboolean ok = FALSE;
  int n = 0;

  if (cipher == NULL)
    return FALSE;
  /* EVP counts in int; callers have checked the lengths already. */
  if (aad_len > INT_MAX || in_len > INT_MAX)
    return FALSE;

  ctx = EVP_CIPHER_CTX_new ();
  if (ctx == NULL)
    return FALSE;

  if (EVP_CipherInit_ex (ctx, cipher, NULL, NULL, NULL, encrypt ? 1 : 0) != 1)
    goto out;
  if (EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_SIZE, NULL) != 1)
    goto out;
  if (EVP_CipherInit_ex (ctx, NULL, NULL, key, nonce, encrypt ? 1 : 0) != 1)
    goto out;
  if (aad_len > 0 && EVP_CipherUpdate (ctx, NULL, &n, aad, (int) aad_len) != 1)
    goto out;
  if (in_len > 0 && EVP_CipherUpdate (ctx, out, &n, in, (int) in_len) != 1)
    goto out;
  if (!encrypt && EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE, tag) != 1)
    goto out;
  /* GCM is a stream mode: Final writes no bytes but checks the tag on
   * decryption. */
  if (EVP_CipherFinal_ex (ctx, out + in_len, &n) != 1)
    goto out;
  if (encrypt && EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, tag) != 1)
    goto out;

  ok = TRUE;

out:
  EVP_CIPHER_CTX_free (ctx);
  return ok;
}

static gboolean
openssl_random_bytes (guint8 *buf,
                      gsize   len)
{
  return len <= INT_MAX && RAND_bytes (buf, (int) len) == 1;
}

static void
openssl_cleanse (void  *p,
                 gsize  len)
{
  OPENSSL_cleanse (p, len);
}

/* Fetched once, like the ciphers; NULL when the provider has none (a
 * failed fetch is tried again). */
static gpointer
fetch_once (gpointer *slot, gboolean kdf, const char *name)
{
  static GMutex lock;
  gpointer p = g_atomic_pointer_get (slot);

  if (p == NULL)
    {
      g_mutex_lock (&lock);
      p = *slot;
      if (p == NULL)
        {
          p = kdf ? (gpointer) EVP_KDF_fetch (NULL, name, NULL) : (gpointer) EVP_MAC_fetch (NULL, name, NULL);
          g_atomic_pointer_set (slot, p);
        }
      g_mutex_unlock (&lock);
    }
  return p;
}

static gboolean
openssl_hmac_sha256 (const guint8 *key,
                     gsize         key_len,
                     const guint8 *data,
                     gsize         len,
                     guint8       *out)
{
  static gpointer mac;
  EVP_MAC *m = fetch_once (&mac, FALSE, "HMAC");
  EVP_MAC_CTX *ctx;
  OSSL_PARAM params[2];
  size_t out_len = 0;
  gboolean ok;

  if (m == NULL || (ctx = EVP_MAC_CTX_new (m)) == NULL)
    return FALSE;
  params[0] = OSSL_PARAM_construct_utf8_string (OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0);
  params[1] = OSSL_PARAM_construct_end ();
  ok = EVP_MAC_init (ctx, key, key_len, params) == 1 &&
       EVP_MAC_update (ctx, data, len) == 1 &&
       EVP_MAC_final (ctx, out, &out_len, 32) == 1 && out_len == 32;
  EVP_MAC_CTX_free (ctx);
  return ok;
}

static gboolean
openssl_hkdf_sha256 (const guint8 *ikm,
                     gsize         ikm_len,
                     const guint8 *salt,
                     gsize         salt_len,
                     const guint8 *info,
                     gsize         info_len,
                     guint8       *out,
                     gsize         out_len)
{
  static gpointer kdf;
  EVP_KDF *k = fetch_once (&kdf, TRUE, "HKDF");
  EVP_KDF_CTX *ctx;
  OSSL_PARAM params[5];
  gboolean ok;

  if (k == NULL || (ctx = EVP_KDF_CTX_new (k)) == NULL)
    return FALSE;
  params[0] = OSSL_PARAM_construct_utf8_string (OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0);
  params[1] = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_KEY, (void *) ikm, ikm_len);
  params[2] = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_SALT, (void *) salt, salt_len);
  params[3] = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_INFO, (void *) info, info_len);
  params[4] = OSSL_PARAM_construct_end ();
  ok = EVP_KDF_derive (ctx, out, out_len, params) == 1;
  EVP_KDF_CTX_free (ctx);
  return ok;
}

static gboolean
openssl_equal (const guint8 *a,
               const guint8 *b,
               gsize         len)
{
  return CRYPTO_memcmp (a, b, len) == 0;
}

static const GossipCryptoBackend backend = {
  GOSSIP_CRYPTO_BACKEND_ABI,
  openssl_gcm_crypt,
  openssl_random_bytes,
  openssl_cleanse,
  openssl_hmac_sha256,
  openssl_hkdf_sha256,
  openssl_equal,
};

const GossipCryptoBackend *
gossip_crypto_module_backend (void)
{
  return &backend;
}

/* gossip-crypto.c — AES-GCM keyring. The cipher itself is OpenSSL EVP in
 * the crypto module, opened on the first keyring (gossip-crypto-backend-private.h).
 *
 * Every seal draws a fresh random 96-bit nonce. With random nonces NIST
 * SP 800-38D bounds a key to 2^32 messages; a gossip cluster sends far
 * fewer than that before its operators rotate keys.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <gmodule.h>

#include "gossip-crypto-backend-private.h"
#include "gossip-crypto-private.h"
#include "gossip-error.h"

#define GOSSIP_KEY_MAX_SIZE 32

typedef struct {
  gsize             len;
  guint8            bytes[GOSSIP_KEY_MAX_SIZE];
} GossipKey;

struct _GossipKeyring {
  gatomicrefcount ref_count;
  /* GossipKey*, index 0 is the primary. Only grows during construction
   * (gossip_keyring_add_secondary() on an unshared ring), so readers on
   * other threads need no lock. */
  GPtrArray      *keys;
};

/* The crypto module, opened once and kept for the life of the process.
 * $GOSSIP_MODULE_DIR overrides the installed location (uninstalled builds
 * and tests); a failure is not remembered, so a later keyring retries. */
static const GossipCryptoBackend *
crypto_backend (gboolean for_token, GError **error)
{
#ifdef GOSSIP_CRYPTO_BUILTIN
  (void) for_token;
  (void) error;
  return gossip_crypto_module_backend ();
#else
  static GMutex lock;
  static const GossipCryptoBackend *backend;
  const GossipCryptoBackend *result;

  g_mutex_lock (&lock);
  if (backend == NULL)
    {
      const char *dir = g_getenv ("GOSSIP_MODULE_DIR");
      g_autofree char *path = NULL;
      GModule *module;
      gpointer symbol = NULL;

      if (dir == NULL || *dir == '\0')
        dir = GOSSIP_MODULEDIR;
      path = g_build_filename (dir, "crypto-openssl." G_MODULE_SUFFIX, NULL);
      module = g_module_open (path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
      if (module == NULL)
        {
          if (for_token)
            g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                         /* Translators: %s is the module's dlopen() error */
                         _("bearer-token authentication is unavailable: cannot load libgossip's crypto module: %s"),
                         g_module_error ());
          else
            g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                         /* Translators: %s is the module's dlopen() error */
                         _("encryption is unavailable: cannot load libgossip's crypto module: %s"),
                         g_module_error ());
        }
      else if (!g_module_symbol (module, GOSSIP_CRYPTO_BACKEND_SYMBOL, &symbol) ||
               ((const GossipCryptoBackend *(*) (void)) symbol) ()->abi != GOSSIP_CRYPTO_BACKEND_ABI)
        {
          g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                       /* Translators: %s is a file name */
                       _("encryption is unavailable: %s is not a crypto module of this libgossip version"),
                       path);
          g_module_close (module);
        }
      else
        {
          g_module_make_resident (module);
          backend = ((const GossipCryptoBackend *(*) (void)) symbol) ();
        }
    }
  result = backend;
  g_mutex_unlock (&lock);
  return result;
#endif
}

/* Only called once a keyring exists, so the module is loaded. */
static const GossipCryptoBackend *
loaded_backend (void)
{
  const GossipCryptoBackend *b = crypto_backend (FALSE, NULL);

  g_assert (b != NULL);
  return b;
}

static void
gossip_key_free (GossipKey *key)
{
  loaded_backend ()->cleanse (key, sizeof *key);
  g_free (key);
}

gboolean
gossip_key_check_length (gsize len, const char *param_name, GError **error)
{
  if (len == 16 || len == 24 || len == 32)
    return TRUE;

  g_set_error (error, GOSSIP_CONFIG_ERROR, GOSSIP_CONFIG_ERROR_INVALID_VALUE,
               /* Translators: %s is a parameter name such as encryption_key */
               _("%s must be 16, 24 or 32 bytes (got %lu)"),
               param_name != NULL ? param_name : "key", (unsigned long) len);
  return FALSE;
}

static GossipKey *
gossip_key_new (const guint8 *bytes, gsize len, const char *param_name, GError **error)
{
  GossipKey *key;

  if (!gossip_key_check_length (len, param_name, error))
    return NULL;

  key = g_new0 (GossipKey, 1);
  key->len = len;
  memcpy (key->bytes, bytes, len);
  return key;
}

GossipKeyring *
gossip_keyring_new (const guint8 *primary, gsize primary_len, GError **error)
{
  GossipKeyring *ring;
  GossipKey *key;

  g_return_val_if_fail (primary != NULL || primary_len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* A wrong length is the caller's mistake and reported as such, even
   * where the crypto module is missing. */
  if (!gossip_key_check_length (primary_len, "encryption_key", error) ||
      crypto_backend (FALSE, error) == NULL)
    return NULL;
  key = gossip_key_new (primary, primary_len, "encryption_key", error);
  if (key == NULL)
    return NULL;

  ring = g_new0 (GossipKeyring, 1);
  g_atomic_ref_count_init (&ring->ref_count);
  ring->keys = g_ptr_array_new_with_free_func ((GDestroyNotify) gossip_key_free);
  g_ptr_array_add (ring->keys, key);
  return ring;
}

/* Part of construction: call it before the ring is shared (handed to a
 * codec or another thread); the ring is lock-free because it never changes
 * afterwards. */
gboolean
gossip_keyring_add_secondary (GossipKeyring *ring, const guint8 *key, gsize len, GError **error)
{
  GossipKey *k;

  g_return_val_if_fail (ring != NULL, FALSE);
  g_return_val_if_fail (key != NULL || len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_return_val_if_fail (g_atomic_ref_count_compare (&ring->ref_count, 1), FALSE);

  k = gossip_key_new (key, len, "secondary_keys", error);
  if (k == NULL)
    return FALSE;

  g_ptr_array_add (ring->keys, k);
  return TRUE;
}

GossipKeyring *
gossip_keyring_ref (GossipKeyring *ring)
{
  g_return_val_if_fail (ring != NULL, NULL);

  g_atomic_ref_count_inc (&ring->ref_count);
  return ring;
}

void
gossip_keyring_unref (GossipKeyring *ring)
{
  g_return_if_fail (ring != NULL);

  if (g_atomic_ref_count_dec (&ring->ref_count))
    {
      g_ptr_array_unref (ring->keys);
      g_free (ring);
    }
}

static gboolean
gcm_crypt (const GossipKey *key,
           gboolean         encrypt,
           const guint8    *nonce,
           const guint8    *aad,
           gsize            aad_len,
           const guint8    *in,
           gsize            in_len,
           guint8          *out,
           guint8          *tag)
{
  return loaded_backend ()->gcm_crypt (key->bytes, key->len, encrypt, nonce, aad, aad_len,
                                       in, in_len, out, tag);
}

/* Compared as integers: relational operators on pointers into different
 * objects are undefined behaviour. */
static gboolean
points_into (const guint8 *p, const GByteArray *array)
{
  return (guintptr) p - (guintptr) array->data < array->len;
}

gboolean
gossip_keyring_seal (GossipKeyring *ring,
                     const guint8  *aad,
                     gsize          aad_len,
                     const guint8  *plain,
                     gsize          plain_len,
                     GByteArray    *out,
                     GError       **error)
{
  g_autofree guint8 *aad_copy = NULL;
  g_autofree guint8 *plain_copy = NULL;
  const GossipKey *key;
  guint old_len;
  guint8 *nonce;
  guint8 *ct;

  g_return_val_if_fail (ring != NULL, FALSE);
  g_return_val_if_fail (aad != NULL || aad_len == 0, FALSE);
  g_return_val_if_fail (plain != NULL || plain_len == 0, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  old_len = out->len;
  if (aad_len > INT_MAX ||
      plain_len > INT_MAX - GOSSIP_GCM_NONCE_SIZE - GOSSIP_GCM_TAG_SIZE ||
      plain_len + GOSSIP_GCM_NONCE_SIZE + GOSSIP_GCM_TAG_SIZE > G_MAXUINT - old_len)
    {
      g_set_error (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE,
                   _("cannot encrypt %lu bytes: too large"), (unsigned long) plain_len);
      return FALSE;
    }

  /* Growing @out may move it; inputs that live inside it (a frame header
   * already written there, used as AAD) are copied first. */
  if (aad_len > 0 && points_into (aad, out))
    aad = aad_copy = g_memdup2 (aad, aad_len);
  if (plain_len > 0 && points_into (plain, out))
    plain = plain_copy = g_memdup2 (plain, plain_len);

  key = g_ptr_array_index (ring->keys, 0);
  g_byte_array_set_size (out, old_len + GOSSIP_GCM_NONCE_SIZE + (guint) plain_len + GOSSIP_GCM_TAG_SIZE);
  nonce = out->data + old_len;
  ct = nonce + GOSSIP_GCM_NONCE_SIZE;

  if (!loaded_backend ()->random_bytes (nonce, GOSSIP_GCM_NONCE_SIZE) ||
      !gcm_crypt (key, TRUE, nonce, aad, aad_len, plain, plain_len, ct, ct + plain_len))
    {
      /* Leave @out as it was: a half-written frame must never be sent. */
      g_byte_array_set_size (out, old_len);
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                           _("encryption failed (OpenSSL error)"));
      return FALSE;
    }

  return TRUE;
}

GBytes *
gossip_keyring_open (GossipKeyring *ring,
                     const guint8  *aad,
                     gsize          aad_len,
                     const guint8  *sealed,
                     gsize          sealed_len,
                     GError       **error)
{
  const guint8 *nonce, *ct, *tag;
  gsize ct_len;
  guint8 *plain;

  g_return_val_if_fail (ring != NULL, NULL);
  g_return_val_if_fail (aad != NULL || aad_len == 0, NULL);
  g_return_val_if_fail (sealed != NULL || sealed_len == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (sealed_len < GOSSIP_GCM_NONCE_SIZE + GOSSIP_GCM_TAG_SIZE)
    {
      g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TRUNCATED,
                   _("encrypted data is truncated (%lu bytes, at least %d needed)"),
                   (unsigned long) sealed_len, GOSSIP_GCM_NONCE_SIZE + GOSSIP_GCM_TAG_SIZE);
      return NULL;
    }
  if (aad_len > INT_MAX || sealed_len > INT_MAX)
    {
      g_set_error (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_TOO_LARGE,
                   _("encrypted data is too large (%lu bytes)"), (unsigned long) sealed_len);
      return NULL;
    }

  nonce = sealed;
  ct = sealed + GOSSIP_GCM_NONCE_SIZE;
  ct_len = sealed_len - GOSSIP_GCM_NONCE_SIZE - GOSSIP_GCM_TAG_SIZE;
  tag = ct + ct_len;
  /* +1: a valid buffer even for an empty plaintext. */
  plain = g_malloc (ct_len + 1);

  for (guint i = 0; i < ring->keys->len; i++)
    {
      const GossipKey *key = g_ptr_array_index (ring->keys, i);

      /* The tag is only read by OpenSSL, the cast drops a const its
       * ctrl() API cannot express. */
      if (gcm_crypt (key, FALSE, nonce, aad, aad_len, ct, ct_len, plain, (guint8 *) tag))
        return g_bytes_new_take (plain, ct_len);
    }

  /* Do not leave unauthenticated plaintext lying in freed memory. */
  loaded_backend ()->cleanse (plain, ct_len + 1);
  g_free (plain);
  g_set_error_literal (error, GOSSIP_WIRE_ERROR, GOSSIP_WIRE_ERROR_DECRYPT,
                       _("no key could decrypt and authenticate the data"));
  return NULL;
}

gboolean
gossip_secret_equal (const char *given,
                     const char *expected)
{
  gsize given_len = given != NULL ? strlen (given) : 0;
  gsize expected_len = expected != NULL ? strlen (expected) : 0;
  volatile guint8 diff = 0;

  if (given_len != expected_len)
    return FALSE;
  for (gsize i = 0; i < expected_len; i++)
    diff |= (guint8) (given[i] ^ expected[i]);
  return diff == 0;
}

#define DERIVE_SALT "scriptling-gossip"

gboolean
gossip_crypto_derive (const char *secret,
                      const char *info,
                      guint8     *out,
                      gsize       out_len,
                      GError    **error)
{
  const GossipCryptoBackend *b;

  g_return_val_if_fail (secret != NULL && info != NULL && out != NULL, FALSE);

  b = crypto_backend (TRUE, error);
  if (b == NULL)
    return FALSE;
  if (!b->hkdf_sha256 ((const guint8 *) secret, strlen (secret),
                       (const guint8 *) DERIVE_SALT, strlen (DERIVE_SALT),
                       (const guint8 *) info, strlen (info), out, out_len))
    {
      g_set_error_literal (error, GOSSIP_CLUSTER_ERROR, GOSSIP_CLUSTER_ERROR_FAILED,
                           _("key derivation failed (OpenSSL error)"));
      return FALSE;
    }
  return TRUE;
}

gboolean
gossip_crypto_mac (const guint8 *key,
                   const guint8 *data,
                   gsize         len,
                   guint8       *out)
{
  guint8 full[32];
  gboolean ok;

  ok = loaded_backend ()->hmac_sha256 (key, GOSSIP_MAC_KEY_SIZE, data, len, full);
  memcpy (out, full, GOSSIP_MAC_SIZE);
  return ok;
}

gboolean
gossip_crypto_equal (const guint8 *a,
                     const guint8 *b,
                     gsize         len)
{
  return loaded_backend ()->equal (a, b, len);
}

void
gossip_crypto_cleanse (void  *p,
                       gsize  len)
{
  loaded_backend ()->cleanse (p, len);
}

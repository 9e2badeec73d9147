/* gossip-crypto-private.h — AES-GCM keyring (OpenSSL EVP).
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define GOSSIP_GCM_NONCE_SIZE 12
#define GOSSIP_GCM_TAG_SIZE   16

/* A keyring: one primary key used to encrypt, any number of secondary keys
 * accepted for decryption (key rotation). Immutable after construction and
 * therefore usable from any thread. Key lengths 16/24/32 select AES-128/192/256. */
typedef struct _GossipKeyring GossipKeyring;

gboolean        gossip_key_check_length (gsize len, const char *param_name, GError **error);
GossipKeyring  *gossip_keyring_new      (const guint8 *primary, gsize primary_len, GError **error);
gboolean        gossip_keyring_add_secondary (GossipKeyring *ring, const guint8 *key, gsize len, GError **error);
GossipKeyring  *gossip_keyring_ref      (GossipKeyring *ring);
void            gossip_keyring_unref    (GossipKeyring *ring);

/* Writes nonce || ciphertext || tag of @plain to @out (appended), authenticating @aad. */
gboolean        gossip_keyring_seal     (GossipKeyring *ring, const guint8 *aad, gsize aad_len,
                                         const guint8 *plain, gsize plain_len, GByteArray *out, GError **error);
/* Tries the primary key, then each secondary key. Returns newly allocated plaintext. */
GBytes         *gossip_keyring_open     (GossipKeyring *ring, const guint8 *aad, gsize aad_len,
                                         const guint8 *sealed, gsize sealed_len, GError **error);

/* Compares two secrets (bearer tokens) in time independent of where they
 * differ, so that a token cannot be guessed byte by byte from response times.
 * NULL compares as the empty string. */
gboolean        gossip_secret_equal     (const char *given, const char *expected);

/* Token authentication (PROTOCOL.md, "Authentication"). */
#define GOSSIP_MAC_KEY_SIZE 32
#define GOSSIP_MAC_SIZE     16

/* HKDF-SHA256 of @secret with the salt "scriptling-gossip" and @info as
 * the context. Loads the crypto module: fails when it is missing. */
gboolean        gossip_crypto_derive    (const char *secret, const char *info, guint8 *out, gsize out_len,
                                         GError **error);
/* HMAC-SHA256 under a GOSSIP_MAC_KEY_SIZE key, truncated to GOSSIP_MAC_SIZE
 * bytes. Only after a successful gossip_crypto_derive(). */
gboolean        gossip_crypto_mac       (const guint8 *key, const guint8 *data, gsize len, guint8 *out);
gboolean        gossip_crypto_equal     (const guint8 *a, const guint8 *b, gsize len);
void            gossip_crypto_cleanse   (void *p, gsize len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GossipKeyring, gossip_keyring_unref)

G_END_DECLS

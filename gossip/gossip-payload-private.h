/* gossip-payload-private.h — type-preserving payload encoding (GVariant).
 *
 * A payload is a GVariant built only from these types:
 *   "()" None, "b" bool, "x" int64, "d" double, "s" string, "ay" bytes,
 *   "av" list, "a{sv}" dict with string keys,
 * nested at most GOSSIP_PAYLOAD_MAX_DEPTH deep. On the wire it is the
 * serialised form of the payload wrapped in a "v".
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define GOSSIP_PAYLOAD_MAX_DEPTH 64

/* Checks that @value only uses the payload types (GOSSIP_CLUSTER_ERROR_INVALID_TYPE otherwise). */
gboolean  gossip_payload_check  (GVariant *value, GError **error);
/* Validates and serialises; fails with GOSSIP_CLUSTER_ERROR_PAYLOAD_TOO_LARGE above @max_size. */
GBytes   *gossip_payload_encode (GVariant *value, gsize max_size, GError **error);
/* Parses untrusted bytes: must be a normal-form "v" holding only payload
 * types within the depth limit (GOSSIP_WIRE_ERROR otherwise). Returns a
 * floating-free (owned) reference to the inner value. */
GVariant *gossip_payload_decode (const guint8 *data, gsize len, GError **error);

/* Depth and byte order, precisely (gossip_payload_check() and
 * gossip_payload_encode() enforce both, so whatever one node sends another
 * can decode):
 *
 * - A scalar is one level deep, a list or dict one level more than its
 *   deepest element; at most GOSSIP_PAYLOAD_MAX_DEPTH levels.
 * - GVariant refuses untrusted data nested deeper than 128 of its own type
 *   levels. The wrapping "v" uses one, a list level two ("av"), a dict level
 *   three ("a{sv}"), bytes two and other scalars one. So 63 nested lists
 *   around a scalar fit (depth 64), but only 42 nested dicts do. Deeper
 *   payloads fail with GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT when sent and
 *   GOSSIP_WIRE_ERROR_MALFORMED when received.
 * - Dict keys are unique (GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT / MALFORMED).
 * - The serialised form is always little-endian, whatever the host. */

/* gossip_payload_encode() consumes a floating @value (like
 * g_variant_new_variant()); gossip_payload_check() does not. */

/* Builders. Each returns a floating reference and consumes floating
 * arguments, like the g_variant_new_*() functions. Scalars are plain
 * g_variant_new_boolean/int64/double/string(); dicts are built with a
 * GVariantBuilder of type G_VARIANT_TYPE_VARDICT and "{sv}" entries. */
GVariant *gossip_payload_none      (void);
gboolean  gossip_payload_is_none   (GVariant *value);
GVariant *gossip_payload_new_bytes (const guint8 *data, gsize len);
GVariant *gossip_payload_new_list  (GVariant * const *items, gsize n_items);

/* Compact JSON-like text for display (not for parsing back): None is null,
 * doubles always show a '.' or exponent ("2.0", "-0.0", "NaN",
 * "-Infinity"), bytes are b"..." with \xNN escapes, dicts keep their wire
 * order. Newly allocated; never fails. */
char     *gossip_payload_to_string (GVariant *value);

/* JSON text -> payload for the CLI: integers stay "x" (out of int64 range is
 * an error, not a wrap-around), reals stay "d", null is None, arrays are
 * lists and objects dicts (a repeated key keeps its last value). Errors are
 * GOSSIP_CLUSTER_ERROR_INVALID_ARGUMENT. Returns an owned, non-floating
 * reference. */
GVariant *gossip_payload_from_json (const char *json, GError **error);

G_END_DECLS

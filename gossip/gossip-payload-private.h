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

G_END_DECLS

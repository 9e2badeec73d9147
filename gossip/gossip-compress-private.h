/* gossip-compress-private.h — Snappy block compression with hard limits (snappy-c).
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Returns NULL when compression does not make the data strictly smaller. */
GBytes  *gossip_snappy_compress   (const guint8 *data, gsize len);
/* Checks the declared uncompressed length against @max_len BEFORE allocating;
 * corrupt input or a declared length over the limit fail with GOSSIP_WIRE_ERROR. */
GBytes  *gossip_snappy_decompress (const guint8 *data, gsize len, gsize max_len, GError **error);

G_END_DECLS

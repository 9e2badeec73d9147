/* gossip-buffer-private.h — bounds-checked big-endian readers and writers.
 *
 * SPDX-License-Identifier: MIT
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  GByteArray *data;
} GossipWriter;

void     gossip_writer_init        (GossipWriter *w);
void     gossip_writer_clear       (GossipWriter *w);
GBytes  *gossip_writer_steal_bytes (GossipWriter *w);
gsize    gossip_writer_len         (const GossipWriter *w);
void     gossip_writer_put_u8      (GossipWriter *w, guint8 v);
void     gossip_writer_put_u16     (GossipWriter *w, guint16 v);
void     gossip_writer_put_u32     (GossipWriter *w, guint32 v);
void     gossip_writer_put_u64     (GossipWriter *w, guint64 v);
void     gossip_writer_put_raw     (GossipWriter *w, const void *data, gsize len);
/* u32 length + bytes */
void     gossip_writer_put_blob    (GossipWriter *w, const void *data, gsize len);
/* u16 length + UTF-8 bytes; NULL is written as the empty string. Callers keep strings <= 65535 bytes. */
void     gossip_writer_put_string  (GossipWriter *w, const char *s);
void     gossip_writer_patch_u16   (GossipWriter *w, gsize offset, guint16 v);

/* A reader never reads past its end. The first failed read sets @failed and
 * every later read fails too, so a decoder may check once at the end; values
 * returned by failed reads are zero/NULL. */
typedef struct {
  const guint8 *data;
  gsize         len;
  gsize         pos;
  gboolean      failed;
} GossipReader;

void     gossip_reader_init      (GossipReader *r, const void *data, gsize len);
gsize    gossip_reader_remaining (const GossipReader *r);
gboolean gossip_reader_get_u8    (GossipReader *r, guint8 *v);
gboolean gossip_reader_get_u16   (GossipReader *r, guint16 *v);
gboolean gossip_reader_get_u32   (GossipReader *r, guint32 *v);
gboolean gossip_reader_get_u64   (GossipReader *r, guint64 *v);
/* Points into the buffer; no copy. */
gboolean gossip_reader_get_raw   (GossipReader *r, gsize len, const guint8 **out);
/* u32 length (must be <= @max_len) + bytes; points into the buffer. */
gboolean gossip_reader_get_blob  (GossipReader *r, gsize max_len, const guint8 **out, gsize *out_len);
/* u16 length (must be <= @max_len) + bytes; must be valid UTF-8 without NUL. Newly allocated. */
gboolean gossip_reader_get_string(GossipReader *r, gsize max_len, char **out);

G_END_DECLS

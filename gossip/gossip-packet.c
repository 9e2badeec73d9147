/* gossip-packet.c — encoding of membership updates (see PROTOCOL.md, "Updates").
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <string.h>

#include "gossip-private.h"

/* Limits on what a peer may announce; anything beyond is malformed. */
#define MAX_META_ENTRIES   1024
#define MAX_TAGS           256
#define MAX_STRING         65535

void
_gossip_update_clear (GossipUpdate *u)
{
  g_clear_pointer (&u->address, g_free);
  g_clear_pointer (&u->metadata, g_hash_table_unref);
  g_clear_pointer (&u->tags, _gossip_strv_unref);
  g_clear_pointer (&u->app_version, g_free);
}

void
_gossip_update_write (GossipWriter       *w,
                      const GossipUpdate *u)
{
  gossip_writer_put_u8 (w, u->kind);
  gossip_writer_put_raw (w, u->id, GOSSIP_UUID_SIZE);
  gossip_writer_put_u64 (w, u->incarnation);

  switch (u->kind)
    {
    case GOSSIP_UPDATE_SUSPECT:
    case GOSSIP_UPDATE_DEAD:
      gossip_writer_put_raw (w, u->from, GOSSIP_UUID_SIZE);
      break;

    case GOSSIP_UPDATE_ALIVE:
      {
        GHashTableIter iter;
        gpointer k, v;
        guint ntags = u->tags ? g_strv_length (u->tags->strv) : 0;

        gossip_writer_put_string (w, u->address);
        gossip_writer_put_u64 (w, u->meta_version);
        gossip_writer_put_u16 (w, u->metadata ? g_hash_table_size (u->metadata) : 0);
        if (u->metadata)
          {
            g_hash_table_iter_init (&iter, u->metadata);
            while (g_hash_table_iter_next (&iter, &k, &v))
              {
                gossip_writer_put_string (w, k);
                gossip_writer_put_string (w, v);
              }
          }
        gossip_writer_put_u16 (w, ntags);
        for (guint i = 0; i < ntags; i++)
          gossip_writer_put_string (w, u->tags->strv[i]);
        gossip_writer_put_string (w, u->app_version);
      }
      break;

    case GOSSIP_UPDATE_LEAVE:
    default:
      break;
    }
}

gboolean
_gossip_update_read (GossipReader *r,
                     GossipUpdate *u)
{
  guint8 kind = 0;
  const guint8 *raw = NULL;

  memset (u, 0, sizeof *u);

  if (!gossip_reader_get_u8 (r, &kind) ||
      kind < GOSSIP_UPDATE_ALIVE || kind > GOSSIP_UPDATE_LEAVE ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &raw))
    return FALSE;
  u->kind = kind;
  memcpy (u->id, raw, GOSSIP_UUID_SIZE);
  if (!gossip_reader_get_u64 (r, &u->incarnation))
    return FALSE;

  switch (u->kind)
    {
    case GOSSIP_UPDATE_SUSPECT:
    case GOSSIP_UPDATE_DEAD:
      if (!gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &raw))
        return FALSE;
      memcpy (u->from, raw, GOSSIP_UUID_SIZE);
      return TRUE;

    case GOSSIP_UPDATE_ALIVE:
      {
        guint16 nmeta = 0, ntags = 0;
        g_autoptr(GPtrArray) tags = NULL;

        if (!gossip_reader_get_string (r, MAX_STRING, &u->address) ||
            !gossip_reader_get_u64 (r, &u->meta_version) ||
            !gossip_reader_get_u16 (r, &nmeta) || nmeta > MAX_META_ENTRIES)
          goto fail;
        /* Most members have no metadata and no tags: they share the
         * process-wide empty ones instead of a map and a list each. */
        u->metadata = nmeta > 0 ? _gossip_metadata_new () : _gossip_metadata_empty ();
        for (guint i = 0; i < nmeta; i++)
          {
            char *k = NULL, *v = NULL;
            if (!gossip_reader_get_string (r, MAX_STRING, &k) ||
                !gossip_reader_get_string (r, MAX_STRING, &v))
              {
                g_free (k);
                g_free (v);
                goto fail;
              }
            g_hash_table_replace (u->metadata, k, v);
          }
        if (!gossip_reader_get_u16 (r, &ntags) || ntags > MAX_TAGS)
          goto fail;
        if (ntags > 0)
          {
            tags = g_ptr_array_new_with_free_func (g_free);
            for (guint i = 0; i < ntags; i++)
              {
                char *t = NULL;
                if (!gossip_reader_get_string (r, MAX_STRING, &t))
                  goto fail;
                g_ptr_array_add (tags, t);
              }
            g_ptr_array_add (tags, NULL);
            u->tags = _gossip_strv_new ((const char * const *) tags->pdata);
          }
        else
          u->tags = _gossip_strv_empty ();
        if (!gossip_reader_get_string (r, MAX_STRING, &u->app_version))
          goto fail;
        return TRUE;
      }

    case GOSSIP_UPDATE_LEAVE:
    default:
      return TRUE;
    }

fail:
  _gossip_update_clear (u);
  return FALSE;
}

gboolean
_gossip_record_read (GossipReader *r,
                     GossipRecord *rec)
{
  guint8 state = 0;

  if (!_gossip_update_read (r, &rec->alive))
    return FALSE;
  if (rec->alive.kind != GOSSIP_UPDATE_ALIVE ||
      !gossip_reader_get_u8 (r, &state) || state > GOSSIP_NODE_LEAVING)
    {
      _gossip_update_clear (&rec->alive);
      return FALSE;
    }
  rec->state = state;
  return TRUE;
}

gboolean
_gossip_state_page_read (GossipReader     *r,
                         guint8           *last,
                         gboolean         *more,
                         GossipRecordFunc  func,
                         gpointer          data)
{
  guint8 flags = 0;
  const guint8 *after = NULL;
  guint8 prev[GOSSIP_UUID_SIZE];
  guint32 count = 0;

  if (!gossip_reader_get_u8 (r, &flags) || (flags & ~GOSSIP_STATE_PAGE_MORE) != 0 ||
      !gossip_reader_get_raw (r, GOSSIP_UUID_SIZE, &after) ||
      !gossip_reader_get_u32 (r, &count) || count > GOSSIP_MAX_STATE_RECORDS ||
      ((flags & GOSSIP_STATE_PAGE_MORE) != 0 && count == 0))
    return FALSE;
  memcpy (prev, after, GOSSIP_UUID_SIZE);
  for (guint32 i = 0; i < count; i++)
    {
      GossipRecord rec;

      if (!_gossip_record_read (r, &rec))
        return FALSE;
      if (memcmp (rec.alive.id, prev, GOSSIP_UUID_SIZE) <= 0)
        {
          _gossip_update_clear (&rec.alive);
          return FALSE;
        }
      memcpy (prev, rec.alive.id, GOSSIP_UUID_SIZE);
      if (func != NULL)
        func (&rec, data);
      _gossip_update_clear (&rec.alive);
    }
  if (last != NULL)
    memcpy (last, prev, GOSSIP_UUID_SIZE);
  if (more != NULL)
    *more = (flags & GOSSIP_STATE_PAGE_MORE) != 0;
  return TRUE;
}

/* fuzz-state.c — libFuzzer target for state pages (_gossip_state_page_read()).
 *
 * A state page is what a join reply and every push-pull carry
 * (PROTOCOL.md, "State pages"). Every input is read as a page; each record
 * handed out must be an ALIVE with a valid state, in strictly increasing id
 * order after the cursor. A page that reads is written back (records
 * re-encoded) and must read again with the same ids, flags and cursor.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"  /* gossip-private.h needs GETTEXT_PACKAGE */

#include <string.h>

#include "fuzz-common.h"
#include "gossip-buffer-private.h"
#include "gossip-private.h"

typedef struct {
  GPtrArray *ids;                     /* guint8[16] each, owned */
  GossipWriter *out;                  /* re-encoding, or NULL */
} StateSeen;

static void
state_record_cb (GossipRecord *rec, gpointer data)
{
  StateSeen *seen = data;

  FUZZ_CHECK (rec->alive.kind == GOSSIP_UPDATE_ALIVE);
  FUZZ_CHECK (rec->state <= GOSSIP_NODE_LEAVING);
  if (seen->ids->len > 0)
    FUZZ_CHECK (memcmp (g_ptr_array_index (seen->ids, seen->ids->len - 1), rec->alive.id, 16) < 0);
  g_ptr_array_add (seen->ids, g_memdup2 (rec->alive.id, 16));
  if (seen->out != NULL)
    {
      _gossip_update_write (seen->out, &rec->alive);
      gossip_writer_put_u8 (seen->out, (guint8) rec->state);
    }
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) again = g_ptr_array_new_with_free_func (g_free);
  GossipWriter out;
  StateSeen seen = { ids, &out };
  GossipReader r;
  guint8 last[16] = { 0 }, last2[16] = { 0 };
  gboolean more = FALSE, more2 = FALSE;
  gboolean ok;

  fuzz_setup ();
  gossip_writer_init (&out);
  if (size >= 21)
    {
      /* The header as read, so that the re-encoding is a whole page. */
      gossip_writer_put_raw (&out, data, 21);
    }
  gossip_reader_init (&r, data, size);
  ok = _gossip_state_page_read (&r, last, &more, state_record_cb, &seen);
  if (ok)
    {
      StateSeen seen2 = { again, NULL };
      GossipReader r2;
      guint32 count = ids->len;

      FUZZ_CHECK (size >= 21);
      FUZZ_CHECK (!more || ids->len > 0);
      /* The cursor of the next page is the last id, or the page's own. */
      FUZZ_CHECK (memcmp (last, ids->len > 0 ? g_ptr_array_index (ids, ids->len - 1) : data + 1, 16) == 0);
      out.data->data[17] = (guint8) (count >> 24);
      out.data->data[18] = (guint8) (count >> 16);
      out.data->data[19] = (guint8) (count >> 8);
      out.data->data[20] = (guint8) count;
      gossip_reader_init (&r2, out.data->data, out.data->len);
      FUZZ_CHECK (_gossip_state_page_read (&r2, last2, &more2, state_record_cb, &seen2));
      FUZZ_CHECK (gossip_reader_remaining (&r2) == 0);
      FUZZ_CHECK (more2 == more);
      FUZZ_CHECK (memcmp (last, last2, 16) == 0);
      FUZZ_CHECK (again->len == ids->len);
      for (guint i = 0; i < ids->len; i++)
        FUZZ_CHECK (memcmp (g_ptr_array_index (ids, i), g_ptr_array_index (again, i), 16) == 0);
    }
  gossip_writer_clear (&out);
  return 0;
}

/* fuzz-snappy.c — libFuzzer target for gossip_snappy_decompress().
 *
 * The input is decompressed under a limit (and must respect it), then used
 * as plain data that must survive compress + decompress.
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "fuzz-common.h"
#include "gossip-compress-private.h"
#include "gossip-error.h"

#define SNAPPY_FUZZ_LIMIT (1 << 20)

static void
snappy_round_trip (const guint8 *data, gsize size)
{
  g_autoptr(GBytes) packed = gossip_snappy_compress (data, size);
  g_autoptr(GBytes) back = NULL;

  if (packed == NULL)
    return;
  FUZZ_CHECK (g_bytes_get_size (packed) < size);
  back = gossip_snappy_decompress (g_bytes_get_data (packed, NULL), g_bytes_get_size (packed), size, NULL);
  FUZZ_CHECK (back != NULL);
  FUZZ_CHECK (g_bytes_get_size (back) == size);
  FUZZ_CHECK (memcmp (g_bytes_get_data (back, NULL), data, size) == 0);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) out = NULL;

  fuzz_setup ();

  out = gossip_snappy_decompress (data, size, SNAPPY_FUZZ_LIMIT, &error);
  if (out != NULL)
    {
      FUZZ_CHECK (error == NULL);
      FUZZ_CHECK (g_bytes_get_size (out) <= SNAPPY_FUZZ_LIMIT);
      snappy_round_trip (g_bytes_get_data (out, NULL), g_bytes_get_size (out));
    }
  else
    {
      FUZZ_CHECK (error != NULL && error->domain == GOSSIP_WIRE_ERROR);
    }

  snappy_round_trip (data, size);
  return 0;
}

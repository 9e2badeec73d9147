/* fuzz-payload.c — libFuzzer target for gossip_payload_decode().
 *
 * Whatever decodes must be a valid payload, print without trouble, and
 * re-encode to exactly the input: normal form is canonical, so accepting
 * two encodings of one value would mean accepting a non-normal one.
 *
 * SPDX-License-Identifier: MIT
 */
#include <string.h>

#include "fuzz-common.h"
#include "gossip-error.h"
#include "gossip-payload-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GBytes) again = NULL;
  g_autoptr(GVariant) back = NULL;
  g_autofree char *text = NULL;

  fuzz_setup ();

  value = gossip_payload_decode (data, size, &error);
  if (value == NULL)
    {
      FUZZ_CHECK (error != NULL && error->domain == GOSSIP_WIRE_ERROR);
      return 0;
    }
  FUZZ_CHECK (error == NULL);
  FUZZ_CHECK (!g_variant_is_floating (value));
  FUZZ_CHECK (gossip_payload_check (value, NULL));

  text = gossip_payload_to_string (value);
  FUZZ_CHECK (text != NULL && g_utf8_validate (text, -1, NULL));

  again = gossip_payload_encode (value, G_MAXSIZE, &error);
  FUZZ_CHECK (again != NULL);
  FUZZ_CHECK (g_bytes_get_size (again) == size);
  FUZZ_CHECK (memcmp (g_bytes_get_data (again, NULL), data, size) == 0);

  back = gossip_payload_decode (g_bytes_get_data (again, NULL), g_bytes_get_size (again), NULL);
  FUZZ_CHECK (back != NULL && g_variant_equal (back, value));

  return 0;
}

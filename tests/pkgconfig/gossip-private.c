/* gossip-private.c — must NOT link against the installed libgossip: it calls
 * a private helper of the library, which the shared library does not export
 * (tests/test-pkgconfig.sh expects the link to fail).
 *
 * SPDX-License-Identifier: MIT
 */
#include <gossip/gossip.h>

void gossip_uuid_generate_v7 (guint8 out[16]);

int
main (void)
{
  guint8 uuid[16];

  gossip_uuid_generate_v7 (uuid);
  return uuid[0];
}

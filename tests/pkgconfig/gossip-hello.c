/* gossip-hello.c — a consumer of the installed libgossip, built out of tree
 * by tests/test-pkgconfig.sh with nothing but
 *
 *   cc $(pkg-config --cflags gossip-1.0) gossip-hello.c $(pkg-config --libs gossip-1.0)
 *
 * It must not include anything from the source tree (no config.h, no private
 * headers). It starts a node on an ephemeral loopback port, checks what it
 * reports about itself and stops it.
 *
 * SPDX-License-Identifier: MIT
 */
#include <gossip/gossip.h>
#include <stdio.h>

int
main (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GossipConfig) config = gossip_config_new ();
  g_autoptr(GossipCluster) cluster = NULL;
  g_autoptr(GossipNode) local = NULL;
  g_autofree char *address = NULL;

  if (!gossip_config_set_string (config, "bind_addr", "127.0.0.1:0", &error) ||
      !gossip_config_set_strv (config, "tags", (const char *[]) { "hello", NULL }, &error) ||
      (cluster = gossip_cluster_new (config, &error)) == NULL ||
      !gossip_cluster_start (cluster, &error))
    {
      fprintf (stderr, "gossip-hello: %s\n", error->message);
      return 1;
    }

  local = gossip_cluster_get_local_node (cluster);
  address = gossip_cluster_get_advertise_address (cluster);
  if (local == NULL || !gossip_node_is_local (local) || !gossip_node_has_tag (local, "hello") ||
      gossip_node_get_state (local) != GOSSIP_NODE_ALIVE || address == NULL ||
      !g_str_has_prefix (address, "127.0.0.1:"))
    {
      fprintf (stderr, "gossip-hello: unexpected local node\n");
      return 1;
    }
  printf ("node %s alive at %s, %u member(s)\n", gossip_cluster_get_node_id (cluster), address,
          gossip_cluster_count_all (cluster));
  gossip_cluster_stop (cluster);
  return 0;
}

/* test-util.c — helpers shared by the multi-node tests on real sockets.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "test-util.h"

gboolean
wait_for (Condition cond, gpointer data, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);

  while (!cond (data))
    {
      if (g_get_monotonic_time () > deadline)
        return cond (data);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (5000);
    }
  return TRUE;
}

GossipConfig *
fast_config (void)
{
  g_autoptr(GError) error = NULL;
  GossipConfig *c = gossip_config_new ();

  g_assert_true (gossip_config_set_string (c, "bind_addr", "127.0.0.1:0", &error));
  /* Four probes per interval: one every 200 ms. */
  g_assert_true (gossip_config_set_string (c, "health_check_interval", "800ms", &error));
  g_assert_true (gossip_config_set_string (c, "suspect_timeout", "150ms", &error));
  g_assert_true (gossip_config_set_string (c, "suspect_retry_interval", "100ms", &error));
  g_assert_true (gossip_config_set_string (c, "dead_node_timeout", "1s", &error));
  g_assert_true (gossip_config_set_string (c, "metadata_gossip_interval", "100ms", &error));
  g_assert_true (gossip_config_set_string (c, "state_gossip_interval", "2s", &error));
  g_assert_no_error (error);
  return c;
}

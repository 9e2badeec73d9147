/* gossip-cluster.c — placeholder, being written. */
#include "config.h"

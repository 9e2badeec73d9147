/* gossip-uuid.c — placeholder, being written. */
#include "config.h"

/* gossip-clock.c — placeholder, being written. */
#include "config.h"

/* The three Mosquitto headers a v5 plugin builds against, in the order they need. */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

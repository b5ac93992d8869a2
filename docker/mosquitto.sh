#!/bin/sh
# mosquitto for docker-compose.yml: one user with a password, no anonymous client; MQTT for
# the boards and players, MQTT over WebSockets for the page (playbach serve serves it).
#
# The user and password come from the environment (PLAYBACH_BROKER_USERNAME and
# PLAYBACH_BROKER_PASSWORD, which compose reads from .env); the password file is written anew,
# hashed, at every start, so a new password in .env takes effect with the next start.
#   MOSQUITTO_DIR   where the config and the password file go (default: /mosquitto/config)
#   MOSQUITTO_PORT     the port to listen on (default: 1883)
#   MOSQUITTO_WS_PORT  the port to listen on for websockets (default: 9001; 0: none)
#   MOSQUITTO_BIND     the address to listen on (default: every interface of the container;
#                      mosquitto 2.0.11, Debian 12's, listens for websockets on every one)
set -eu

user=${PLAYBACH_BROKER_USERNAME:-}
password=${PLAYBACH_BROKER_PASSWORD:-}
if [ -z "$user" ] || [ -z "$password" ]; then
    echo "mosquitto.sh: set PLAYBACH_BROKER_USERNAME and PLAYBACH_BROKER_PASSWORD" \
         "(in .env beside docker-compose.yml; see the README, Docker)" >&2
    exit 1
fi
case $user in
    *:*) echo "mosquitto.sh: PLAYBACH_BROKER_USERNAME may not contain ':'" >&2; exit 1 ;;
esac

dir=${MOSQUITTO_DIR:-/mosquitto/config}
passwords=$dir/playbach.passwd
config=$dir/playbach.conf
umask 077
# -b, not -U on a plain file: -U cuts a password at its second ':'
mosquitto_passwd -b -c "$passwords" "$user" "$password"
if [ "$(id -u)" = 0 ] && id mosquitto > /dev/null 2>&1; then
    chown mosquitto "$passwords"  # mosquitto reads it after dropping root for its own user
fi
ws_port=${MOSQUITTO_WS_PORT:-9001}
{
    echo "listener ${MOSQUITTO_PORT:-1883} ${MOSQUITTO_BIND:-}"
    if [ "$ws_port" != 0 ]; then
        echo "listener $ws_port ${MOSQUITTO_BIND:-}"
        echo "protocol websockets"
    fi
    echo "allow_anonymous false"
    echo "password_file $passwords"
    echo "persistence false"
    echo "log_dest stdout"
} > "$config"
if [ "$ws_port" = 0 ]; then websockets="no websockets"; else websockets="websockets on $ws_port"; fi
echo "mosquitto.sh: admitting user $user alone, on port ${MOSQUITTO_PORT:-1883}, $websockets"
exec mosquitto -c "$config"

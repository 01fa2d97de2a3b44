#!/bin/sh
# Entry point of the hello image.
echo "$GREETING from a lading image ($(busybox uname -m))"
[ -f /etc/motd ] && busybox cat /etc/motd
exit 0

#!/bin/sh
# Prints the machine it runs on and the one it was built on: both are the target under emulation.
echo "hello from $(uname -m) ($(cat /etc/app/built-on))"

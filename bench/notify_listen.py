#!/usr/bin/env python3
"""A stand-in for systemd's notification socket (sd_notify(3)), for timing a
daemon's start-up: binds a datagram socket at PATH and prints one line per
message received, "WALL_NS MESSAGE" (MESSAGE with newlines as spaces), where
WALL_NS is the wall clock in nanoseconds when it arrived.

  notify_listen.py PATH

The benchmark takes the wall clock just before it starts the daemon with
NOTIFY_SOCKET=PATH and subtracts it from the time of the READY=1 line."""
import os
import socket
import sys
import time


def main(path):
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    print("listening", flush=True)
    while True:
        msg = s.recv(65536)
        t = time.time_ns()
        print(t, msg.decode("utf-8", "replace").replace("\n", " ").strip(), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

#!/usr/bin/env python3
"""Run a daemon the way ratchet-enforcer.service and .socket do, without
systemd: a listening Unix socket passed as fd 3 (LISTEN_FDS, LISTEN_PID), a
credentials directory, WATCHDOG_USEC, and a NOTIFY_SOCKET this script reads.

Usage: notify_run.py SOCKET_PATH CREDENTIALS_DIR TIMEOUT_S -- COMMAND...

Prints one line per event, for tests/systemd/t_units.sh to check:
  ready                  READY=1 arrived
  watchdog               WATCHDOG=1 arrived after READY=1
  status TEXT            the first STATUS= after READY=1
  connect ok|ERROR       a connection to the passed socket was accepted
  stopping               STOPPING=1 arrived after SIGTERM
  exit N                 the daemon's exit status
  timeout WHAT           WHAT did not arrive in time (the daemon is killed)
Standard library only."""
import os
import select
import signal
import socket
import sys
import time


def parse_args(argv):
    if len(argv) < 6 or argv[4] != "--":
        sys.exit("usage: notify_run.py SOCKET_PATH CREDENTIALS_DIR TIMEOUT_S -- COMMAND...")
    return argv[1], argv[2], float(argv[3]), argv[5:]


def spawn(cmd, listener, notify_path, creds):
    pid = os.fork()
    if pid == 0:
        os.dup2(listener.fileno(), 3)
        os.set_inheritable(3, True)
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), NOTIFY_SOCKET=notify_path,
                   CREDENTIALS_DIRECTORY=creds, WATCHDOG_USEC="3000000", WATCHDOG_PID=str(os.getpid()))
        env.pop("LISTEN_FDNAMES", None)
        os.execve(cmd[0], cmd, env)
    return pid


def wait_for(notify, deadline, wanted, seen):
    """Reads notifications until one carries the key `wanted`. Returns True if it came in time."""
    while time.monotonic() < deadline:
        r, _, _ = select.select([notify], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        for line in notify.recv(4096).decode("utf-8", "replace").splitlines():
            key, _, value = line.partition("=")
            seen.setdefault(key, value)
            if key == wanted:
                return True
    return False


def reap(pid, deadline):
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        select.select([], [], [], 0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def main():
    sock_path, creds, timeout, cmd = parse_args(sys.argv)
    notify_path = sock_path + ".notify"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(8)
    pid = spawn(cmd, listener, notify_path, creds)
    listener.close()
    deadline = time.monotonic() + timeout
    seen = {}
    ok = wait_for(notify, deadline, "READY", seen)
    print("ready" if ok else "timeout READY=1")
    if ok:
        seen.pop("STATUS", None)
        print("watchdog" if wait_for(notify, time.monotonic() + timeout, "WATCHDOG", seen) else "timeout WATCHDOG=1")
        if "STATUS" in seen or wait_for(notify, time.monotonic() + timeout, "STATUS", seen):
            print("status " + seen["STATUS"])
        else:
            print("timeout STATUS=")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.settimeout(timeout)
                c.connect(sock_path)
            print("connect ok")
        except OSError as e:
            print("connect " + str(e))
        os.kill(pid, signal.SIGTERM)
        print("stopping" if wait_for(notify, time.monotonic() + timeout, "STOPPING", seen) else "timeout STOPPING=1")
    code = reap(pid, time.monotonic() + timeout)
    print("exit %s" % ("killed" if code is None else code))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

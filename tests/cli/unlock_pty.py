#!/usr/bin/env python3
"""Drives skr-unlock through a pty, as a person at the console would.

usage: unlock_pty.py TRANSCRIPT MAX_PROMPT_SECONDS ANSWER... -- COMMAND...

Starts COMMAND on a new pty, waits for the passphrase prompt, checks that it
came within MAX_PROMPT_SECONDS of the start, and types each ANSWER in turn
(waiting for the next prompt or the end).  Writes everything the program
printed to TRANSCRIPT and prints one line:
  prompt_after=S.SS prompts=N exit=N
Exit status 0 when the run went as described, 1 otherwise (a missing or late
prompt, a hang)."""
import os, pty, select, sys, time

PROMPT = b"Passphrase for "


def main():
    transcript, limit = sys.argv[1], float(sys.argv[2])
    sep = sys.argv.index("--")
    answers, cmd = sys.argv[3:sep], sys.argv[sep + 1:]
    start = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    out, seen, prompts, first = b"", 0, 0, None
    deadline = start + limit + 30

    def read_some(timeout):
        nonlocal out
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(fd, 4096)
        except OSError:
            return False
        if not data:
            return False
        out += data
        return True

    alive = True
    while alive and time.monotonic() < deadline:
        alive = read_some(0.05)
        while out.find(PROMPT, seen) >= 0:
            seen = out.find(PROMPT, seen) + len(PROMPT)
            prompts += 1
            if first is None:
                first = time.monotonic() - start
            if answers:
                time.sleep(0.05)
                os.write(fd, answers.pop(0).encode() + b"\n")
            else:
                os.write(fd, b"\x04")  # end of input: no more tries
    if time.monotonic() >= deadline:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(transcript, "wb") as f:
        f.write(out)
    print("prompt_after=%s prompts=%d exit=%d" % ("%.2f" % first if first is not None else "none", prompts, code))
    ok = first is not None and first <= limit
    sys.exit(0 if ok else 1)


main()

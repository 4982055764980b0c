"""Runs a command in a real pseudo-terminal and answers its prompts (node-pty is not installed here).

argv[1]: the command as a JSON list; argv[2]: JSON list of [text to wait for, line to type].
Prints JSON {"out": everything the terminal showed, "code": exit code}.
"""
import json, os, pty, select, sys, time  # noqa: E401

command = json.loads(sys.argv[1])
script = json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(command[0], command)

out = b""

def read(timeout):
    global out
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return False
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return None
    if not chunk:
        return None
    out += chunk
    return True

for expected, answer in script:
    deadline = time.time() + 15
    while expected.encode() not in out:
        if time.time() > deadline or read(0.5) is None:
            print(json.dumps({"out": out.decode(errors="replace"), "code": None, "waiting": expected}))
            sys.exit(0)
    os.write(fd, (answer + "\r").encode())
# Until the program exits; one still waiting for input after 20 s is killed (a question the script missed).
deadline = time.time() + 20
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.time() > deadline:
        os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        break
    read(0.2)
while read(0.1):
    pass
print(json.dumps({"out": out.decode(errors="replace"), "code": os.waitstatus_to_exitcode(status)}))

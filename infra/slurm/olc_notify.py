"""Deliver epilog records to the completion hook, retrying with backoff; started detached by epilog.sh.

Usage: olc_notify.py [--detach] CONFIG_ENV [RECORD ...]. Also sweeps records left behind by earlier senders,
so a hook that was down is caught up by the next job's epilog. A record is claimed by an atomic rename, so
concurrent senders never deliver one twice. Standard library only and Python 3.6-compatible, like the job kit.
"""

import os
import sys
import time
from typing import Dict, List

# The rest of the standard library it needs (urllib, hmac, json: most of its start-up) is imported after detach():
# the epilog, and with it the job's end in Slurm, waits only for the interpreter to start.

METADATA_IDENTITY = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/identity"
ATTEMPTS = 8
STALE_AFTER_S = 60


def read_env_file(path: str) -> Dict[str, str]:
    values = {}
    with open(path) as handle:
        for raw in handle:
            line = raw.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip().strip("'\"")
    return values


def deliver(conf: Dict[str, str], record_path: str) -> str:
    """ "done", "retry" or "give-up" (the hook will never accept this record)."""
    import hashlib
    import hmac
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    with open(record_path, "rb") as handle:
        body = handle.read()
    job_id = json.loads(body.decode())["job_id"]
    with open(conf["OLC_HOOK_KEY_FILE"]) as handle:
        master = handle.read().strip()
    key = hmac.new(master.encode(), "job:{}".format(job_id).encode(), hashlib.sha256).hexdigest()
    stamp = int(time.time())
    signature = hmac.new(key.encode(), str(stamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-OLC-Timestamp": str(stamp),
        "X-OLC-Signature": signature,
    }
    url = conf["OLC_HOOK_URL"]
    if conf.get("OLC_HOOK_AUTH") == "google-id-token":
        token_url = METADATA_IDENTITY + "?audience=" + urllib.parse.quote(url, safe="")
        token_request = urllib.request.Request(token_url, headers={"Metadata-Flavor": "Google"})
        with urllib.request.urlopen(token_request, timeout=10) as reply:
            headers["Authorization"] = "Bearer " + reply.read().decode().strip()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        urllib.request.urlopen(request, timeout=30).close()
        return "done"
    except urllib.error.HTTPError as exc:
        print("hook answered {} for {}".format(exc.code, record_path), flush=True)
        # 503: Slurm has not finalised the job yet; 409/429: busy. Other refusals will not change on retry.
        return "retry" if exc.code >= 500 or exc.code in (409, 429) else "give-up"
    except OSError as exc:
        print("hook unreachable for {}: {}".format(record_path, exc), flush=True)
        return "retry"


def claim(record_path: str) -> str:
    claimed = "{}.sending-{}".format(record_path, os.getpid())
    os.rename(record_path, claimed)
    return claimed


def send_with_retries(conf: Dict[str, str], record_path: str) -> None:
    try:
        claimed = claim(record_path)
    except OSError:
        return  # another sender has it
    delay = 0.5
    for _attempt in range(ATTEMPTS):
        try:
            verdict = deliver(conf, claimed)
        except (ValueError, KeyError) as exc:  # a corrupt record or configuration: retrying cannot help
            print("cannot deliver {}: {!r}".format(claimed, exc), flush=True)
            verdict = "give-up"
        except OSError as exc:  # key file, metadata server: may recover
            print("cannot deliver {} yet: {}".format(claimed, exc), flush=True)
            verdict = "retry"
        if verdict == "done":
            os.remove(claimed)
            return
        if verdict == "give-up":
            os.rename(claimed, record_path + ".refused")  # kept for a human; the reconciler is the backstop
            return
        time.sleep(delay)
        delay = min(delay * 2, 30)
    os.rename(claimed, record_path)  # leave it for the next sweep


def stale_records(spool: str) -> List[str]:
    import glob

    now = time.time()
    stale = []
    for path in glob.glob(os.path.join(spool, "*.json")):
        try:
            if now - os.path.getmtime(path) > STALE_AFTER_S:
                stale.append(path)
        except OSError:
            pass  # claimed by another sender between listing and looking
    return stale


def detach() -> None:
    """Continue in a new session, returning to the caller only once the child has left the caller's process group.

    slurmd kills the epilog's process group as soon as the epilog exits; a plain `setsid cmd &` loses that race
    most of the time, so the epilog runs us in the foreground and we fork with a handshake.
    """
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        os.read(read_end, 1)  # the child is in its own session now
        os._exit(0)
    os.close(read_end)
    os.setsid()
    os.write(write_end, b"x")
    os.close(write_end)


def main(argv: List[str]) -> int:
    if len(argv) > 1 and argv[1] == "--detach":
        argv = argv[:1] + argv[2:]
        detach()
    conf = read_env_file(argv[1])
    spool = conf.get("OLC_SPOOL_DIR", "/var/spool/olc")
    # Our own record first: a problem with the sweep must never cost the job that called us its report.
    for record in argv[2:]:
        send_with_retries(conf, record)
    for record in stale_records(spool):
        send_with_retries(conf, record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

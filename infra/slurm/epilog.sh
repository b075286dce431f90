#!/bin/sh
# OpenLane Cloud Slurm epilog. Slurm runs it as root, with no PATH, after every job that got an allocation.
# It must be quick and must always exit 0: a failing or slow epilog drains the node. So it only spools a small
# record and runs olc_notify.py, which detaches itself, which delivers the record to the completion hook with retries.
# Configuration: olc-epilog.env next to this script, else /etc/olc/epilog.env (OLC_PYTHON, OLC_NOTIFY, OLC_SPOOL_DIR).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

case "${SLURM_JOB_COMMENT:-}" in
  olc:*) job_id=${SLURM_JOB_COMMENT#olc:} ;;
  *) exit 0 ;;
esac
# Only ids we generate (j + hex); anything else is not ours and must not reach the spool file name or its JSON.
hex=${job_id#j}
case "$job_id:$hex" in
  j*:*[!0-9a-f]* | *:) exit 0 ;;
esac
[ "$job_id" = "j$hex" ] || exit 0
case "${SLURM_JOB_ID:-x}" in
  *[!0-9]* | "") exit 0 ;;
esac
# A sweep's run is one task of a job array: its index names the run (digits only, or none).
run=${SLURM_ARRAY_TASK_ID:-}
case "$run" in
  *[!0-9]*) run="" ;;
esac
run_field=""
[ -n "$run" ] && run_field=",\"run\":$run"
exit2=${SLURM_JOB_EXIT_CODE2:-}
case "$exit2" in
  *[!0-9:]*) exit2="" ;;
esac

# No dirname, no mkdir when the spool exists: every process started here delays the job's end (and its report).
case "$0" in
  */*) conf="${0%/*}/olc-epilog.env" ;;
  *) conf=./olc-epilog.env ;;
esac
[ -r "$conf" ] || conf=/etc/olc/epilog.env
[ -r "$conf" ] || exit 0
. "$conf"

spool=${OLC_SPOOL_DIR:-/var/spool/olc}
[ -d "$spool" ] || mkdir -p "$spool" 2>/dev/null || exit 0
# Named by our job id as well: Slurm ids restart when a cluster's state is reset.
record="$spool/$job_id-$SLURM_JOB_ID.json"
printf '{"kind":"ended","job_id":"%s","slurm_job_id":"%s","exit_code2":"%s","epilog_at":%s%s}\n' \
  "$job_id" "$SLURM_JOB_ID" "$exit2" "$(date +%s.%N)" "$run_field" > "$record.tmp" 2>/dev/null && mv "$record.tmp" "$record"

# The sender detaches itself (after a handshake) and returns within a few tens of milliseconds; `timeout` bounds
# the wait should it not. -S: the sender needs only the standard library, not site-packages (nor their start-up).
if [ -n "${OLC_PYTHON:-}" ] && [ -n "${OLC_NOTIFY:-}" ]; then
  timeout 5 "$OLC_PYTHON" -S "$OLC_NOTIFY" --detach "$conf" "$record" </dev/null >>"$spool/notify.log" 2>&1
fi
exit 0

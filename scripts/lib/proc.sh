# SPDX-License-Identifier: Apache-2.0
# Processes the scripts and test fixtures start: is one alive, and stopping one for good.
# Source it: . scripts/lib/proc.sh

# True when process $1 exists and is not a zombie (without systemd, PID 1 may
# reap late, so a dead daemon can linger as <defunct>).
vtpm_pid_alive() {
    local s
    s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $s != Z* ]]
}

# Stops the daemon whose pid is in file $1, and removes the file: SIGTERM,
# up to 10 s to exit, then SIGKILL to it and the children it had (a uwsgi
# master that hangs on SIGTERM while a worker imports).
vtpm_pidfile_stop() {
    local pidfile=$1 pid kids
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if vtpm_pid_alive "$pid"; then
        kids=$(ps -o pid= --ppid "$pid" | tr '\n' ' ' || true)
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do vtpm_pid_alive "$pid" || break; sleep 0.1; done
        if vtpm_pid_alive "$pid"; then
            # shellcheck disable=SC2086
            kill -KILL "$pid" $kids 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

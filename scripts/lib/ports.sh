# SPDX-License-Identifier: Apache-2.0
# Free TCP ports on 127.0.0.1, for the scripts and test fixtures that start services.
# Source it: . scripts/lib/ports.sh

# True when nobody listens on port $1 (bash's /dev/tcp connect fails on a free port).
vtpm_port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints the first of ${1:-1} consecutive free ports, picked at random in
# 20000-49999 so that parallel test programs rarely collide; fails after 50 tries.
vtpm_free_ports() {
    local count=${1:-1} p i ok
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 30000))
        ok=1
        for ((i = 0; i < count; i++)); do
            if ! vtpm_port_is_free $((p + i)); then
                ok=0
                break
            fi
        done
        if [ "$ok" = 1 ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

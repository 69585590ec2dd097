# SPDX-License-Identifier: Apache-2.0
# The opt-in TLS mode of the service fixtures: certificate, key and CA from the environment.
# Source it: . scripts/lib/tls.sh

# True when ${1}_TLS_CERT, ${1}_TLS_KEY and ${1}_TLS_CA are all set (TLS
# mode), false when none is. Some but not all, or a file that cannot be read,
# is a mistake: says so on stderr and exits 1.
vtpm_tls_mode() {
    local v
    local -a vars=("${1}_TLS_CERT" "${1}_TLS_KEY" "${1}_TLS_CA")
    if [ -z "${!vars[0]:-}${!vars[1]:-}${!vars[2]:-}" ]; then
        return 1
    fi
    for v in "${vars[@]}"; do
        if [ -z "${!v:-}" ]; then
            echo "TLS mode needs ${vars[*]}; $v is not set" >&2
            exit 1
        fi
        if [ ! -r "${!v}" ]; then
            echo "cannot read $v '${!v}'" >&2
            exit 1
        fi
    done
}

#!/bin/sh
# The fuzz command (README "Fuzzing"): builds every cargo-fuzz target in fuzz/ once,
# then runs each for N seconds, one at a time, and prints one line per target:
#   TARGET  EXECUTIONS  SECONDS  ok | CRASH (artifact path)
# Exits non-zero when any target crashed (a panic, a broken invariant, a timeout or
# running out of memory); the input that did it is saved under fuzz/artifacts/TARGET/.
#
#   scripts/fuzz.sh                          every target, 60 s each
#   scripts/fuzz.sh --seconds 30             CI
#   scripts/fuzz.sh --seconds 600 config     one target, longer
#
# Needs cargo-fuzz (installed here when missing) and a C++ compiler (libFuzzer). The
# stable toolchain is enough: RUSTC_BOOTSTRAP=1 lets it take the -Z flags cargo-fuzz
# passes. Seeds are made from the test fixtures into fuzz/corpus/TARGET/ (not
# committed; what the fuzzer finds interesting is kept there between runs).
# Why libFuzzer, no sanitizer and debug assertions: fuzz/README.md.
set -eu
cd "$(dirname "$0")/.."

secs=60
targets=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds)
            [ $# -ge 2 ] || { echo "scripts/fuzz.sh: --seconds needs a number" >&2; exit 2; }
            secs=$2
            shift 2
            ;;
        --seconds=*)
            secs=${1#--seconds=}
            shift
            ;;
        -h | --help)
            sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        -*)
            echo "scripts/fuzz.sh: unknown option $1 (see --help)" >&2
            exit 2
            ;;
        *)
            targets="$targets $1"
            shift
            ;;
    esac
done
case "$secs" in
    '' | *[!0-9]*) echo "scripts/fuzz.sh: --seconds wants a whole number, not '$secs'" >&2; exit 2 ;;
esac

all="owner_arn config protocol_frame agent_state proc_stat username"
[ -n "$targets" ] || targets=$all
for t in $targets; do
    case " $all " in
        *" $t "*) ;;
        *) echo "scripts/fuzz.sh: no fuzz target '$t' (targets: $all)" >&2; exit 2 ;;
    esac
done

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "scripts/fuzz.sh: installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
# Same flags for build and run, or `cargo fuzz run` builds again.
flags="--sanitizer none --debug-assertions"

cd fuzz
start=$(date +%s)
cargo fuzz build $flags
echo "scripts/fuzz.sh: build took $(($(date +%s) - start)) s" >&2

# Seeds from the fixtures (file names are fixed, so running again changes nothing).
fx=../tests/fixtures
seed() { mkdir -p "corpus/$1" && cat > "corpus/$1/seed-$2"; }
n=0
tail -n +2 "$fx/owner-arns.tsv" | cut -f1 | while IFS= read -r arn; do
    n=$((n + 1))
    printf '%s' "$arn" | seed owner_arn "$n"
done
cat ../packaging/config.example.toml | seed config example
cat ../packaging/config.toml | seed config shipped
for f in "$fx"/agent-state/*.json; do
    sid=$(sed -n 's/.*"DocumentID": *"\([^"]*\)".*/\1/p' "$f" | head -n 1)
    { printf '%s\n' "${sid:-alice-0123456789abcdef0}"; cat "$f"; } | seed agent_state "$(basename "$f" .json)"
done
# Protocol: a payload (mode 0 request, 1 response) and whole streams (mode 2, 3).
printf '\000{"v":1,"body":{"verb":"resolve"}}' | seed protocol_frame resolve
printf '\000{"v":1,"body":{"verb":"check","user":"alice"}}' | seed protocol_frame check
printf '\000{"v":1,"body":{"verb":"switch_failed","reason":"x"}}' | seed protocol_frame switch-failed
printf '\001{"v":1,"body":{"answer":"allow","user":"alice","groups":["adm"],"session_id":"alice-0123456789abcdef0","owner":"arn:aws:iam::111122223333:root","rule":"rule 1"}}' |
    seed protocol_frame allow
printf '\001{"v":1,"body":{"answer":"deny","reason":"no"}}' | seed protocol_frame deny
printf '\001{"v":1,"body":{"answer":"status","version":"1","config_path":"/c","source":"api","landing_user":"l","rules":1,"aws_identity":null,"describe_sessions_allowed":true,"instance_id":"i-0","cache_size":0,"allowed":1,"denied":2,"errors":0,"api_calls":3,"last_aws_error":null,"uptime_secs":4,"extra":[["a","b"]]}}' |
    seed protocol_frame status
printf '\002\000\000\000\040{"v":1,"body":{"verb":"status"}}' | seed protocol_frame stream-status
printf '\003\377\377\377\377' | seed protocol_frame stream-too-large
# /proc/<pid>/stat: a real line, and a state byte + 20 bytes of numbers + a name.
seed proc_stat self < /proc/self/stat
printf 'S\001\000\000\000\002\000\000\000\003\000\000\000\000\210\000\000\011\000\000\000bash) R 1 (x' | seed proc_stat name
for name in 'Alice.Smith@Example.com' 'root' 'ROOT@example.com' 'ssm-landing' '-x' 'a b' 'Ωmega'; do
    for mode in 0 1 2; do
        printf "\\00$mode%s" "$name" | seed username "$mode-$(printf '%s' "$name" | od -An -tx1 | tr -d ' \n')"
    done
done
printf '\003example.com\nbob@example.com' | seed username domain

failed=0
printf '%-16s %14s %8s  %s\n' TARGET EXECUTIONS SECONDS RESULT
for t in $targets; do
    log=$(mktemp)
    t0=$(date +%s)
    # -timeout: one input taking 10 s is a finding (a quadratic check, a loop).
    if cargo fuzz run $flags "$t" -- -max_total_time="$secs" -timeout=10 \
        -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        artifact=$(sed -n "s/.*Test unit written to \(.*\)/\1/p" "$log" | tail -n 1)
        result="CRASH (${artifact:-no input saved: see the output above})"
        failed=1
        tail -n 40 "$log" >&2
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    printf '%-16s %14s %8s  %s\n' "$t" "${execs:-?}" "$(($(date +%s) - t0))" "$result"
    rm -f "$log"
done
exit $failed

#!/usr/bin/env bash
# pgveil against the pg_dump baseline (issue #4), measured in one run on one database.
#
# Builds a benchmark database (pgbench tables plus a PII-rich users table), then times:
#   the read floor      pg_dump -Fp > /dev/null
#   the gzip reference  pg_dump -Fp | gzip -6
#   the archive         pg_dump -Fc
#   the masked plain    pg_dump -Fp | sed '<email regex>' | gzip -6
#   pgveil dump         the three artifacts in one pass
#   pgveil anonymize    an uncompressed plain dump file in, masked plain out to /dev/null
#   pgveil dump --input the three artifacts from that file (pgveil's own CPU, without the server's)
#   direct reads       pgveil dump --read direct --jobs 1 and --jobs N (N = the host's cores, at
#                      least 2), and pgveil anonymize --dbname --jobs N > /dev/null (issue #15)
# and prints wall time, CPU time (user+sys), the machine's busy CPU time (server included), peak RSS
# and output size of each, the ratios the targets of issue #4 name, and the CPU bound of a one-pass
# dump on this machine. "Baseline (three runs)" is the sum of the gzip, archive and sed rows: a
# team running the three commands one after the other.
#
# Peak RSS is what `/usr/bin/time -v` reports for the command: the largest single process among it
# and its children (for pgveil dump that is pgveil itself, or pg_dump if larger).
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: benches/compare.sh [options]

Build a benchmark database and compare pgveil with pg_dump | gzip, pg_dump -Fc and pg_dump | sed | gzip.

Options:
  -s, --scale N      pgbench scale factor (default 20). The users table gets N * 25000 rows;
                     together about 19 MB of plain dump per unit of scale (scale 20 ≈ 380 MB).
  -w, --workdir DIR  work folder for the cluster, the database files and the outputs
                     (default: a new temporary folder under ${TMPDIR:-/tmp}). Run as root, the
                     user postgres must be able to reach DIR (it owns the cluster inside).
  -k, --keep         keep the work folder (cluster and database) at exit; run again with
                     --workdir DIR to reuse the database instead of building it again.
  -e, --existing     use an existing server given by the PG* variables (PGHOST, PGPORT, PGUSER, ...)
                     instead of creating a throwaway cluster. The benchmark database is created there
                     (dropped at exit unless --keep).
  -r, --runs N       run every command N times, in rounds, and report each one's median run by
                     wall time (default 1; use 3 or more on a busy machine).
  -d, --dbname NAME  benchmark database name (default pgveil_bench).
      --pg-bin DIR   PostgreSQL binaries (default: `pg_config --bindir`, else the PATH).
      --no-build     do not run `cargo build --release`; use the pgveil binary already built.
  -h, --help         this text.

Needs: a Rust toolchain, PostgreSQL server and client binaries (initdb, pg_ctl, pg_dump, psql,
pgbench), gzip, sed and GNU time. Run as root, the throwaway cluster runs as the user postgres.
The pgveil binary is ${CARGO_TARGET_DIR:-target}/release/pgveil.
EOF
}

die() {
    echo "compare.sh: $*" >&2
    exit 1
}

scale=20
workdir=""
keep=0
existing=0
dbname=pgveil_bench
pgbin=""
build=1
runs=1

while [[ $# -gt 0 ]]; do
    case "$1" in
    -s | --scale) scale="${2:?--scale needs a value}"; shift 2 ;;
    -w | --workdir) workdir="${2:?--workdir needs a value}"; shift 2 ;;
    -k | --keep) keep=1; shift ;;
    -e | --existing) existing=1; shift ;;
    -r | --runs) runs="${2:?--runs needs a value}"; shift 2 ;;
    -d | --dbname) dbname="${2:?--dbname needs a value}"; shift 2 ;;
    --pg-bin) pgbin="${2:?--pg-bin needs a value}"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ "$scale" =~ ^[1-9][0-9]*$ ]] || die "--scale must be a positive integer"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ "$dbname" =~ ^[a-z_][a-z0-9_]*$ ]] || die "--dbname must be a plain lower-case identifier"
users=$((scale * 25000))

# The byte-oriented C locale: sed and gzip at their fastest and results that do not depend on the
# caller's locale. The sed baseline then matches ASCII addresses only, as most such scripts do.
export LC_ALL=C

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

time_bin="$(type -P time || true)"
[[ -n "$time_bin" ]] || die "GNU time is needed for peak RSS (Debian: apt-get install time)"
"$time_bin" -v true 2>/dev/null || die "$time_bin is not GNU time (no -v)"

if [[ -z "$pgbin" ]]; then
    if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/pg_dump" ]]; then
        pgbin="$(pg_config --bindir)"
    else
        pgbin="$(dirname "$(type -P pg_dump || echo /nonexistent/pg_dump)")"
    fi
fi
tool() {
    # A PostgreSQL program from --pg-bin, else from the PATH.
    if [[ -x "$pgbin/$1" ]]; then echo "$pgbin/$1"; else type -P "$1" || echo "$1"; fi
}
pg_dump="$(tool pg_dump)"
psql="$(tool psql)"
pgbench="$(tool pgbench)"
for p in "$pg_dump" "$psql" "$pgbench" gzip sed; do
    command -v "$p" >/dev/null || die "$p not found (give --pg-bin DIR)"
done
# pgveil runs this same pg_dump, so both sides read the database with the same client.
export PGVEIL_PG_DUMP="$pg_dump"
# A fixed key (unless one is given): the same pseudonyms, hence the same artifact sizes, every run.
export PGVEIL_KEY="${PGVEIL_KEY:-pgveil benchmark key}"

# --- work folder and cleanup ----------------------------------------------------------------------

created_workdir=0
if [[ -z "$workdir" ]]; then
    workdir="$(mktemp -d "${TMPDIR:-/tmp}/pgveil-bench.XXXXXX")"
    created_workdir=1
else
    mkdir -p "$workdir"
    workdir="$(cd "$workdir" && pwd)"
fi
out="$workdir/out"
pgdata="$workdir/pgdata"
sockdir="$workdir/sock"
server_started=0
created_db=0

# Run a server program as the cluster's owner: initdb and postgres refuse to run as root.
as_owner() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cleanup() {
    local status=$?
    set +e
    if [[ $server_started -eq 1 ]]; then
        as_owner "$(tool pg_ctl)" -D "$pgdata" -m fast -w stop >/dev/null 2>&1
    fi
    if [[ $existing -eq 1 && $created_db -eq 1 && $keep -eq 0 ]]; then
        "$psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $dbname" >/dev/null 2>&1
    fi
    if [[ $keep -eq 1 ]]; then
        echo "kept $workdir (reuse: benches/compare.sh --workdir $workdir --keep -s $scale)" >&2
    elif [[ $created_workdir -eq 1 ]]; then
        rm -rf "$workdir"
    else
        rm -rf "$out"
        [[ $created_cluster -eq 1 ]] && rm -rf "$pgdata" "$sockdir"
    fi
    exit "$status"
}
created_cluster=0
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the pgveil binary -----------------------------------------------------------------------------

target_dir="${CARGO_TARGET_DIR:-$repo/target}"
pgveil="$target_dir/release/pgveil"
if [[ $build -eq 1 ]]; then
    echo "== cargo build --release" >&2
    (cd "$repo" && cargo build --release --quiet)
fi
[[ -x "$pgveil" ]] || die "$pgveil not found (build it, or drop --no-build)"

# --- the server ------------------------------------------------------------------------------------

if [[ $existing -eq 0 ]]; then
    if [[ $EUID -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' user to own the cluster"
        # The owner must reach its data folder inside ours.
        chmod 711 "$workdir"
    fi
    if [[ ! -f "$pgdata/PG_VERSION" ]]; then
        echo "== initdb $pgdata" >&2
        mkdir -p "$pgdata" "$sockdir"
        [[ $EUID -eq 0 ]] && chown postgres "$pgdata" "$sockdir"
        created_cluster=1
        as_owner "$(tool initdb)" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C \
            --no-sync >"$workdir/initdb.log" 2>&1 || die "initdb failed, see $workdir/initdb.log"
        # A benchmark cluster: durability off to load fast, only a socket in our folder, so no
        # port clash with other servers.
        cat >>"$pgdata/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$sockdir'
port = 5432
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
maintenance_work_mem = 256MB
max_wal_size = 8GB
checkpoint_timeout = 30min
EOF
    fi
    mkdir -p "$sockdir"
    [[ $EUID -eq 0 ]] && chown postgres "$sockdir"
    as_owner "$(tool pg_ctl)" -D "$pgdata" -l "$pgdata/server.log" -w start >/dev/null ||
        die "the server did not start, see $pgdata/server.log"
    server_started=1
    export PGHOST="$sockdir" PGPORT=5432 PGUSER=postgres
    unset PGSERVICE PGPASSWORD PGOPTIONS
fi
export PGDATABASE="$dbname"

# --- the benchmark database ------------------------------------------------------------------------

# The database's comment records what it was built with, so a kept database is reused only when it
# has the requested size, and a database we did not build is never dropped.
marker="pgveil benchmark database: scale=$scale users=$users"
current="$("$psql" -X -At -d postgres -c \
    "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '$dbname'")"
db_exists="$("$psql" -X -At -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$dbname'")"
if [[ "$db_exists" == 1 && "$current" == "$marker" ]]; then
    echo "== reusing database $dbname ($marker)" >&2
else
    if [[ "$db_exists" == 1 ]]; then
        [[ "$current" == "pgveil benchmark database:"* ]] ||
            die "database $dbname exists and was not built by this script; choose another --dbname"
        "$psql" -X -q -d postgres -c "DROP DATABASE $dbname"
    fi
    echo "== building $dbname: pgbench -i -s $scale, users table with $users rows" >&2
    "$psql" -X -q -d postgres -c "CREATE DATABASE $dbname"
    created_db=1
    "$pgbench" -i -q -s "$scale" "$dbname" 2>"$workdir/pgbench.log" ||
        die "pgbench -i failed, see $workdir/pgbench.log"
    "$psql" -X -q -v ON_ERROR_STOP=1 -v users="$users" -d "$dbname" <<'SQL'
-- Personal data in every shape the default rules must find: one address per value (a UNIQUE
-- column, so pgveil writes keyed pseudonyms there), addresses inside jsonb and free text, names with
-- accents, phone numbers, tabs, CR/LF and backslashes (escaped by COPY), NULLs. Deterministic: every
-- value derives from the row number.
CREATE TABLE public.users (
    id bigint PRIMARY KEY,
    email text NOT NULL UNIQUE,
    full_name text NOT NULL,
    phone text,
    city text,
    profile jsonb,
    notes text,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz
);
INSERT INTO public.users
SELECT i,
       local || i || '@' || dom,
       fn || ' ' || ln,
       CASE WHEN h % 5 <> 0 THEN
           '+1 (' || lpad((h % 1000)::text, 3, '0') || ') ' || lpad((h / 1000 % 1000)::text, 3, '0')
           || '-' || lpad((h / 1000000 % 10000)::text, 4, '0') END,
       CASE WHEN h % 10 <> 0 THEN city END,
       CASE WHEN h % 7 <> 0 THEN jsonb_build_object(
           'bio', 'Likes ' || w1 || E'\nand ' || w2 || E' "quoted" C:\\tmp',
           'tags', jsonb_build_array(w1, w2),
           'email', local || i || '@' || dom,
           'contacts', jsonb_build_array(jsonb_build_object(
               'kind', 'backup', 'email', lower(ln) || '_' || i || '@backup-mail.test')),
           'newsletter', h % 2 = 0) END,
       CASE WHEN h % 5 < 3 THEN
           w1 || ' ' || w2 || E': customer called back\nabout the invoice\tref:\t' || (h % 1000000)
           || CASE WHEN h % 4 = 0 THEN E'\r\nreply to ' || lower(ln) || i || '@reply.example.org' ELSE '' END
           || CASE WHEN h % 6 = 0 THEN E' see C:\\Users\\support\\tickets\\' || i ELSE '' END END,
       timestamptz '2023-01-01 00:00:00+00' + (h % 31536000) * interval '1 second',
       CASE WHEN h % 20 = 0 THEN timestamptz '2024-06-01 00:00:00+00' END
FROM generate_series(1, :users) AS i
CROSS JOIN LATERAL (SELECT hashint8(i)::bigint & 2147483647 AS h) AS x
CROSS JOIN LATERAL (SELECT
    (ARRAY['Maria','John','Li','Anna','José','Fatima','Olga','Ahmed','Chloé','Søren',
           'Yuki','Priya','Lukas','Zoë','Mateo','Aisha','Noah','Émilie','Jan','Ngozi'])[1 + h % 20] AS fn,
    (ARRAY['García','Smith','Wei','Kowalska','O''Brien','Müller','Nguyen','Dubois','Rossi',
           'Papadopoulos','Johansson','Tanaka','Okafor','van der Berg','Fernández'])[1 + h / 20 % 15] AS ln,
    (ARRAY['example-mail.test','corp.example.org','mail.shop-users.test','uni.example.edu',
           'bulk-mail.test'])[1 + h / 300 % 5] AS dom,
    (ARRAY['Madrid','Boston','Shanghai','Kraków','Paris','Oslo','Zürich','Lagos','São Paulo',
           'Tokyo'])[1 + h / 1500 % 10] AS city,
    (ARRAY['order','delivery','refund','package','invoice','ticket','support',
           'newsletter'])[1 + h / 15000 % 8] AS w1,
    (ARRAY['late','damaged','resolved','pending','urgent','missing'])[1 + h / 120000 % 6] AS w2
) AS v
CROSS JOIN LATERAL (SELECT
    -- ASCII local parts, so that the sed baseline can match them.
    translate(lower(fn), 'ÉéøëóíáüñãçŁł', 'eeoeoiauuacll') || '.'
    || translate(lower(replace(replace(ln, ' ', ''), '''', '')), 'ÉéøëóíáüñãçŁł', 'eeoeoiauuacll') AS local
) AS l;
VACUUM ANALYZE public.users;
SQL
    "$psql" -X -q -d postgres -c "COMMENT ON DATABASE $dbname IS '$marker'"
fi

# --- measurements ----------------------------------------------------------------------------------

rm -rf "$out"
mkdir -p "$out/pgveil"

declare -A label wall cpu rss busy bytes
ids=()

# busy_ticks: CPU time the whole machine spent busy so far (user, nice, system, irq, softirq; not
# idle, iowait or steal), in clock ticks, from /proc/stat.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
hz="$(getconf CLK_TCK)"

# measure ID LABEL COMMAND: run COMMAND (a bash command line) under GNU time; append its wall time,
# CPU time, peak RSS (KiB) and the machine's busy CPU time over the run (which includes the
# PostgreSQL server's work, unlike GNU time's figure) to $out/ID.runs.
measure() {
    local id="$1" t="$out/$1.time" busy_before busy_after
    echo "== $2" >&2
    busy_before="$(busy_ticks)"
    "$time_bin" -v -o "$t" bash -o pipefail -c "$3" || die "$2 failed"
    busy_after="$(busy_ticks)"
    [[ -n "${label[$id]:-}" ]] || ids+=("$id")
    label[$id]="$2"
    awk -F': ' -v busy="$(((busy_after - busy_before)))" -v hz="$hz" '
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
        /User time/ { u = $2 }
        /System time/ { s = $2 }
        /Maximum resident set size/ { m = $2 }
        END { printf "%.2f %.2f %d %.2f\n", w, u + s, m, busy / hz }' "$t" >>"$out/$id.runs"
}

size() { stat -c %s "$1"; }

sed_expr='s/[A-Za-z0-9._%+-]*@[A-Za-z0-9.-]*/nobody@example.com/g'

# The input of pgveil anonymize. Untimed; it also warms the cache, so that no measured command
# pays for a cold one.
echo "== pg_dump -Fp -f plain.sql (untimed)" >&2
"$pg_dump" -Fp -f "$out/plain.sql"

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
jobs="$(nproc)"
((jobs >= 2)) || jobs=2
# Rounds rather than repeats of one command: a slow moment of a shared machine then hits every
# command alike.
for ((round = 1; round <= runs; round++)); do
    [[ $runs -eq 1 ]] || echo "== round $round of $runs" >&2
    rm -rf "$out/pgveil"
    measure floor 'pg_dump -Fp > /dev/null (read floor)' "'$pg_dump' -Fp > /dev/null"
    measure gzip 'pg_dump -Fp \| gzip -6' "'$pg_dump' -Fp | gzip -6 > '$out/base.sql.gz'"
    measure custom 'pg_dump -Fc' "'$pg_dump' -Fc -f '$out/base.dump'"
    measure sed 'pg_dump -Fp \| sed … \| gzip -6' \
        "'$pg_dump' -Fp | sed '$sed_expr' | gzip -6 > '$out/base.anon.sql.gz'"
    measure dump 'pgveil dump (three artifacts)' \
        "'$pgveil' dump --dbname '$dbname' --out-dir '$out/pgveil' --name bench"
    measure anonymize 'pgveil anonymize plain.sql > /dev/null' \
        "'$pgveil' anonymize '$out/plain.sql' > /dev/null"
    # Direct reads (issue #15): pgveil's own connections, one and N.
    rm -rf "$out/pgveil-d1" "$out/pgveil-dn"
    measure direct1 'pgveil dump --read direct --jobs 1 (three artifacts)' \
        "'$pgveil' dump --dbname '$dbname' --read direct --jobs 1 --out-dir '$out/pgveil-d1' --name bench"
    measure directn "pgveil dump --read direct --jobs $jobs (three artifacts)" \
        "'$pgveil' dump --dbname '$dbname' --read direct --jobs $jobs --out-dir '$out/pgveil-dn' --name bench"
    measure anondirect "pgveil anonymize --dbname --jobs $jobs > /dev/null (masked plain from the database)" \
        "'$pgveil' anonymize --dbname '$dbname' --jobs $jobs > /dev/null"
    # The same three artifacts from the file: pgveil's own CPU for them, without the server's.
    rm -rf "$out/pgveil-file"
    measure dumpfile 'pgveil dump --input plain.sql (three artifacts, no server)' \
        "'$pgveil' dump --input '$out/plain.sql' --out-dir '$out/pgveil-file' --name bench"
done

# Each command's figures are those of its median round by wall time.
for id in "${ids[@]}"; do
    read -r "wall[$id]" "cpu[$id]" "rss[$id]" "busy[$id]" < <(sort -n -k1,1 "$out/$id.runs" | sed -n "$(((runs + 1) / 2))p")
done

plain_bytes="$(size "$out/plain.sql")"
bytes[floor]="$plain_bytes"
bytes[gzip]="$(size "$out/base.sql.gz")"
bytes[custom]="$(size "$out/base.dump")"
bytes[sed]="$(size "$out/base.anon.sql.gz")"
dump_gz="$(size "$out/pgveil/bench.gz")"
dump_anon="$(size "$out/pgveil/bench.anon.gz")"
dump_custom="$(size "$out/pgveil/bench.dump")"
bytes[dump]=$((dump_gz + dump_anon + dump_custom))
bytes[anonymize]=0
bytes[anondirect]=0
for d in direct1:pgveil-d1 directn:pgveil-dn; do
    bytes[${d%%:*}]="$(($(size "$out/${d#*:}/bench.gz") + $(size "$out/${d#*:}/bench.anon.gz") + $(size "$out/${d#*:}/bench.dump")))"
done
bytes[dumpfile]="$(($(size "$out/pgveil-file/bench.gz") + $(size "$out/pgveil-file/bench.anon.gz") + $(size "$out/pgveil-file/bench.dump")))"
# The masked content differs from what sed produces (keyed pseudonyms in unique columns, addresses sed
# misses), so the compression target of NAME.anon.gz is checked against gzip -6 of the same content.
echo "== reference: zcat bench.anon.gz | gzip -6 (untimed)" >&2
anon_ref="$(gzip -dc "$out/pgveil/bench.anon.gz" | gzip -6 | wc -c)"

# --- report ------------------------------------------------------------------------------------------

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
rss_mb() { awk -v k="$1" 'BEGIN { printf "%.0f", k * 1024 / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
sum() { awk -v a="$1" -v b="$2" -v c="$3" 'BEGIN { printf "%.2f", a + b + c }'; }
verdict() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == "<=") ? (v <= t) : (v >= t); print ok ? "met" : "**not met**" }'
}

base_wall="$(sum "${wall[gzip]}" "${wall[custom]}" "${wall[sed]}")"
base_cpu="$(sum "${cpu[gzip]}" "${cpu[custom]}" "${cpu[sed]}")"
cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"

echo
echo "Machine: $(nproc) CPUs ($cpu_model), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1e6 }' /proc/meminfo) RAM; load average before / after the measurements: $load_before / $(cut -d' ' -f1-3 /proc/loadavg)"
echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); pgveil $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?'); $("$pg_dump" --version)"
echo "Database: pgbench scale $scale + $users users rows; plain dump $(mb "$plain_bytes") MB; figures: median of $runs run(s)"
echo
echo "| command | wall s | CPU s (user+sys) | machine CPU s | peak RSS MB | output MB |"
echo "|---|---:|---:|---:|---:|---:|"
for id in "${ids[@]}"; do
    out_mb="$(mb "${bytes[$id]}")"
    [[ $id == anonymize ]] && out_mb="(reads $(mb "$plain_bytes"))"
    [[ $id == anondirect ]] && out_mb="(discarded)"
    [[ $id == floor ]] && out_mb="($out_mb discarded)"
    printf '| %s | %s | %s | %s | %s | %s |\n' "${label[$id]}" "${wall[$id]}" "${cpu[$id]}" \
        "${busy[$id]}" "$(rss_mb "${rss[$id]}")" "$out_mb"
done
printf '| baseline: the three runs above, one after the other (sum) | %s | %s | %s | | %s |\n' \
    "$base_wall" "$base_cpu" "$(sum "${busy[gzip]}" "${busy[custom]}" "${busy[sed]}")" \
    "$(mb $((bytes[gzip] + bytes[custom] + bytes[sed])))"

speed="$(ratio "${wall[dump]}" "${wall[gzip]}")"
gz="$(ratio "$dump_gz" "${bytes[gzip]}")"
anon="$(ratio "$dump_anon" "$anon_ref")"
anon_sed="$(ratio "$dump_anon" "${bytes[sed]}")"
arch="$(ratio "$dump_custom" "${bytes[custom]}")"
dump_rss="$(rss_mb "${rss[dump]}")"
anon_rate="$(awk -v b="$plain_bytes" -v s="${wall[anonymize]}" 'BEGIN { printf "%.0f", b / 1e6 / s }')"

echo
echo "| target (issue #4) | measured | |"
echo "|---|---:|---|"
echo "| pgveil dump wall / (pg_dump -Fp \| gzip -6) wall ≤ 0.5 | $speed | $(verdict "$speed" "<=" 0.5) |"
# No single-pass tool can finish before pg_dump has read the database: this bounds the first ratio.
echo "| (for information) read floor wall / (pg_dump -Fp \| gzip -6) wall: the lowest reachable | $(ratio "${wall[floor]}" "${wall[gzip]}") | |"
# A CPU-bound pass cannot beat (CPU it needs) / (cores). The read alone (server + pg_dump) costs the
# read floor's machine CPU; the three artifacts cost pgveil what `dump --input` costs it, of which
# `anonymize` (reading, parsing, masking) is the part that is not compression and writing.
cores="$(nproc)"
cpu_bound() { awk -v a="$1" -v b="$2" -v c="$3" -v g="${wall[gzip]}" -v n="$cores" 'BEGIN { printf "%.3f", (a + b - c) / n / g }'; }
echo "| (for information) CPU bound: (read floor machine CPU + pgveil dump --input CPU) / $cores cores / gzip pipeline wall | $(cpu_bound "${busy[floor]}" "${cpu[dumpfile]}" 0) | |"
echo "| (for information) the same with compression and writing only: (read floor machine CPU + dump --input CPU − anonymize CPU) / $cores cores / gzip pipeline wall | $(cpu_bound "${busy[floor]}" "${cpu[dumpfile]}" "${cpu[anonymize]}") | |"
echo "| (for information) pgveil dump wall / three-run baseline wall | $(ratio "${wall[dump]}" "$base_wall") | |"
echo "| NAME.gz size / pg_dump -Fp \| gzip -6 size ≤ 1.02 | $gz | $(verdict "$gz" "<=" 1.02) |"
echo "| NAME.anon.gz size / gzip -6 of the same masked text ≤ 1.02 | $anon | $(verdict "$anon" "<=" 1.02) |"
echo "| (for information) NAME.anon.gz size / pg_dump -Fp \| sed \| gzip -6 size | $anon_sed | |"
echo "| NAME.dump size / pg_dump -Fc size ≤ 1.02 | $arch | $(verdict "$arch" "<=" 1.02) |"
direct_speed="$(ratio "${wall[directn]}" "${wall[gzip]}")"
anon_direct="$(ratio "${wall[anondirect]}" "${wall[floor]}")"
echo "| direct: pgveil dump --jobs $jobs wall / (pg_dump -Fp \| gzip -6) wall ≤ 0.55 | $direct_speed | $(verdict "$direct_speed" "<=" 0.55) |"
echo "| direct: pgveil anonymize --dbname --jobs $jobs wall / read floor wall ≤ 0.75 | $anon_direct | $(verdict "$anon_direct" "<=" 0.75) |"
echo "| (for information) direct: wall with 1 connection / wall with $jobs | $(ratio "${wall[direct1]}" "${wall[directn]}") | |"
echo "| pgveil dump peak RSS ≤ 200 MB | $dump_rss MB | $(verdict "$dump_rss" "<=" 200) |"
echo "| pgveil anonymize ≥ 500 MB/s (plain file in, plain out to /dev/null) | $anon_rate MB/s | $(verdict "$anon_rate" ">=" 500) |"
# Wall time on a shared machine depends on the neighbours; input per CPU second does much less.
echo "| (for information) pgveil anonymize, input MB per CPU second (user+sys) | $(awk -v b="$plain_bytes" -v s="${cpu[anonymize]}" 'BEGIN { printf "%.0f", b / 1e6 / s }') | |"

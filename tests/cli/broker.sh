# Shell helpers for tests that run a real skr-broker on loopback over TLS.
# Source after lib.sh (uses $tmpd); needs $BUILD. Every broker started here is
# stopped by stop_broker, which the EXIT trap of the test calls too.

# make_tls DIR: a throwaway CA and a server certificate for 127.0.0.1 and ::1.
make_tls() {
	d=$1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=skr test CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/CN=127.0.0.1" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null &&
	printf 'subjectAltName=IP:127.0.0.1,IP:::1\n' > "$d/san.ext" &&
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/san.ext" -out "$d/server.pem" 2>/dev/null
}

# The store's backend: SQLite files by default; SKR_TEST_DB=postgresql puts
# each broker configuration's database on a private PostgreSQL server
# (tests/cli/pg.sh, started at the first configuration, one database per
# configuration; a test's EXIT trap calls stop_pg, and pg.sh's watchdog
# stops it in any case).  broker_db DIR sets BROKER_DB, the "database" value.
# BROKER_DATABASE, when set, is that value for every configuration (a test
# that runs its own servers, e.g. a multi-host libpq string).
. "${top:-$(dirname "$0")/../..}/tests/cli/pg.sh"
broker_dbs=0
broker_db() {
	if [ -n "${BROKER_DATABASE:-}" ]; then
		BROKER_DB=$BROKER_DATABASE
		return 0
	fi
	if [ "${SKR_TEST_DB:-sqlite}" != postgresql ]; then
		BROKER_DB=$1/broker.db
		return 0
	fi
	if [ -z "$PG_DIR" ]; then
		start_pg "$tmpd/pg" || return 1
	fi
	broker_dbs=$((broker_dbs + 1))
	BROKER_DB=$(pg_createdb "broker_$broker_dbs")
}

# broker_sql DIR SQL: SQL on DIR's broker database, whichever backend; a
# SELECT prints its rows ("|" between columns).
broker_sql() {
	if [ "${SKR_TEST_DB:-sqlite}" = postgresql ]; then
		PG_DB=$(sed -n 's|.*"database": "postgresql://[^/]*/\([a-z_0-9]*\)".*|\1|p' "$1/broker.json") \
			pg_sql "$2"
		return
	fi
	python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
if sys.argv[2].lstrip().upper().startswith("SELECT"):
    for r in c.execute(sys.argv[2]):
        print("|".join(str(x) for x in r))
else:
    c.executescript(sys.argv[2])
c.commit()' "$1/broker.db" "$2"
}

# write_broker_config DIR [TRUST_ANCHOR_PEM]: config, master key, admin token.
write_broker_config() {
	d=$1
	broker_db "$d" || { echo "write_broker_config: no database" >&2; return 1; }
	head -c 32 /dev/urandom > "$d/master.key" && chmod 600 "$d/master.key"
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$d/admin.token"
	chmod 600 "$d/admin.token"
	head -c 32 /dev/urandom > "$d/nonce.secret" && chmod 600 "$d/nonce.secret"
	anchors=
	[ -n "${2:-}" ] && anchors="\"trust_anchors\": [\"$2\"],"
	cat > "$d/broker.json" <<CFG
{
  "listen": "127.0.0.1:0",
  "admin_listen": "127.0.0.1:0",
  "tls_cert": "$d/server.pem",
  "tls_key": "$d/server.key",
  "database": "$BROKER_DB",
  "master_key": "$d/master.key",
  "admin_token_file": "$d/admin.token",
  "nonce_secret_file": "$d/nonce.secret",
  $anchors
  "nonce_ttl": 60,
  "threads": 2
}
CFG
}

broker_pid=
# start_broker DIR: starts skr-broker, waits for its ports (RELEASE_URL, ADMIN_URL).
start_broker() {
	d=$1
	rm -f "$d/ports"
	"$BUILD/skr-broker" --config "$d/broker.json" --port-file "$d/ports" 2>>"$d/broker.log" &
	broker_pid=$!
	i=0
	while [ ! -s "$d/ports" ] && [ $i -lt 100 ]; do
		kill -0 "$broker_pid" 2>/dev/null || { broker_pid=; return 1; }
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$d/ports" ] || return 1
	read -r rport aport < "$d/ports"
	RELEASE_URL="https://127.0.0.1:$rport"
	ADMIN_URL="https://127.0.0.1:$aport"
}

# watch_pids PID...: a watchdog that kills (-9) the given processes (brokers,
# a swtpm) once the test's shell ($$) is gone, even after a kill -9 of the
# test that runs no EXIT trap.  A pid is killed only while it is still a
# skr-broker or a swtpm (the trap may have stopped it, and the pid be reused).
watch_pids() {
	(
		trap '' HUP INT TERM
		while kill -0 $$ 2>/dev/null; do sleep 1; done
		for p in "$@"; do
			grep -qa 'skr-broker\|swtpm' "/proc/$p/cmdline" 2>/dev/null && kill -9 "$p"
		done
	) </dev/null >/dev/null 2>&1 &
}

# stop_broker [SIGNAL]: TERM by default; KILL simulates a crash.
stop_broker() {
	[ -n "$broker_pid" ] || return 0
	kill "-${1:-TERM}" "$broker_pid" 2>/dev/null
	wait "$broker_pid" 2>/dev/null
	broker_pid=
}

# admin METHOD PATH [JSON]: an admin API call; prints the body, sets $http_status.
admin() {
	set -- "$1" "$2" "${3:-}"
	if [ -n "$3" ]; then
		http_status=$(curl -sS -o "$tmpd/admin.out" -w '%{http_code}' --cacert "$bdir/ca.pem" \
			-X "$1" -H "Authorization: Bearer $(cat "$bdir/admin.token")" \
			-H 'Content-Type: application/json' --data "$3" "$ADMIN_URL$2")
	else
		http_status=$(curl -sS -o "$tmpd/admin.out" -w '%{http_code}' --cacert "$bdir/ca.pem" \
			-X "$1" -H "Authorization: Bearer $(cat "$bdir/admin.token")" "$ADMIN_URL$2")
	fi
	cat "$tmpd/admin.out"
}

# A private swtpm on a free loopback port pair; sets TCTI. stop_vtpm kills it.
vtpm_pid=
start_vtpm() {
	d=$1
	mkdir -p "$d"
	for attempt in 1 2 3 4 5; do
		port=$(python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p + 1)); print(p); break
    except OSError: pass
    finally: s.close(); t.close()')
		swtpm socket --tpm2 --tpmstate "dir=$d" --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
			--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
			--flags not-need-init,startup-clear --log "file=$d/swtpm.log" &
		vtpm_pid=$!
		if python3 -c 'import socket, sys, time
for i in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close(); sys.exit(0)
    except OSError: time.sleep(0.05)
sys.exit(1)' "$port" && kill -0 "$vtpm_pid" 2>/dev/null; then
			TCTI="swtpm:host=127.0.0.1,port=$port"
			return 0
		fi
		kill -9 "$vtpm_pid" 2>/dev/null
		wait "$vtpm_pid" 2>/dev/null
	done
	vtpm_pid=
	return 1
}

stop_vtpm() {
	[ -n "$vtpm_pid" ] || return 0
	kill "$vtpm_pid" 2>/dev/null
	wait "$vtpm_pid" 2>/dev/null
	vtpm_pid=
}

# vtpm_reboot: a new boot of the running swtpm (same port, same state): a
# TPM_Init through the control channel and TPM2_Startup(CLEAR), which reset
# every PCR, PCR 15 (the boot gate) included.
# A new boot also starts with an empty /run: the gate log and skr-unlock's
# records (SKR_GATE_LOG, SKR_RUN_DIR) go too.
vtpm_reboot() {
	p=${TCTI##*port=}
	swtpm_ioctl --tcp "127.0.0.1:$((p + 1))" -i >/dev/null 2>&1 || return 1
	TPM2TOOLS_TCTI=$TCTI tpm2_startup -c >/dev/null 2>&1 || true
	[ -n "${SKR_GATE_LOG:-}" ] && rm -f "$SKR_GATE_LOG"
	[ -n "${SKR_RUN_DIR:-}" ] && [ -d "$SKR_RUN_DIR" ] && find "$SKR_RUN_DIR" -mindepth 1 -delete
	return 0
}

# refsets KEY_ID: the key's reference sets as "id:state:label" lines; 1 when
# the admin API does not answer them.
refsets() {
	admin GET "/v1/keys/$1/refsets" >/dev/null
	[ "$http_status" = 200 ] || return 1
	python3 -c 'import json, sys
for s in json.load(open(sys.argv[1])): print("%s:%s:%s" % (s["id"], s["state"], s["label"]))' "$tmpd/admin.out"
}

# pcr_json PCR...: the vTPM's current sha256 values as {"sha256": {"N": "hex"}}.
pcr_json() {
	list=$(echo "$@" | tr ' ' ',')
	TPM2TOOLS_TCTI=$TCTI tpm2_pcrread "sha256:$list" 2>/dev/null | python3 -c '
import re, sys, json
vals = {}
for line in sys.stdin:
    m = re.match(r"\s*(\d+)\s*:\s*0x([0-9A-Fa-f]+)", line)
    if m: vals[m.group(1)] = m.group(2).lower()
print(json.dumps({"sha256": vals}))'
}

# start_stack: the whole fake-Azure setup the end-to-end tests share — a
# swtpm provisioned by skr-fake-azure, TLS material, a broker that trusts the
# test AMD chain and finds the VCEK in its cache (the evidence carries none).
# Sets bdir, az, TCTI, RELEASE_URL, ADMIN_URL; prints "FAIL ..." and returns 1
# on failure.  Stop it with stop_broker and stop_vtpm.
start_stack() {
	bdir=$tmpd/broker
	az=$tmpd/az
	mkdir -p "$bdir/vcek" "$az"
	start_vtpm "$tmpd/tpm" || { echo "FAIL swtpm-start"; return 1; }
	"$BUILD/tools/skr-fake-azure" --tcti "$TCTI" --out "$az" >/dev/null ||
		{ echo "FAIL fake-azure"; return 1; }
	make_tls "$bdir" || { echo "FAIL tls"; return 1; }
	write_broker_config "$bdir" "$az/chain.pem"
	vcek_name=$("${SKRCTL:-$BUILD/skrctl}" hcl show "$az/hcl.bin" --json | python3 -c 'import json, sys
r = json.load(sys.stdin)["snp_report"]; print(r["chip_id"] + "-" + r["reported_tcb"]["raw"] + ".der")')
	cp "$az/vcek.der" "$bdir/vcek/$vcek_name"
	sed -i "s|\"threads\": 2|\"threads\": 2, \"vcek_cache_dir\": \"$bdir/vcek\"|" "$bdir/broker.json"
	start_broker "$bdir" || { echo "FAIL broker-start: $(cat "$bdir/broker.log")"; return 1; }
}

# The boot gate (src/common/gate.h), as the initramfs leaves it.  gate_measure
# EVENT... extends the vTPM's PCR 15 with each event (TPM2_PCR_Event, every
# bank) and appends it to the gate log ($SKR_GATE_LOG, which the caller
# exports); gate_attested KEY_ID records KEY_ID's volume opened by a release
# and the handover, the one history reseal accepts.
gate_measure() {
	for e in "$@"; do
		printf '%s' "$e" > "$tmpd/gate.event" &&
			TPM2TOOLS_TCTI=$TCTI tpm2_pcrevent "$tmpd/gate.event" 15 >/dev/null &&
			printf '%s\n' "$e" >> "$SKR_GATE_LOG" || return 1
	done
}
gate_attested() {
	gate_measure "skr/v1 opened key=$1 method=attestation" "skr/v1 handover"
}

# wait_storm_trust DIR PID: waits (up to 120 s) for tests/tools/skr-storm,
# started as PID with --dir DIR, to write its software VMs' CA (DIR/trust.pem),
# which the broker must trust; 1 if it died first or never wrote it.
wait_storm_trust() {
	_i=0
	while [ ! -s "$1/trust.pem" ] && [ $_i -lt 1200 ]; do
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
		_i=$((_i + 1))
	done
	[ -s "$1/trust.pem" ]
}

# register_swtpm_key KEY_ID: creates KEY_ID at the broker (admin API) with a
# random 32-byte secret, left in $secret_hex, an az-snp-vtpm policy with
# the test chain's TCB floor, and the swtpm's PCRs 0, 7 and 11 ($TCTI) as
# its current reference set, as the release benchmarks need; 1 (with the
# admin answer on stderr) if the broker refuses either.
register_swtpm_key() {
	secret_hex=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	_b64=$(printf '%s' "$secret_hex" | xxd -r -p | base64 -w0)
	_policy='{"tee": "az-snp-vtpm", "snp": {"min_tcb": {"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115}}, "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}'
	admin POST /v1/keys "{\"key_id\": \"$1\", \"secret\": \"$_b64\", \"policy\": $_policy}" >/dev/null
	[ "$http_status" = 201 ] || { echo "admin create key $1: $http_status $(cat "$tmpd/admin.out")" >&2; return 1; }
	admin POST "/v1/keys/$1/refsets" "{\"label\": \"bench\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
	[ "$http_status" = 201 ] || { echo "admin add refset to $1: $http_status $(cat "$tmpd/admin.out")" >&2; return 1; }
}

# ek_provision STATE_DIR CA_DIR: swtpm_setup --create-ek-cert into STATE_DIR,
# the certificate signed by swtpm_localca's CA in CA_DIR (made at its first
# use: swtpm-localca-rootca-cert.pem, issuercert.pem), as tests/helpers/swtpm.c
# (skr_swtpm_start_ek) does it.
ek_provision() {
	mkdir -p "$1" "$2"
	printf 'create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = %s/localca.conf\ncreate_certs_tool_options = %s/localca.options\nactive_pcr_banks = sha256\n' \
		"$2" "$2" > "$2/setup.conf"
	printf 'statedir = %s\nsigningkey = %s/signkey.pem\nissuercert = %s/issuercert.pem\ncertserial = %s/certserial\n' \
		"$2" "$2" "$2" "$2" > "$2/localca.conf"
	printf -- '--platform-manufacturer skr\n--platform-version 2.1\n--platform-model swtpm\n' > "$2/localca.options"
	swtpm_setup --tpm2 --tpmstate "$1" --create-ek-cert --create-platform-cert --overwrite \
		--config "$2/setup.conf" >>"$2/setup.log" 2>&1
}

# ek_broker_config DIR ROOTS_PEM [INTERMEDIATES_PEM]: make_tls and
# write_broker_config for a broker of generic TPM keys (tee "tpm"): ROOTS_PEM
# its only EK certificate anchors ("ek_roots"), INTERMEDIATES_PEM its
# "ek_intermediates".
ek_broker_config() {
	make_tls "$1" && write_broker_config "$1" || return 1
	_ek="\"ek_roots\": \"$2\"${3:+, \"ek_intermediates\": \"$3\"}"
	sed -i "s|\"threads\": 2|\"threads\": 2, $_ek|" "$1/broker.json"
}

# start_fake_tsm DIR [ARGS...]: the configfs-tsm stand-in (tests/tools/skr-fake-tsm,
# tests/helpers/faketsm.h; ARGS: e.g. --svsm-ek FILE) serving under DIR (its
# root, measurement, trust.pem and knobs live there); sets tsm_pid and
# exports SKR_TSM_ROOT.  The caller's EXIT trap calls stop_fake_tsm.
tsm_pid=
start_fake_tsm() {
	mkdir -p "$1"
	"$BUILD/tools/skr-fake-tsm" "$@" &
	tsm_pid=$!
	_i=0
	while [ ! -s "$1/root" ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	[ -s "$1/root" ] || return 1
	SKR_TSM_ROOT=$(cat "$1/root")
	export SKR_TSM_ROOT
}
stop_fake_tsm() {
	[ -n "$tsm_pid" ] && kill "$tsm_pid" 2>/dev/null && wait "$tsm_pid"
	tsm_pid=
}

# start_record_proxy REC [PATCH]: tests/attack/record_proxy.py, a TLS proxy
# in front of the broker's release port ($bdir/ports) that records every
# exchange in the directory REC and, with PATCH, applies that JSON file's
# swaps when it exists; sets proxy_pid and PROXY_URL (https://127.0.0.1:PORT).
# The caller's EXIT trap kills $proxy_pid.
proxy_pid=
start_record_proxy() {
	read -r _rport _aport < "$bdir/ports"
	rm -f "$tmpd/proxy.port"
	mkdir -p "$1"
	python3 "$(dirname "$0")/../attack/record_proxy.py" "$bdir/server.pem" "$bdir/server.key" \
		"$bdir/ca.pem" "$_rport" "$tmpd/proxy.port" "$1" ${2:+"$2"} &
	proxy_pid=$!
	_i=0
	while [ ! -s "$tmpd/proxy.port" ] && [ $_i -lt 300 ]; do sleep 0.1; _i=$((_i + 1)); done
	[ -s "$tmpd/proxy.port" ] || return 1
	PROXY_URL=https://127.0.0.1:$(cat "$tmpd/proxy.port")
}

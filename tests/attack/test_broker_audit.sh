# Audit fail-closed: a release whose audit row cannot be written must not
# be granted.  Two ways to break the write against the real broker:
# 1. a trigger in the live database that fails every release audit insert
#    (as a full disk fails it: the row is refused, everything else works):
#    every release answers 500 audit_failed without "wrapped", the client
#    writes no secret, the broker counts skr_audit_failures_total and logs
#    audit_failed;
# 2. another process holding the database's write lock (BEGIN EXCLUSIVE)
#    while releases run: the release's nonce and audit row (one transaction)
#    cannot be written after the store's 5 s busy wait, so it answers 500
#    audit_failed and no secret leaves.
# 3. admin changes: a trigger that fails every admin audit insert makes each
#    change answer 500 audit_failed, and the change does not land (the row
#    is written in the change's transaction); a request with a wrong token is
#    still refused 401, its lost row counted and logged.
# skrctl retries a 500 until its deadline, so what the broker answered is
# read on the wire: a recording TLS proxy (record_proxy.py) sits in between.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/../cli/broker.sh"
locker_pid= proxy_pid=
trap '[ -n "$locker_pid" ] && kill "$locker_pid" 2>/dev/null; [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; stop_broker KILL; stop_pg; stop_vtpm; rm -rf "$out" "$err" "$tmpd"' EXIT

start_stack || exit 1
POLICY='{"tee": "az-snp-vtpm", "pcrs": {"bank": "sha256", "indexes": [0, 7, 11]}}'
admin POST /v1/keys "{\"key_id\": \"disk-1\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": $POLICY}" >/dev/null
admin POST /v1/keys/disk-1/refsets "{\"label\": \"boot-1\", \"state\": \"current\", \"pcrs\": $(pcr_json 0 7 11)}" >/dev/null
[ "$http_status" = 201 ] || { echo "FAIL audit-setup: $http_status $(cat "$tmpd/admin.out")"; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$tmpd/rec"
read -r rport aport < "$bdir/ports"
start_record_proxy "$tmpd/rec" || { echo "FAIL proxy-start"; exit 1; }
REL="$SKRCTL release --key-id disk-1 --broker https://127.0.0.1:$(cat "$tmpd/proxy.port") --ca $bdir/ca.pem --tcti $TCTI"
# answers: the release answers recorded since the last call, "STATUS REASON WRAPPED" each.
answers() {
	for f in "$tmpd"/rec/*-release.answer.json; do
		[ -e "$f" ] || continue
		python3 -c 'import json, sys
a = json.load(open(sys.argv[1])); b = json.loads(a["body"])
print(a["status"], b.get("reason"), "wrapped" if "wrapped" in b else "-")' "$f"
		rm -f "$f"
	done
}
# only_refusals NAME WANT: every recorded answer is WANT, and there was one.
only_refusals() {
	answers > "$tmpd/answers"
	n=$(wc -l < "$tmpd/answers")
	if [ "$n" -gt 0 ] && [ "$(sort -u "$tmpd/answers")" = "$2" ]; then
		echo "PASS $1 ($n answers: $2)"
	else
		echo "FAIL $1: $(sort "$tmpd/answers" | uniq -c | tr '\n' ';')"
	fi
}
# SQL on the broker's database, whichever backend (tests/cli/broker.sh).
db() { broker_sql "$bdir" "$1"; }
audit_rows() { db "SELECT COUNT(*) FROM audit WHERE action = 'release'"; }
pg() { [ "${SKR_TEST_DB:-sqlite}" = postgresql ]; }
# refuse_audit NAME CONDITION: a trigger failing audit inserts WHERE CONDITION, as a full disk would.
refuse_audit() {
	if pg; then
		db "CREATE FUNCTION $1() RETURNS trigger LANGUAGE plpgsql AS
		    \$\$BEGIN IF $2 THEN RAISE EXCEPTION 'database or disk is full'; END IF; RETURN NEW; END\$\$;
		    CREATE TRIGGER $1 BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION $1();"
	else
		db "CREATE TRIGGER $1 BEFORE INSERT ON audit WHEN $2
		    BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;"
	fi
}
allow_audit() { if pg; then db "DROP TRIGGER $1 ON audit"; else db "DROP TRIGGER $1;"; fi; }

expect audit-release-ok-before 0 'released' -- $REL --timeout 20 --out "$tmpd/secret0"
answers >/dev/null

# 1. The audit insert fails.
refuse_audit audit_full "NEW.action = 'release'"
rows=$(audit_rows)
expect audit-write-failed-release-refused 2 'HTTP 500|timed out' -- $REL --timeout 4 --out "$tmpd/secret1"
only_refusals audit-write-failed-answers-500 "500 audit_failed -"
[ ! -e "$tmpd/secret1" ] && echo "PASS audit-write-failed-no-secret" || echo "FAIL audit-write-failed-no-secret"
[ "$(audit_rows)" = "$rows" ] && echo "PASS audit-write-failed-no-row" || echo "FAIL audit-write-failed-no-row"
curl -sS --cacert "$bdir/ca.pem" "$RELEASE_URL/metrics" > "$tmpd/metrics"
n=$(sed -n 's/^skr_audit_failures_total //p' "$tmpd/metrics")
[ "${n:-0}" -ge 1 ] && echo "PASS audit-failure-metric ($n)" ||
	echo "FAIL audit-failure-metric: $(grep audit_fail "$tmpd/metrics")"
grep -q "skr_releases_total{verdict=\"deny\",reason=\"audit_failed\"} $n\$" "$tmpd/metrics" &&
	echo "PASS audit-failure-counted-as-denial" || echo "FAIL audit-failure-counted-as-denial"
grep -q 'audit_failed: cannot write the audit row of release (allow)' "$bdir/broker.log" &&
	echo "PASS audit-failure-logged" || echo "FAIL audit-failure-logged: $(tail -3 "$bdir/broker.log")"
allow_audit audit_full
expect audit-release-ok-after 0 'released' -- $REL --timeout 20 --out "$tmpd/secret2"
answers >/dev/null

# 3. The admin audit insert fails.
# field FILE NAME: a top-level string field of a JSON file.
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$1" "$2"; }
failures() { curl -sS --cacert "$bdir/ca.pem" "$RELEASE_URL/metrics" | sed -n 's/^skr_audit_failures_total //p'; }
n0=$(failures)
refuse_audit admin_full "NEW.action LIKE 'admin:%'"
KEY2="{\"key_id\": \"disk-2\", \"secret\": \"$(head -c 32 /dev/urandom | base64 -w0)\", \"policy\": $POLICY}"
admin POST /v1/keys "$KEY2" >/dev/null
[ "$http_status" = 500 ] && [ "$(field "$tmpd/admin.out" reason)" = audit_failed ] &&
	echo "PASS admin-audit-failed-create-500" ||
	echo "FAIL admin-audit-failed-create-500: $http_status $(cat "$tmpd/admin.out")"
admin GET /v1/keys > "$tmpd/keys.json"
grep -q disk-2 "$tmpd/keys.json" && echo "FAIL admin-audit-failed-no-key: $(cat "$tmpd/keys.json")" ||
	echo "PASS admin-audit-failed-no-key"
admin DELETE /v1/keys/disk-1/refsets/1 >/dev/null
[ "$http_status" = 500 ] && [ "$(field "$tmpd/admin.out" reason)" = audit_failed ] &&
	echo "PASS admin-audit-failed-remove-500" ||
	echo "FAIL admin-audit-failed-remove-500: $http_status $(cat "$tmpd/admin.out")"
admin GET /v1/keys/disk-1/refsets > "$tmpd/sets.json"
python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); assert [x["id"] for x in s] == [1], s' \
	"$tmpd/sets.json" && echo "PASS admin-audit-failed-set-stays" ||
	echo "FAIL admin-audit-failed-set-stays: $(cat "$tmpd/sets.json")"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$bdir/ca.pem" \
	-H 'Authorization: Bearer not-the-token' "$ADMIN_URL/v1/keys")
[ "$code" = 401 ] && echo "PASS admin-auth-row-lost-still-401" || echo "FAIL admin-auth-row-lost-still-401: $code"
n1=$(failures)
[ "$n1" = $((n0 + 3)) ] && echo "PASS admin-audit-failures-counted ($n0 -> $n1)" ||
	echo "FAIL admin-audit-failures-counted: $n0 -> $n1"
grep -q 'audit_failed: cannot write the audit row of admin:POST (allow)' "$bdir/broker.log" &&
	grep -q 'audit_failed: cannot write the audit row of admin:auth (deny)' "$bdir/broker.log" &&
	echo "PASS admin-audit-failures-logged" ||
	echo "FAIL admin-audit-failures-logged: $(grep audit_failed "$bdir/broker.log" | tail -3)"
allow_audit admin_full
admin POST /v1/keys "$KEY2" >/dev/null
[ "$http_status" = 201 ] && echo "PASS admin-create-after-trigger" ||
	echo "FAIL admin-create-after-trigger: $http_status $(cat "$tmpd/admin.out")"

# 2. Another process holds the write lock for longer than the broker waits.
if pg; then
	# PostgreSQL: the audit table locked; the broker waits lock_timeout (5 s).
	db "BEGIN; LOCK TABLE audit IN EXCLUSIVE MODE; SELECT pg_sleep(14); COMMIT" >/dev/null 2>&1 &
	locker_pid=$!
	(
		i=0
		while [ $i -lt 50 ]; do
			[ "$(db "SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			         WHERE c.relname = 'audit' AND l.mode = 'ExclusiveLock'")" != 0 ] &&
				{ touch "$tmpd/locked"; break; }
			sleep 0.1; i=$((i + 1))
		done
	)
else
	python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").close()
time.sleep(14)
c.execute("ROLLBACK")' "$bdir/broker.db" "$tmpd/locked" &
	locker_pid=$!
fi
i=0
while [ ! -e "$tmpd/locked" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
rows=$(audit_rows)
expect audit-db-locked-release-refused 2 'HTTP 500|timed out' -- $REL --timeout 8 --out "$tmpd/secret3"
[ ! -e "$tmpd/secret3" ] && echo "PASS audit-db-locked-no-secret" || echo "FAIL audit-db-locked-no-secret"
only_refusals audit-db-locked-answers-500 "500 audit_failed -"
kill "$locker_pid" 2>/dev/null
wait "$locker_pid" 2>/dev/null
locker_pid=
pg && db "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 'audit'::regclass
          AND mode = 'ExclusiveLock'" >/dev/null
grep -Eq 'database is locked|canceling statement due to lock timeout' "$bdir/broker.log" &&
	echo "PASS audit-db-locked-logged" ||
	echo "FAIL audit-db-locked-logged: $(tail -3 "$bdir/broker.log")"
expect audit-release-ok-unlocked 0 'released' -- $REL --timeout 20 --out "$tmpd/secret4"
[ "$fails" -eq 0 ]

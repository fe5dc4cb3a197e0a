#!/usr/bin/env bash
# The current schema in one piece: migrates a fresh database on the PostgreSQL server at $1 (an admin URL;
# CI uses its PostgreSQL 15) as a non-superuser owner, dumps schema `ticketing` with pg_dump --schema-only,
# and normalizes it (no version banner, no session settings, no comments, no random \restrict keys).
# Compares it with docs/schema.sql, or writes that file with --write.
#   scripts/schema.sh postgres://postgres@127.0.0.1:5432/postgres [--write]
set -euo pipefail
cd "$(dirname "$0")/.."
admin=${1:?usage: scripts/schema.sh ADMIN_DATABASE_URL [--write]}
mode=${2:-check}
db=schema_dump_$$
owner_url=$(node -e 'const u=new URL(process.argv[1]);u.username="ticketing_schema_owner";u.password="schema";u.pathname="/"+process.argv[2];console.log(u.toString())' "$admin" "$db")
psql -q -v ON_ERROR_STOP=1 "$admin" <<SQL
do \$\$ begin
  if not exists (select 1 from pg_roles where rolname = 'ticketing_schema_owner') then
    create role ticketing_schema_owner login createrole password 'schema';
  end if;
end \$\$;
create database $db owner ticketing_schema_owner;
SQL
trap 'psql -q "$admin" -c "drop database if exists $db with (force)" >/dev/null' EXIT
DATABASE_URL=$owner_url LOG_LEVEL=warn npx --no ticket-lifecycle migrate >/dev/null
pg_dump --schema-only --schema=ticketing "$owner_url" |
  grep -vE '^(--|SET |SELECT pg_catalog\.set_config|\\restrict|\\unrestrict)' |
  cat -s > "/tmp/$db.sql"
if [ "$mode" = --write ]; then
  mv "/tmp/$db.sql" docs/schema.sql
  echo "docs/schema.sql written"
elif ! diff -u docs/schema.sql "/tmp/$db.sql"; then
  echo "docs/schema.sql differs from the migrated schema (above); run scripts/schema.sh ADMIN_URL --write and commit it" >&2
  exit 1
else
  echo "docs/schema.sql matches the migrated schema"
fi

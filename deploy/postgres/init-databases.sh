#!/usr/bin/env bash
# Runs once, at the first start of the compose PostgreSQL: one database and one user
# per service, each user owning only its database. Passwords come from the environment.
set -euo pipefail
for service in auth teams work notify web; do
  var="$(echo "${service}" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  password="${!var:?set ${var}}"
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER}" --dbname postgres \
    -v user="taskflow_${service}" -v password="${password}" -v db="taskflow_${service}" <<'SQL'
CREATE USER :"user" WITH PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
done

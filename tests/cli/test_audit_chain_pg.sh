#!/bin/sh
# tests/cli/test_audit_chain.sh with the broker on PostgreSQL (a private
# server: SKR_TEST_DB=postgresql, tests/cli/broker.sh and tests/cli/pg.sh).
SKR_TEST_DB=postgresql exec sh "$(dirname "$0")/test_audit_chain.sh"

#!/bin/sh
# tests/attack/test_broker_nonce_restart.sh with the broker on PostgreSQL (a private
# server: SKR_TEST_DB=postgresql, tests/cli/broker.sh and tests/cli/pg.sh).
SKR_TEST_DB=postgresql exec sh "$(dirname "$0")/test_broker_nonce_restart.sh"

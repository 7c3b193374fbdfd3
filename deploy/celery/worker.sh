#!/bin/sh
# One Celery worker of the fleet, on any machine that has the s3logs image (or
# `pip install 's3logs[distributed]'`) and the same environment as the code server:
# the S3LOGS_* settings (the worker loads the code location to run a step), DAGSTER_HOME
# with deploy/celery/dagster.yaml (Postgres, and the shared folder step outputs go through),
# and DAGSTER_CELERY_BROKER_URL / DAGSTER_CELERY_BACKEND_URL (deploy/celery/executor.yaml).
# S3LOGS_WAREHOUSE and S3LOGS_REPORT are files on the machine that runs their step: point
# them at the shared folder too, or they land on whichever worker took the step.
#
#   deploy/celery/worker.sh NAME [celery worker options: --concurrency N ...]
#
# Each worker process runs one step at a time, within the step's memory budget
# (LakeResource.memory_limit): give a machine as many as its cores and memory hold.
# The code location is imported once, before the worker forks its processes.
set -e
name=${1:?usage: worker.sh NAME [celery worker options]}
shift
exec dagster-celery worker start --app dagster_celery.app --name "$name" \
    --config-yaml "$(dirname "$0")/executor.yaml" --includes assets.definitions \
    --loglevel INFO -- --concurrency 1 "$@"

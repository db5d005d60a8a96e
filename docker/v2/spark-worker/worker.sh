#!/bin/bash
# Runs a Spark standalone worker in the foreground against $SPARK_MASTER, logging to stdout.
#
# Spark's own sbin/spark-config.sh and bin/load-spark-env.sh test variables that are
# normally unset (PYSPARK_PYTHONPATH_SET, SPARK_ENV_LOADED, SPARK_SCALA_VERSION, ...):
# they are sourced before `set -u`, or the container would exit at start.
set -eo pipefail

export SPARK_HOME=${SPARK_HOME:-/spark}

. "${SPARK_HOME}/sbin/spark-config.sh"
. "${SPARK_HOME}/bin/load-spark-env.sh"
set -u

mkdir -p "${SPARK_WORKER_LOG}"
ln -sf /dev/stdout "${SPARK_WORKER_LOG}/spark-worker.out"

exec "${SPARK_HOME}/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    --webui-port "${SPARK_WORKER_WEBUI_PORT}" \
    "${SPARK_MASTER}" \
    >>"${SPARK_WORKER_LOG}/spark-worker.out"

#!/bin/bash
# Runs the Spark standalone master in the foreground, logging to stdout.
set -euo pipefail

export SPARK_HOME=/spark
export SPARK_MASTER_HOST=${SPARK_MASTER_HOST:-$(hostname)}

. "${SPARK_HOME}/sbin/spark-config.sh"
. "${SPARK_HOME}/bin/load-spark-env.sh"

mkdir -p "${SPARK_MASTER_LOG}"
ln -sf /dev/stdout "${SPARK_MASTER_LOG}/spark-master.out"

cd "${SPARK_HOME}/bin"
exec "${SPARK_HOME}/bin/spark-class" org.apache.spark.deploy.master.Master \
    --ip "${SPARK_MASTER_HOST}" \
    --port "${SPARK_MASTER_PORT}" \
    --webui-port "${SPARK_MASTER_WEBUI_PORT}" \
    >>"${SPARK_MASTER_LOG}/spark-master.out"

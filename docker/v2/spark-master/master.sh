#!/bin/bash
# Runs the Spark standalone master in the foreground, logging to stdout.
#
# Spark's own sbin/spark-config.sh and bin/load-spark-env.sh test variables that are
# normally unset (PYSPARK_PYTHONPATH_SET, SPARK_ENV_LOADED, SPARK_SCALA_VERSION, ...):
# they are sourced before `set -u`, or the container would exit at start.
set -eo pipefail

export SPARK_HOME=${SPARK_HOME:-/spark}
export SPARK_MASTER_HOST=${SPARK_MASTER_HOST:-$(hostname)}

. "${SPARK_HOME}/sbin/spark-config.sh"
. "${SPARK_HOME}/bin/load-spark-env.sh"
set -u

mkdir -p "${SPARK_MASTER_LOG}"
ln -sf /dev/stdout "${SPARK_MASTER_LOG}/spark-master.out"

cd "${SPARK_HOME}/bin"
exec "${SPARK_HOME}/bin/spark-class" org.apache.spark.deploy.master.Master \
    --ip "${SPARK_MASTER_HOST}" \
    --port "${SPARK_MASTER_PORT}" \
    --webui-port "${SPARK_MASTER_WEBUI_PORT}" \
    >>"${SPARK_MASTER_LOG}/spark-master.out"

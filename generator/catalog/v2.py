"""The FATE 2.x image family (FATE 2.0.0, 2.1.0, 2.1.1, 2.2.0): the catalog of that line.

Decided from upstream's deployments of these releases (KubeFATE v2.0.0's compose and
.env, FATE's own 2.2 docker-compose: tests/data), the trees' path lists and FATE-Builder's
2.x branches; docker/README.md gives the evidence for each decision.
"""

from __future__ import annotations

from .model import Catalog, Facts, Family, Flag, Source, img

SOURCES: tuple[Source, ...] = (
    Source("fate-python", path="python"),
    Source("fate-flow", path="fate_flow"),
    Source("fate-client", path="fate_client"),
    Source("fate-test", path="fate_test"),
    Source("eggroll-src", path="eggroll"),
    Source("fate-board", path="fate_board"),
    Source("osx-src", path="java/osx"),
    Source("examples", path="examples"),
    # FATE-LLM is not in FATE's tree: its tag is a per-release fact (FATE_LLM_VERSION).
    Source("fate-llm-src", git="https://github.com/FederatedAI/FATE-LLM.git", version_variable="FATE_LLM_VERSION"),
)

# Each image installs its own requirement files (FATE_DIR-relative), as upstream's 2.x
# Dockerfiles do; the base holds only Python.
FAMILIES: tuple[Family, ...] = (
    Family("v2/base", facts=("PYTHON_VERSION",)),
    Family("v2/fateflow", ("fate-python", "fate-flow", "fate-client", "eggroll-src", "examples"),
           requirements=("python/requirements-fate.txt", "python/requirements-eggroll.txt",
                         "fate_flow/python/requirements-flow.txt")),
    Family("v2/eggroll", ("fate-python", "fate-flow", "fate-client", "eggroll-src"), fragments=True,
           requirements=("eggroll/requirements.txt", "python/requirements-fate.txt",
                         "python/requirements-eggroll.txt")),
    Family("v2/osx", ("osx-src",), facts=("OSX_VERSION",), fragments=True),
    Family("v2/fateboard", ("fate-board",), fragments=True),
    Family("v2/fate-test", ("fate-test",)),
    Family("v2/fateflow-spark", ("fate-python",), facts=("SPARK_VERSION", "HADOOP_VERSION"),
           requirements=("python/requirements-spark.txt", "python/requirements-pulsar.txt",
                         "python/requirements-rabbitmq.txt")),
    Family("v2/spark-base"),
    # The 1.x folders: master and worker are the same on both lines (the parent brings each line's Spark).
    Family("spark-master"),
    Family("spark-worker"),
    Family("v2/gpu", facts=("GPU_TORCH",)),
    # FATE-LLM's one list, python/requirements.txt of its own tree (not FATE_DIR's): in the Dockerfile.
    Family("v2/fate-llm", ("fate-llm-src",), facts=("FATE_LLM_VERSION",)),
)

IMAGES = (
    img("base-image", None, "v2/base", "Basic",
        "Python venv on Debian 12 (3.8 for FATE 2.0/2.1, 3.10 for 2.2), no FATE requirements",
        "Debian 12 上的 Python 虚拟环境（FATE 2.0/2.1 为 3.8，2.2 为 3.10），不含 FATE 依赖",
        arm64=True, base=True, external="Python image"),
    img("fateflow", "base-image", "v2/fateflow", "Basic",
        "FATE Flow server with FATE, fate_client (pipeline, flow) and eggroll's python client",
        "FATE Flow 服务，含 FATE、fate_client（pipeline、flow）与 eggroll 的 python 客户端", arm64=True),
    img("eggroll", "base-image", "v2/eggroll", "Basic",
        "EggRoll cluster manager and node manager (Java 8) with FATE's python code",
        "EggRoll 集群管理与节点管理（Java 8），含 FATE python 代码", arm64=True, component="eggroll"),
    img("osx", None, "v2/osx", "Basic",
        "OSX, the site gateway of FATE 2.x (Java 8)", "FATE 2.x 的站点网关 OSX（Java 8）",
        arm64=True, external="JRE image"),
    img("fateboard", None, "v2/fateboard", "Basic",
        "FATE Board web UI (Java 8)", "FATE Board 可视化界面（Java 8）",
        arm64=True, external="JRE image", component="fateboard"),
    img("fate-test", "fateflow", "v2/fate-test", "OP",
        "fateflow with fate_test", "fateflow 加 fate_test", arm64=True),
    # KubeFATE v2.0.0's Spark party: fateflow-spark, spark-master, spark-worker (docker-compose-spark.yml);
    # spark-base is their common parent, as in FATE-Builder's 2.x build.sh.
    img("fateflow-spark", "fateflow", "v2/fateflow-spark", "Spark",
        "fateflow with Spark (JRE 8, SPARK_HOME), Hadoop's HDFS client (HADOOP_HOME, libhdfs) and pyspark "
        "pinned to that Spark",
        "fateflow 加 Spark（JRE 8、SPARK_HOME）、Hadoop 的 HDFS 客户端（HADOOP_HOME、libhdfs）与同版本的 pyspark",
        arm64=True),
    img("spark-base", "fateflow-spark", "v2/spark-base", "Spark",
        "fateflow-spark with Spark at /spark; parent of spark-master and spark-worker",
        "Spark 位于 /spark 的 fateflow-spark；spark-master 与 spark-worker 的父镜像", arm64=True),
    img("spark-master", "spark-base", "spark-master", "Spark",
        "Spark standalone master", "Spark 独立集群 master", arm64=True),
    img("spark-worker", "spark-base", "spark-worker", "Spark",
        "Spark standalone worker with FATE and pyspark", "含 FATE 与 pyspark 的 Spark 独立集群 worker", arm64=True),
    # KubeFATE's suffix scheme with algorithm Basic (2.x has no -nn: torch is in every image) and
    # device GPU names fateflow-gpu and eggroll-gpu (an EggRoll party), fateflow-spark-gpu and
    # spark-worker-gpu (a Spark party); algorithm ALL adds -all. -all only on -gpu, as FATE-Builder's
    # 2.x build.sh. Each is its parent with PyPI's CUDA build of the release's torch.
    img("fateflow-gpu", "fateflow", "v2/gpu", "GPU",
        "fateflow with PyPI's CUDA build of the release's torch", "fateflow 加 PyPI 的 CUDA 版 torch（同版本）"),
    img("eggroll-gpu", "eggroll", "v2/gpu", "GPU",
        "eggroll with PyPI's CUDA build of the release's torch", "eggroll 加 PyPI 的 CUDA 版 torch（同版本）",
        component="eggroll"),
    img("fateflow-spark-gpu", "fateflow-spark", "v2/gpu", "Spark,GPU",
        "fateflow-spark with PyPI's CUDA build of the release's torch",
        "fateflow-spark 加 PyPI 的 CUDA 版 torch（同版本）"),
    img("spark-worker-gpu", "spark-worker", "v2/gpu", "Spark,GPU",
        "spark-worker with PyPI's CUDA build of the release's torch",
        "spark-worker 加 PyPI 的 CUDA 版 torch（同版本）"),
    img("fateflow-all-gpu", "fateflow-gpu", "v2/fate-llm", "LLM,GPU",
        "fateflow-gpu with the release's FATE-LLM (FATE 2.1.0 and later)",
        "fateflow-gpu 加该版本对应的 FATE-LLM（FATE 2.1.0 起）"),
    img("eggroll-all-gpu", "eggroll-gpu", "v2/fate-llm", "LLM,GPU",
        "eggroll-gpu with the release's FATE-LLM (FATE 2.1.0 and later)",
        "eggroll-gpu 加该版本对应的 FATE-LLM（FATE 2.1.0 起）", component="eggroll"),
    img("fateflow-spark-all-gpu", "fateflow-spark-gpu", "v2/fate-llm", "Spark,LLM,GPU",
        "fateflow-spark-gpu with the release's FATE-LLM (FATE 2.1.0 and later)",
        "fateflow-spark-gpu 加该版本对应的 FATE-LLM（FATE 2.1.0 起）"),
    img("spark-worker-all-gpu", "spark-worker-gpu", "v2/fate-llm", "Spark,LLM,GPU",
        "spark-worker-gpu with the release's FATE-LLM (FATE 2.1.0 and later)",
        "spark-worker-gpu 加该版本对应的 FATE-LLM（FATE 2.1.0 起）"),
)

# Why a flag selects nothing on this line (plan says it when the flag is on).
ABSENT = (
    ("NN", "FATE 2.x installs torch (CPU) in every image from python/requirements-fate.txt, so there is no -nn "
           "variant (KubeFATE v2.0.0 names none)"),
    ("IPCL", "no IPCL on 2.x: ipcl-python is not in any 2.x requirement list and is not proven on Python 3.10"),
    ("FUM", "fate-upgrade-manager upgrades 1.x databases (deploy/upgrade/sql), which no 2.x tree has"),
)

# Why the -gpu (and so the -all) images are amd64 only.
AMD64_ONLY: tuple[tuple[Flag, str], ...] = (
    ("GPU", "PyPI's aarch64 torch wheels at the 2.x pins (1.13.1, 2.3.1) are CPU builds (no nvidia-* "
            "dependencies, read 2026-12-01): there is no CUDA torch to install for arm64"),
    ("LLM", "the -all images are built on the -gpu ones, which are amd64 only"),
)

# FATE-LLM per release (FATE-LLM's README and setup.py, FATE's RELEASE.md; docker/README.md): none for
# 2.0.0, whose nn loader has no fate_llm source (added in 2.1.0, "LLMLoader to support running FATE-LLM
# v2.0"); FATE-LLM v2.0.0 for 2.1.0, v2.1.0 (tagged the same day) for 2.1.1, v2.2.0 (pyfate==2.2.0) for 2.2.0.
NO_LLM: tuple[tuple[Flag, str], ...] = (
    ("LLM", "FATE 2.0.0 has no FATE-LLM: FATE-LLM v2.x needs FATE 2.1 or later (its README), and 2.0.0's nn "
            "loader has no fate_llm source (FATE 2.1.0 RELEASE.md: LLMLoader)"),
)

# RELEASE.md of v2.2.0: Python 3.10; fate_flow/fateflow.env of v2.0.0/v2.1.x: PYTHON=3.8.
# osx's version: <osx.version> in java/osx/pom.xml. torch: python/requirements-fate.txt.
# Spark of the 2.x Spark images, one for the whole line: 3.5 is the last Spark line that runs on
# Python 3.8 (2.0/2.1; pyspark 4.0 needs >=3.9) and supports 3.10 (2.2) and Java 8; upstream's 2.x
# branches and KubeFATE v2.0.0 used 3.1.3, end of life since 2022 (docker/README.md).
SPARK = "3.5.9"
# Hadoop of fateflow-spark's HADOOP_HOME (libhdfs for FATE's HDFS storage), one for the whole line:
# 3.3 is the Hadoop line Spark 3.5's own jars come from (3.3.4), 3.3.6 its last release; Apache
# publishes an -aarch64 build of it (libhdfs is native code: from 3.3.1 on), where upstream's
# 3.2.1 (FATE-Builder's 2.x fateflow-spark, KubeFATE's namenode image) has amd64 only. Its HDFS
# client talks to KubeFATE's 3.2.1 namenode (Hadoop 3 keeps the client protocol compatible).
HADOOP = "3.3.6"

RELEASES = (
    Facts("2.0.0", (("PYTHON_VERSION", "3.8"), ("OSX_VERSION", "1.0.0"), ("TORCH", "torch==1.13.1"),
                    ("SPARK_VERSION", SPARK), ("HADOOP_VERSION", HADOOP),
                    ("GPU_TORCH", "1.13.1"), ("FATE_LLM_VERSION", "")),
          "fate_flow/fateflow.env PYTHON=3.8; java/osx/pom.xml osx.version 1.0.0; KubeFATE v2.0.0 .env: "
          "every image 2.0.0-release", absent=NO_LLM),
    Facts("2.1.0", (("PYTHON_VERSION", "3.8"), ("OSX_VERSION", "1.1.0"), ("TORCH", "torch==1.13.1"),
                    ("SPARK_VERSION", SPARK), ("HADOOP_VERSION", HADOOP),
                    ("GPU_TORCH", "1.13.1"), ("FATE_LLM_VERSION", "v2.0.0")),
          "fate_flow/fateflow.env PYTHON=3.8; java/osx/pom.xml osx.version 1.1.0; component tags as 2.2.0 "
          "(same eggroll 3.1.0 and FATE-Board 2.1.0; no deployment file of 2.1 names them)",
          component_tags=("eggroll", "fateboard")),
    Facts("2.1.1", (("PYTHON_VERSION", "3.8"), ("OSX_VERSION", "1.1.0"), ("TORCH", "torch==1.13.1"),
                    ("SPARK_VERSION", SPARK), ("HADOOP_VERSION", HADOOP),
                    ("GPU_TORCH", "1.13.1"), ("FATE_LLM_VERSION", "v2.1.0")),
          "fate_flow/fateflow.env PYTHON=3.8; java/osx/pom.xml osx.version 1.1.0; component tags as 2.2.0 "
          "(same eggroll 3.1.0 and FATE-Board 2.1.0; no deployment file of 2.1 names them)",
          component_tags=("eggroll", "fateboard")),
    Facts("2.2.0", (("PYTHON_VERSION", "3.10"), ("OSX_VERSION", "1.1.0"), ("TORCH", "torch==2.3.1+cpu"),
                    ("SPARK_VERSION", SPARK), ("HADOOP_VERSION", HADOOP),
                    ("GPU_TORCH", "2.3.1"), ("FATE_LLM_VERSION", "v2.2.0")),
          "RELEASE.md: Python 3.10; java/osx/pom.xml osx.version 1.1.0; FATE's 2.2 compose tags eggroll and "
          "fateboard with their own versions", component_tags=("eggroll", "fateboard")),
)

FACT_HELP = (
    ("PYTHON_VERSION", "Python of the 2.x base image (per FATE release, from the catalog)."),
    ("OSX_VERSION", "osx's version (java/osx/pom.xml), the jar osx's command names."),
    ("SPARK_VERSION", "Spark (and pyspark) of the 2.x Spark images (the catalog's choice, docker/README.md)."),
    ("HADOOP_VERSION", "Hadoop of fateflow-spark's HADOOP_HOME (libhdfs, HDFS client jars; the catalog's choice)."),
    ("GPU_TORCH", "torch of the -gpu images: the release's pin, installed as PyPI's (CUDA) build."),
    ("FATE_LLM_VERSION", "FATE-LLM git tag of the -all images (per FATE release; empty: none for it)."),
)

CATALOG = Catalog(line="2.x", sources=SOURCES, families=FAMILIES, images=IMAGES, absent=ABSENT,  # type: ignore[arg-type]
                  releases=RELEASES, fact_help=FACT_HELP, amd64_only=AMD64_ONLY)

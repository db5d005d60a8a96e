"""The FATE 1.x image family (FATE 1.11): the catalog of that release line.

The 1.x Dockerfiles read FATE's version from `fate.env` themselves, so this line has no
per-release facts.
"""

from __future__ import annotations

from .model import Catalog, Family, Image, Source, img

_img = img

SOURCES: tuple[Source, ...] = (
    Source("fate", path=""),
    Source("fate-python", path="python"),
    Source("fateflow-src", path="fateflow"),
    Source("eggroll-src", path="eggroll"),
    Source("fateboard-src", path="fateboard"),
    Source("examples", path="examples"),
    Source("fate-conf", path="conf"),
    Source("fate-doc", path="doc"),
    Source("proxy", path="c/proxy"),
    Source("deploy", path="deploy"),
    Source(
        "fate-llm-src",
        git="https://github.com/FederatedAI/FATE-LLM.git",
        version_variable="Build_LLM_VERSION",
    ),
    Source(
        "ipcl-src",
        git="https://github.com/intel/pailliercryptolib_python.git",
        version_variable="IPCL_VERSION",
        local_override="IPCL_PKG_DIR",
    ),
)


FAMILIES: tuple[Family, ...] = (
    Family("base/basic", ("fate-python",)),
    Family("base/ipcl", ("ipcl-src",)),
    Family("fateflow", ("fate", "fate-python", "fateflow-src", "eggroll-src", "examples", "fate-conf", "fate-doc")),
    Family("fateboard", ("fateboard-src",), fragments=True),
    Family("eggroll", ("fate", "fate-python", "fateflow-src", "eggroll-src", "fate-conf"), fragments=True),
    Family("fateflow-spark"),
    Family("spark-base"),
    Family("spark-master"),
    Family("spark-worker"),
    Family("nginx", ("proxy",)),
    Family("nn", ("fate-python",)),
    Family("gpu", ("fate-python",)),
    Family("fate-llm", ("fate-llm-src",)),
    Family("client", ("fate-doc",)),
    Family("fate-test"),
    Family("fate-upgrade-manager", ("deploy",)),
)


# name, parent (None: an image from outside the family), Dockerfile family, the Build_* flags that
# must all be 1, then the summary in English and Chinese for the READMEs.
IMAGES: tuple[Image, ...] = (
    _img("base-image", None, "base/basic", "Basic",
         "Python 3.8 venv with FATE's requirements", "含 FATE 依赖的 Python 3.8 虚拟环境",
         arm64=True, base=True, external="OS image"),
    _img("fateflow", "base-image", "fateflow", "Basic",
         "FATE Flow server with the FATE python code", "FATE Flow 服务与 FATE python 代码", arm64=True),
    _img("fateboard", None, "fateboard", "Basic",
         "FATE Board web UI", "FATE Board 可视化界面", arm64=True, external="JRE image"),
    _img("eggroll", "base-image", "eggroll", "Basic",
         "EggRoll computing and storage engine", "EggRoll 计算与存储引擎", arm64=True),
    _img("fateflow-spark", "fateflow", "fateflow-spark", "Spark",
         "FATE Flow with Hadoop and Spark", "带 Hadoop 与 Spark 的 FATE Flow"),
    _img("spark-base", "fateflow", "spark-base", "Spark",
         "Spark 3.1.3 with FATE", "带 FATE 的 Spark 3.1.3"),
    _img("spark-master", "spark-base", "spark-master", "Spark",
         "Spark master", "Spark master 节点"),
    _img("spark-worker", "spark-base", "spark-worker", "Spark",
         "Spark worker", "Spark worker 节点"),
    _img("nginx", None, "nginx", "Spark",
         "OpenResty with FATE's proxy", "带 FATE 代理配置的 OpenResty", external="OS image"),
    _img("fateflow-nn", "fateflow", "nn", "NN",
         "fateflow with neural-network packages", "fateflow 加神经网络依赖"),
    _img("eggroll-nn", "eggroll", "nn", "NN",
         "eggroll with neural-network packages", "eggroll 加神经网络依赖"),
    _img("fateflow-spark-nn", "fateflow-spark", "nn", "Spark,NN",
         "fateflow-spark with neural-network packages", "fateflow-spark 加神经网络依赖"),
    _img("spark-worker-nn", "spark-worker", "nn", "Spark,NN",
         "spark-worker with neural-network packages", "spark-worker 加神经网络依赖"),
    _img("spark-base-nn", "spark-base", "nn", "Spark,NN",
         "spark-base with neural-network packages", "spark-base 加神经网络依赖"),
    _img("fateflow-nn-gpu", "fateflow", "gpu", "NN,GPU",
         "fateflow with CUDA torch", "fateflow 加 CUDA 版 torch"),
    _img("eggroll-nn-gpu", "eggroll", "gpu", "NN,GPU",
         "eggroll with CUDA torch", "eggroll 加 CUDA 版 torch"),
    _img("fateflow-spark-nn-gpu", "fateflow-spark", "gpu", "Spark,NN,GPU",
         "fateflow-spark with CUDA torch", "fateflow-spark 加 CUDA 版 torch"),
    _img("spark-worker-nn-gpu", "spark-worker", "gpu", "Spark,NN,GPU",
         "spark-worker with CUDA torch", "spark-worker 加 CUDA 版 torch"),
    _img("spark-base-nn-gpu", "spark-base", "gpu", "Spark,NN,GPU",
         "spark-base with CUDA torch", "spark-base 加 CUDA 版 torch"),
    _img("fateflow-all-gpu", "fateflow-nn-gpu", "fate-llm", "LLM,GPU",
         "fateflow-nn-gpu with FATE-LLM", "fateflow-nn-gpu 加 FATE-LLM"),
    _img("eggroll-all-gpu", "eggroll-nn-gpu", "fate-llm", "LLM,GPU",
         "eggroll-nn-gpu with FATE-LLM", "eggroll-nn-gpu 加 FATE-LLM"),
    _img("fateflow-spark-all-gpu", "fateflow-spark-nn-gpu", "fate-llm", "Spark,LLM,GPU",
         "fateflow-spark-nn-gpu with FATE-LLM", "fateflow-spark-nn-gpu 加 FATE-LLM"),
    _img("spark-worker-all-gpu", "spark-worker-nn-gpu", "fate-llm", "Spark,LLM,GPU",
         "spark-worker-nn-gpu with FATE-LLM", "spark-worker-nn-gpu 加 FATE-LLM"),
    _img("spark-base-all-gpu", "spark-base-nn-gpu", "fate-llm", "Spark,LLM,GPU",
         "spark-base-nn-gpu with FATE-LLM", "spark-base-nn-gpu 加 FATE-LLM"),
    _img("base-image-ipcl", "base-image", "base/ipcl", "IPCL",
         "base-image with Intel Paillier (IPCL)", "base-image 加 Intel Paillier（IPCL）", base=True),
    _img("fateflow-ipcl", "base-image-ipcl", "fateflow", "IPCL",
         "fateflow on base-image-ipcl", "基于 base-image-ipcl 的 fateflow"),
    _img("eggroll-ipcl", "base-image-ipcl", "eggroll", "IPCL",
         "eggroll on base-image-ipcl", "基于 base-image-ipcl 的 eggroll"),
    _img("fateflow-spark-ipcl", "fateflow-ipcl", "fateflow-spark", "IPCL,Spark",
         "fateflow-spark on fateflow-ipcl", "基于 fateflow-ipcl 的 fateflow-spark"),
    _img("spark-base-ipcl", "fateflow-ipcl", "spark-base", "IPCL,Spark",
         "spark-base on fateflow-ipcl", "基于 fateflow-ipcl 的 spark-base"),
    _img("spark-worker-ipcl", "spark-base-ipcl", "spark-worker", "IPCL,Spark",
         "spark-worker on spark-base-ipcl", "基于 spark-base-ipcl 的 spark-worker"),
    _img("client", "fateflow", "client", "OP",
         "Jupyter notebook with fate_client and fate_test", "带 fate_client 与 fate_test 的 Jupyter notebook"),
    _img("fate-test", "fateflow", "fate-test", "OP",
         "fate_test with the KubeFATE test suite", "fate_test 与 KubeFATE 测试套件"),
    _img("fate-test-ipcl", "fateflow-ipcl", "fate-test", "OP,IPCL",
         "fate-test on fateflow-ipcl", "基于 fateflow-ipcl 的 fate-test"),
    _img("fate-upgrade-manager", None, "fate-upgrade-manager", "FUM",
         "FATE database upgrade jobs for KubeFATE", "KubeFATE 的 FATE 数据库升级任务", external="Python image"),
)

CATALOG = Catalog(line="1.x", sources=SOURCES, families=FAMILIES, images=IMAGES)

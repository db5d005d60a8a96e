"""The FATE image family: the one declarative table everything else is derived from.

Groups, bake targets, the dependency graph, the README tables and the plan all read
these tuples; nothing else in the project lists images or flags.
"""

from __future__ import annotations

from dataclasses import dataclass

# Build_* flags, in the order FATE-Builder documents them. The bake group of a flag is
# its lower-case name.
FLAGS: tuple[str, ...] = ("Basic", "Spark", "NN", "GPU", "LLM", "IPCL", "OP", "FUM")

PLATFORMS: tuple[str, ...] = ("amd64", "arm64")


@dataclass(frozen=True)
class Source:
    """A named build context that feeds FATE pieces into the Dockerfiles.

    `path` is relative to FATE_DIR. A git source has `git` set instead; for IPCL a
    local checkout (IPCL_PKG_DIR) takes precedence when it is set.
    """

    name: str
    path: str | None = None
    git: str | None = None
    version_variable: str | None = None
    local_override: str | None = None


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


@dataclass(frozen=True)
class Family:
    """A Dockerfile (docker/<name>/Dockerfile) and the sources it copies from."""

    name: str
    sources: tuple[str, ...] = ()

    @property
    def dockerfile_dir(self) -> str:
        return self.name


FAMILIES: tuple[Family, ...] = (
    Family("base/basic", ("fate-python",)),
    Family("base/ipcl", ("ipcl-src",)),
    Family("fateflow", ("fate", "fate-python", "fateflow-src", "eggroll-src", "examples", "fate-conf", "fate-doc")),
    Family("fateboard", ("fateboard-src",)),
    Family("eggroll", ("fate", "fate-python", "fateflow-src", "eggroll-src", "fate-conf")),
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


@dataclass(frozen=True)
class Image:
    name: str
    parent: str | None
    family: str
    flags: tuple[str, ...]
    arm64: bool = False
    base: bool = False
    external: str | None = None
    summary: str = ""

    @property
    def tag_variable(self) -> str:
        """The HCL variable that tags this image: base images follow BASE_TAG."""
        return "BASE_TAG" if self.base else "TAG"

    def platforms(self) -> tuple[str, ...]:
        return PLATFORMS if self.arm64 else ("amd64",)


def _img(name, parent, family, flags, *, arm64=False, base=False, external=None, summary=""):
    return Image(name, parent, family, tuple(flags.split(",")), arm64, base, external, summary)


IMAGES: tuple[Image, ...] = (
    _img("base-image", None, "base/basic", "Basic", arm64=True, base=True, external="OS image",
         summary="Python 3.8 venv with FATE's requirements"),
    _img("fateflow", "base-image", "fateflow", "Basic", arm64=True,
         summary="FATE Flow server with the FATE python code"),
    _img("fateboard", None, "fateboard", "Basic", arm64=True, external="JRE image",
         summary="FATE Board web UI"),
    _img("eggroll", "base-image", "eggroll", "Basic", arm64=True,
         summary="EggRoll computing and storage engine"),
    _img("fateflow-spark", "fateflow", "fateflow-spark", "Spark", summary="FATE Flow with Hadoop and Spark"),
    _img("spark-base", "fateflow", "spark-base", "Spark", summary="Spark 3.1.3 with FATE"),
    _img("spark-master", "spark-base", "spark-master", "Spark", summary="Spark master"),
    _img("spark-worker", "spark-base", "spark-worker", "Spark", summary="Spark worker"),
    _img("nginx", None, "nginx", "Spark", external="OS image", summary="OpenResty with FATE's proxy"),
    _img("fateflow-nn", "fateflow", "nn", "NN", summary="fateflow with neural-network packages"),
    _img("eggroll-nn", "eggroll", "nn", "NN", summary="eggroll with neural-network packages"),
    _img("fateflow-spark-nn", "fateflow-spark", "nn", "Spark,NN",
         summary="fateflow-spark with neural-network packages"),
    _img("spark-worker-nn", "spark-worker", "nn", "Spark,NN",
         summary="spark-worker with neural-network packages"),
    _img("spark-base-nn", "spark-base", "nn", "Spark,NN", summary="spark-base with neural-network packages"),
    _img("fateflow-nn-gpu", "fateflow", "gpu", "NN,GPU", summary="fateflow with CUDA torch"),
    _img("eggroll-nn-gpu", "eggroll", "gpu", "NN,GPU", summary="eggroll with CUDA torch"),
    _img("fateflow-spark-nn-gpu", "fateflow-spark", "gpu", "Spark,NN,GPU", summary="fateflow-spark with CUDA torch"),
    _img("spark-worker-nn-gpu", "spark-worker", "gpu", "Spark,NN,GPU", summary="spark-worker with CUDA torch"),
    _img("spark-base-nn-gpu", "spark-base", "gpu", "Spark,NN,GPU", summary="spark-base with CUDA torch"),
    _img("fateflow-all-gpu", "fateflow-nn-gpu", "fate-llm", "LLM,GPU", summary="fateflow-nn-gpu with FATE-LLM"),
    _img("eggroll-all-gpu", "eggroll-nn-gpu", "fate-llm", "LLM,GPU", summary="eggroll-nn-gpu with FATE-LLM"),
    _img("fateflow-spark-all-gpu", "fateflow-spark-nn-gpu", "fate-llm", "Spark,LLM,GPU",
         summary="fateflow-spark-nn-gpu with FATE-LLM"),
    _img("spark-worker-all-gpu", "spark-worker-nn-gpu", "fate-llm", "Spark,LLM,GPU",
         summary="spark-worker-nn-gpu with FATE-LLM"),
    _img("spark-base-all-gpu", "spark-base-nn-gpu", "fate-llm", "Spark,LLM,GPU",
         summary="spark-base-nn-gpu with FATE-LLM"),
    _img("base-image-ipcl", "base-image", "base/ipcl", "IPCL", base=True,
         summary="base-image with Intel Paillier (IPCL)"),
    _img("fateflow-ipcl", "base-image-ipcl", "fateflow", "IPCL", summary="fateflow on base-image-ipcl"),
    _img("eggroll-ipcl", "base-image-ipcl", "eggroll", "IPCL", summary="eggroll on base-image-ipcl"),
    _img("fateflow-spark-ipcl", "fateflow-ipcl", "fateflow-spark", "IPCL,Spark",
         summary="fateflow-spark on fateflow-ipcl"),
    _img("spark-base-ipcl", "fateflow-ipcl", "spark-base", "IPCL,Spark", summary="spark-base on fateflow-ipcl"),
    _img("spark-worker-ipcl", "spark-base-ipcl", "spark-worker", "IPCL,Spark",
         summary="spark-worker on spark-base-ipcl"),
    _img("client", "fateflow", "client", "OP", summary="Jupyter notebook with fate_client and fate_test"),
    _img("fate-test", "fateflow", "fate-test", "OP", summary="fate_test with the KubeFATE test suite"),
    _img("fate-test-ipcl", "fateflow-ipcl", "fate-test", "OP,IPCL", summary="fate-test on fateflow-ipcl"),
    _img("fate-upgrade-manager", None, "fate-upgrade-manager", "FUM", external="Python image",
         summary="FATE database upgrade jobs for KubeFATE"),
)

BY_NAME: dict[str, Image] = {image.name: image for image in IMAGES}
FAMILY_BY_NAME: dict[str, Family] = {family.name: family for family in FAMILIES}
SOURCE_BY_NAME: dict[str, Source] = {source.name: source for source in SOURCES}


def family_of(image: Image) -> Family:
    return FAMILY_BY_NAME[image.family]


def sources_of(image: Image) -> tuple[Source, ...]:
    return tuple(SOURCE_BY_NAME[name] for name in family_of(image).sources)


def ancestors(image: Image) -> tuple[Image, ...]:
    """Parents from the nearest up to the root, all inside the catalog."""
    chain = []
    while image.parent is not None:
        image = BY_NAME[image.parent]
        chain.append(image)
    return tuple(chain)

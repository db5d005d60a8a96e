"""Miniature FATE 2.x checkouts (v2.0.0, v2.1.0, v2.1.1, v2.2.0), and a 1.11.2 one, from real files.

Each is made of two parts, both checked against the tag's path list (tests/data):
* the tag's real small files, byte for byte (tests/data/fate-files/<tag>/: the version
  markers `python/fate/_info.py`, `eggroll/BUILD_INFO`, `fate_board/pom.xml`,
  `java/osx/pom.xml`, `fate_flow/fateflow.env`, every requirement list, RELEASE.md);
* stand-ins at real paths for what the 2.x Dockerfiles copy or their builds read (module
  poms, scripts, confs, python packages), each saying what it stands in for (`MARKER`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .fate_paths import FILES, TAGS, check_real, exists

MARKER = "fate-builder mini FATE 2.x checkout"

# Stand-ins, FATE_DIR-relative; a path missing from a tag's list is skipped for that tag
# (osx-pb-v2/-v3 exist from v2.1.0 on) only when listed in OPTIONAL.
_STAND_INS: dict[str, str] = {
    "python/fate/__init__.py": '"""{marker}"""\n',
    "fate_flow/python/fate_flow/__init__.py": '"""{marker}"""\n',
    "fate_flow/python/fate_flow/fate_flow_server.py": '# {marker}\nprint("fate_flow_server stand-in")\n',
    "fate_client/python/setup.py": '# {marker}\nfrom setuptools import setup\nsetup(name="fate_client")\n',
    "fate_client/python/fate_client/__init__.py": '"""{marker}"""\n',
    "fate_test/python/setup.py": '# {marker}\nfrom setuptools import setup\nsetup(name="fate_test")\n',
    "fate_test/python/fate_test/__init__.py": '"""{marker}"""\n',
    "eggroll/python/setup.py": '# {marker}\nfrom setuptools import setup\nsetup(name="eggroll")\n',
    "eggroll/python/eggroll/__init__.py": '"""{marker}"""\n',
    "eggroll/bin/eggroll.sh": "#!/bin/bash\n# {marker}\n",
    "eggroll/conf/eggroll.properties": "# {marker}\neggroll.resourcemanager.clustermanager.port=4670\n",
    "eggroll/conf/log4j2.xml": "<!-- {marker} -->\n<Configuration/>\n",
    "eggroll/conf/create-eggroll-meta-tables.sql": "-- {marker}\nCREATE DATABASE IF NOT EXISTS eggroll_meta;\n",
    "eggroll/deploy/auto-packaging.sh": "#!/bin/bash\n# {marker}\n",
    "eggroll/jvm/pom.xml": "<!-- {marker} -->\n<project/>\n",
    "eggroll/jvm/core/pom.xml": "<!-- {marker} -->\n<project/>\n",
    "eggroll/jvm/cluster_manager/pom.xml": "<!-- {marker} -->\n<project/>\n",
    "eggroll/jvm/node_manager/pom.xml": "<!-- {marker} -->\n<project/>\n",
    "eggroll/jvm/cluster_dashboard/pom.xml": "<!-- {marker} -->\n<project/>\n",
    "eggroll/proto/generate_proto_buffer.sh": "#!/bin/bash\n# {marker}\n",
    "java/osx/osx-core/pom.xml": "<!-- {marker} -->\n<project/>\n",
    "java/osx/osx-broker/pom.xml": "<!-- {marker} -->\n<project/>\n",
    "java/osx/osx-pb-v2/pom.xml": "<!-- {marker} -->\n<project/>\n",
    "java/osx/osx-pb-v3/pom.xml": "<!-- {marker} -->\n<project/>\n",
    "java/osx/bin/service.sh": "#!/bin/bash\r\n# {marker}\r\n",
    "java/osx/osx-broker/src/main/resources/broker/broker.properties": "# {marker}\ngrpc.port=9370\n",
    "java/osx/osx-broker/src/main/resources/broker/route_table.json": '{{"route_table": {{}}}}\n',
    "java/osx/osx-broker/src/main/resources/components/router.properties": "# {marker}\n",
    "fate_board/package.xml": "<!-- {marker} -->\n<assembly/>\n",
    "fate_board/bin/service.sh": "#!/bin/bash\n# {marker}\n",
    "fate_board/src/main/resources/application.properties": "# {marker}\nserver.port=8080\n",
    "fate_board/src/main/resources/ssh.properties": "",
    "fate_board/static/toy_example.yaml": "# {marker}\n",
    "examples/config.yaml": "# {marker}\n",
    "examples/pipeline/config.yaml": "# {marker}\n",
    # Outside every named context of the 2.x Dockerfiles: must never reach an image.
    "bin/init_env.sh": "#!/bin/bash\n# {marker}: in no named context\n",
}
OPTIONAL = {"java/osx/osx-pb-v2/pom.xml", "java/osx/osx-pb-v3/pom.xml"}


def real_files(tag: str) -> dict[str, bytes]:
    """The tag's real small files, FATE_DIR-relative, as stored in tests/data/fate-files/."""
    root = FILES / tag
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def stand_ins(tag: str) -> dict[str, str]:
    chosen = {rel: text for rel, text in _STAND_INS.items() if rel not in OPTIONAL or exists(rel, tag)}
    check_real(chosen, tag)
    return chosen


def write_fate2_checkout(dest: Path, tag: str = "v2.2.0") -> Path:
    """Write the mini FATE checkout of `tag` (any of fate_paths.TAGS) into `dest` and return it."""
    if tag not in TAGS:
        raise ValueError(f"no path list for FATE {tag}; known: {', '.join(TAGS)}")
    dest = Path(dest)
    files = real_files(tag)
    check_real(files, tag)
    for rel, data in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if tag.startswith("v1."):
        return dest
    for rel, text in stand_ins(tag).items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(marker=f"{MARKER}: {rel}"), encoding="utf-8")
        if rel.endswith(".sh"):
            path.chmod(0o755)
    return dest


def remove(dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)

"""Apply FATE's database upgrade scripts to eggroll_meta.

Usage: upgrade-mysql.py USER PASSWORD FROM_VERSION TO_VERSION

The scripts live in ./sql (FATE's deploy/upgrade/sql), named FROM-TO.sql, e.g.
1.9.0-1.11.1.sql. Every script whose FROM is at or after FROM_VERSION and whose TO is at
or before TO_VERSION runs, oldest first. A script may switch its statement delimiter with
a `DELIMITER xx` line, as the mysql client allows. The database host is `mysql`, the
service name KubeFATE gives it.
"""

from __future__ import annotations

import os
import sys

SQL_DIR = "sql"
HOST = "mysql"
DATABASE = "eggroll_meta"


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.strip().split("."))


def span_of(script: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(from, to) of a script named FROM-TO.sql."""
    start, _, end = script[: -len(".sql")].partition("-")
    return version_key(start), version_key(end)


def scripts_between(names, start_version: str, target_version: str) -> list[str]:
    start, target = version_key(start_version), version_key(target_version)
    chosen = []
    for name in names:
        if not name.endswith(".sql") or "-" not in name:
            continue
        low, high = span_of(name)
        if low >= start and high <= target:
            chosen.append(name)
    return sorted(chosen, key=span_of)


def statements(text: str) -> list[str]:
    """The statements of a script, honouring `DELIMITER` lines."""
    result, current, delimiter = [], [], ";"
    for raw in text.splitlines():
        line = raw.strip()
        if line.upper().startswith("DELIMITER "):
            delimiter = line.split(None, 1)[1]
            continue
        current.append(line)
        if line.endswith(delimiter):
            statement = "\n".join(current).strip()
            statement = statement[: -len(delimiter)].strip()
            if statement:
                result.append(statement)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        result.append(tail)
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    _, user, password, start_version, target_version = argv
    available = sorted(os.listdir(SQL_DIR))
    print("upgrade scripts available:", available)
    chosen = scripts_between(available, start_version, target_version)
    print(f"upgrading {start_version} -> {target_version} with:", chosen)

    import mysql.connector  # only in the image, not needed to plan the upgrade

    connection = mysql.connector.connect(host=HOST, user=user, password=password, database=DATABASE)
    try:
        cursor = connection.cursor()
        for script in chosen:
            with open(os.path.join(SQL_DIR, script), encoding="utf-8") as fh:
                for statement in statements(fh.read()):
                    print("executing:", statement)
                    cursor.execute(statement)
        connection.commit()
        cursor.close()
    finally:
        connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

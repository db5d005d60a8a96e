"""What the build's steps read of the network settings: the `network` secret's text.

Mirrors, proxies and the CA reach a RUN step as BuildKit secrets (docker/README.md,
"Where a build reaches the network"): a secret's content is not part of any cache key and
never lands in an image, its history or its provenance, where a build arg would be all
three. The `network` secret is a shell file the step sources: `export NAME='value'`
lines of the settings that are set. Pure: text in, text out.
"""

from __future__ import annotations

import shlex

from .config import Config

# Where a step finds the `ca` secret (CA_BUNDLE), and the variables that make each tool trust it.
CA_TARGET = "/run/secrets/ca.crt"
CA_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "GIT_SSL_CAINFO",
                "NODE_EXTRA_CA_CERTS")
# Tools differ in the case they read proxies in (curl: http_proxy only, pip: either).
_LOWER_TOO = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


def network_file(config: Config) -> str:
    """The `network` secret: every network setting that is set, as `export` lines; "" when none is."""
    pairs = list(config.network)
    pairs += [(name.lower(), value) for name, value in config.network if name in _LOWER_TOO]
    if config.ca_bundle:
        pairs += [(name, CA_TARGET) for name in CA_VARIABLES]
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in pairs)

#!/bin/sh
# maven.sh MIRROR [MAVEN ARGUMENT ...]: Maven as every fate-builder build runs it, written once. A RUN
# step mounts this folder's file from the `fragments` named context (the catalog's Family.fragments)
# beside the network, ca and maven-settings secrets, sources the network secret, and calls
#   sh /run/fate-builder/maven.sh "${MAVEN_MIRROR}" clean package
# Maven Central or MIRROR, unless the maven-settings secret is a settings.xml of one's own; the ca
# secret as Java's trust store; HTTPS_PROXY (exported by the network secret) as Java's proxy. What it
# writes goes under /tmp/maven, removed on the way out: nothing of them is left in the stage.
set -eu
mirror=$1
shift
trap 'rm -rf /tmp/maven' EXIT
settings=/run/secrets/maven-settings.xml
if [ ! -f "${settings}" ]; then
    settings=/tmp/maven/settings.xml
    mkdir -p /tmp/maven
    printf '<settings><mirrors><mirror><id>fate-builder</id><mirrorOf>central</mirrorOf><url>%s</url></mirror></mirrors></settings>\n' \
        "${mirror}" > "${settings}"
fi
java_opts=""
if [ -f /run/secrets/ca.crt ]; then
    mkdir -p /tmp/maven
    awk '/BEGIN CERT/{n++} n{print > ("/tmp/maven/ca-" n ".pem")}' /run/secrets/ca.crt
    for pem in /tmp/maven/ca-*.pem; do
        keytool -importcert -noprompt -alias "$(basename "${pem}")" -file "${pem}" \
            -keystore /tmp/maven/trust.p12 -storetype PKCS12 -storepass fate-builder >/dev/null
    done
    java_opts="-Djavax.net.ssl.trustStore=/tmp/maven/trust.p12 -Djavax.net.ssl.trustStoreType=PKCS12 -Djavax.net.ssl.trustStorePassword=fate-builder"
fi
if [ -n "${HTTPS_PROXY:-}" ]; then
    proxy=${HTTPS_PROXY#*://}
    proxy=${proxy%%/*}
    proxy=${proxy##*@}
    java_opts="${java_opts} -Dhttps.proxyHost=${proxy%:*} -Dhttps.proxyPort=${proxy##*:} -Dhttp.nonProxyHosts=$(echo "${NO_PROXY:-localhost}" | tr , '|')"
fi
MAVEN_OPTS="${java_opts}" mvn -B -q -s "${settings}" -DskipTests "$@"

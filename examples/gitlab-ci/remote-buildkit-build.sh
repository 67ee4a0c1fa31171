#!/bin/sh
# Build and push a multi-platform image on a remote BuildKit daemon, with no privilege and no Docker daemon: the job
# of remote-buildkit.gitlab-ci.yml, on a runner that multiarch.buildhost's gitlab_runner role set up with
# build_mode remote_buildkit. It needs only the docker CLI and its buildx plugin (the docker:27-cli image).
# tests/integration/test_unprivileged_runner_job.py runs this very file in an unprivileged container.
#
# Set by the runner (config.toml environment), with the client certificate mounted read-only:
#   BUILDKIT_HOST        the daemon, tcp://HOST:PORT. Several, separated by spaces, become one builder node each, and
#                        buildx sends each platform to a node whose daemon builds it natively.
#   BUILDKIT_TLS_DIR     the client certificate: ca.pem, cert.pem, key.pem (default /buildkit/client)
#   BUILDKIT_SERVERNAME  the name the daemon's certificate is checked against (empty: the host in each address)
# Set by the pipeline:
#   IMAGE, TAG           what is pushed, IMAGE:TAG (TAG defaults to CI_COMMIT_SHORT_SHA)
#   PLATFORMS            comma-separated (default linux/amd64,linux/arm64); each must be in the pushed index
#   CACHE_REF            a registry cache image (mode=max), e.g. $CI_REGISTRY_IMAGE:buildcache; empty: no cache
#   CONTEXT, DOCKERFILE  the build context (default .) and its Dockerfile (default: CONTEXT/Dockerfile)
#   REGISTRY, REGISTRY_USER, REGISTRY_PASSWORD
#                        the login (default CI_REGISTRY, CI_REGISTRY_USER, CI_REGISTRY_PASSWORD), when a password is
#                        set. The password reaches docker login on stdin, never on a command line.
set -eu

die() { printf 'remote-buildkit-build: %s\n' "$*" >&2; exit 1; }
say() { printf 'remote-buildkit-build: %s\n' "$*"; }

BUILDKIT_TLS_DIR=${BUILDKIT_TLS_DIR:-/buildkit/client}
BUILDKIT_SERVERNAME=${BUILDKIT_SERVERNAME:-}
TAG=${TAG:-${CI_COMMIT_SHORT_SHA:-}}
PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64}
CACHE_REF=${CACHE_REF:-}
CONTEXT=${CONTEXT:-.}
DOCKERFILE=${DOCKERFILE:-}
REGISTRY=${REGISTRY:-${CI_REGISTRY:-}}
REGISTRY_USER=${REGISTRY_USER:-${CI_REGISTRY_USER:-}}
REGISTRY_PASSWORD=${REGISTRY_PASSWORD:-${CI_REGISTRY_PASSWORD:-}}
BUILDER=remote-buildkit-${CI_JOB_ID:-$$}

[ -n "${BUILDKIT_HOST:-}" ] || die "BUILDKIT_HOST is not set: run this job on a runner in build_mode remote_buildkit (its tags), or set it to tcp://HOST:PORT"
[ -n "${IMAGE:-}" ] || die "IMAGE is not set (the image to push, without its tag)"
[ -n "$TAG" ] || die "TAG is not set (and there is no CI_COMMIT_SHORT_SHA)"
for file in ca.pem cert.pem key.pem; do
  [ -r "$BUILDKIT_TLS_DIR/$file" ] || die "$BUILDKIT_TLS_DIR/$file is missing or unreadable: the runner mounts its trust domain's BuildKit client certificate there (/etc/multiarch-buildhost/buildkit/domains/NAME/client on the runner host, written by the buildkit role with buildkit_domains)"
done

if [ -n "$REGISTRY_PASSWORD" ]; then
  [ -n "$REGISTRY" ] || die "REGISTRY_PASSWORD is set but REGISTRY (or CI_REGISTRY) is not: which registry is it for?"
  [ -n "$REGISTRY_USER" ] || die "REGISTRY_PASSWORD is set but REGISTRY_USER (or CI_REGISTRY_USER) is not"
  # printf is a shell builtin: the password is on no process's command line.
  printf '%s\n' "$REGISTRY_PASSWORD" | docker login "$REGISTRY" --username "$REGISTRY_USER" --password-stdin
fi

driver_opts="cacert=$BUILDKIT_TLS_DIR/ca.pem,cert=$BUILDKIT_TLS_DIR/cert.pem,key=$BUILDKIT_TLS_DIR/key.pem"
[ -z "$BUILDKIT_SERVERNAME" ] || driver_opts="$driver_opts,servername=$BUILDKIT_SERVERNAME"

cleanup() { docker buildx rm "$BUILDER" >/dev/null 2>&1 || true; }
trap cleanup EXIT
append=""
for endpoint in $BUILDKIT_HOST; do
  # shellcheck disable=SC2086  # $append is empty or one flag
  docker buildx create --name "$BUILDER" $append --driver remote --driver-opt "$driver_opts" "$endpoint" >/dev/null
  append=--append
done
# buildx reports a refused certificate only as a timeout: say what to check.
docker buildx inspect --bootstrap --builder "$BUILDER" \
  || die "no BuildKit daemon answered at $BUILDKIT_HOST with the client certificate in $BUILDKIT_TLS_DIR and servername ${BUILDKIT_SERVERNAME:-(the host in the address)}: check the address, that the daemon runs, and that its certificate is for that name and from the same CA"

set -- --builder "$BUILDER" --platform "$PLATFORMS" --tag "$IMAGE:$TAG" --progress plain --push
[ -z "$DOCKERFILE" ] || set -- "$@" --file "$DOCKERFILE"
[ -z "$CACHE_REF" ] || set -- "$@" --cache-from "type=registry,ref=$CACHE_REF" --cache-to "type=registry,ref=$CACHE_REF,mode=max"
docker buildx build "$@" "$CONTEXT"

# The registry's own answer, not the build's: every requested platform must be in the pushed index.
pushed=$(docker buildx imagetools inspect "$IMAGE:$TAG" \
  --format '{{range .Manifest.Manifests}}{{with .Platform}}{{.OS}}/{{.Architecture}}{{with .Variant}}/{{.}}{{end}} {{end}}{{end}}' \
  | sed 's#linux/arm64/v8#linux/arm64#g')
missing=""
for platform in $(printf '%s' "$PLATFORMS" | tr ',' ' '); do
  case " $pushed " in
    *" $platform "*) ;;
    *) missing="$missing $platform" ;;
  esac
done
[ -z "$missing" ] || die "$IMAGE:$TAG lacks$missing (its index holds: ${pushed:-no platform list})"
say "$IMAGE:$TAG holds $(printf '%s' "$PLATFORMS" | tr ',' ' ')"

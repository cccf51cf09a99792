#!/usr/bin/env bash
# Why this exists: the tests run the CLI under mpirun and the jar's MPI library is compiled with mpicc, so a
# test build on a fresh machine needs an MPI. Before compiling, a build that runs the tests installs Open MPI
# from the distribution's packages where mpicc or mpirun is missing and it can (apt-get, as root or with
# sudo that asks no password); otherwise it says in one line what to install, and the mpi tests fail naming it.
# Usage: ensure-mpi.sh SKIP_TESTS MAVEN_TEST_SKIP   (either "true": nothing to do)
set -euo pipefail
if [ "${1:-false}" = "true" ] || [ "${2:-false}" = "true" ]; then exit 0; fi
if command -v mpicc > /dev/null 2>&1 && command -v mpirun > /dev/null 2>&1; then exit 0; fi
if [ -n "${MPICC:-}" ] && command -v mpirun > /dev/null 2>&1; then exit 0; fi
need="Open MPI (apt-get install openmpi-bin libopenmpi-dev) or another MPI with mpicc and mpirun"
if ! command -v apt-get > /dev/null 2>&1; then
    echo "ensure-mpi: no mpicc or mpirun and no apt-get: the mpi tests need $need"
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo > /dev/null 2>&1 && sudo -n true 2> /dev/null; then
    sudo=(sudo -n)
else
    echo "ensure-mpi: no mpicc or mpirun, and installing needs root: the mpi tests need $need"
    exit 0
fi
echo "ensure-mpi: installing Open MPI for the mpi tests (openmpi-bin, libopenmpi-dev)"
if ! { "${sudo[@]}" apt-get update -q > /dev/null \
        && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openmpi-bin libopenmpi-dev > /dev/null; }; then
    echo "ensure-mpi: installing Open MPI failed: the mpi tests need $need"
fi
exit 0

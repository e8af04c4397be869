#!/usr/bin/env bash
# Installs the offline data kgfilters reads: Fashion-MNIST IDX files and WordNet 3.0 (Debian packages).
set -euo pipefail
fm=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
wn=/usr/share/wordnet/data.noun
if [ -e "$fm" ] && [ -e "$wn" ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist wordnet-base >/dev/null
  exit 0
fi
cat >&2 <<MSG
kgfilters needs two data sets that this machine lacks and that apt-get cannot install here:
  - Fashion-MNIST: the four IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
    t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) in /usr/share/datasets/fashion-mnist/,
    or anywhere, passed with --data-root DIR;
  - WordNet 3.0 database files (data.noun, index.noun, ...) in /usr/share/wordnet/ (or set KGF_WORDNET_DIR).
MSG
exit 1

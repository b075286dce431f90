#!/usr/bin/env bash
# Place a Singularity/Apptainer image from the images bucket onto the cluster's shared /apps. Run it on the login
# node (or the controller) as root; /apps is shared with every compute node by the slurm-gcp controller.
#
#   place_image.sh IMAGE [BUCKET]
#     IMAGE   openlane | librelane  (singularity/IMAGE.def, built by singularity/containerbuilder.yaml)
#     BUCKET  images bucket (terraform output images_bucket); default: $OLC_IMAGES_BUCKET
#
# From your workstation, without copying the script over:
#   gcloud compute ssh LOGIN_VM --zone ZONE --tunnel-through-iap -- sudo bash -s -- librelane BUCKET \
#     < infra/place_image.sh
#
# The image lands at /apps/IMAGE/IMAGE.sif (the OPENLANE_IMAGE / LIBRELANE_IMAGE defaults of shared/config.py).
# It is downloaded to a temporary name next to the target, checked against the SHA-256 the build stored beside it,
# and renamed into place, so a running job never sees a half-written image and a broken download is never used.
set -euo pipefail

usage() {
  echo "usage: $0 openlane|librelane [BUCKET]" >&2
  exit 2
}

image=${1:-}
bucket=${2:-${OLC_IMAGES_BUCKET:-}}
case $image in
  openlane | librelane) ;;
  *) usage ;;
esac
[ -n "$bucket" ] || usage
bucket=${bucket#gs://}
bucket=${bucket%/}

target_dir="/apps/$image"
target="$target_dir/$image.sif"
source="gs://$bucket/images/$image.sif"

install -d -m 0755 "$target_dir"
tmp=$(mktemp "$target_dir/.$image.sif.XXXXXX")
trap 'rm -f "$tmp"' EXIT

echo "downloading $source"
gcloud storage cp "$source" "$tmp"
expected=$(gcloud storage cat "$source.sha256" | awk '{print $1}')
actual=$(sha256sum "$tmp" | awk '{print $1}')
if [ -z "$expected" ] || [ "$expected" != "$actual" ]; then
  echo "checksum mismatch for $source: expected '${expected}', got '${actual}'" >&2
  exit 1
fi

chmod 0644 "$tmp"
mv -f "$tmp" "$target"
trap - EXIT
echo "placed $target (sha256 $actual)"

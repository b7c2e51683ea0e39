#!/bin/bash
# configure.sh [BUILDDIR]: meson setup BUILDDIR (default build) with the
# project's options, and set it up again (--reconfigure) whenever what meson
# found may have changed since: the pkg-config files installed (which .pc
# files exist and when they changed: scripts/deps.sh --with-lab adds udev's,
# --current-stack replaces libvirt's). Both README commands build through
# here (scripts/demo.sh, scripts/test.sh), so whichever ran first and with
# whichever dependencies, the build matches the machine as it is now.
set -euo pipefail
dir=${1:-build}
options=(-Dwerror=true)

# the pkg-config search path, as meson's pkg-config sees it
fingerprint() {
  local d pcdirs extra
  pcdirs=$(pkg-config --variable pc_path pkg-config 2>/dev/null || true)
  {
    printf '%s\n' "${options[@]}" "${PKG_CONFIG_PATH:-}"
    extra=${PKG_CONFIG_PATH:-}
    for d in ${pcdirs//:/ } ${extra//:/ }; do
      [ -d "$d" ] && find "$d" -maxdepth 1 -name '*.pc' -printf '%p %T@\n'
    done | sort
  } | sha256sum | cut -d' ' -f1
}

want=$(fingerprint)
stamp=$dir/.vfmig-configured
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" "${options[@]}" >/dev/null
elif [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "configure.sh: the installed dependencies changed since $dir was configured: reconfiguring" >&2
  meson setup --reconfigure "$dir" "${options[@]}" >/dev/null
fi
printf '%s\n' "$want" >"$stamp"

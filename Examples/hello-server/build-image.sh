# Writes $out: a gzipped docker-archive (what nixpkgs dockerTools.buildImage produces) holding
# one layer with a static busybox, its applet links and the files under www/, served by
# `busybox httpd` on port 8080. Every timestamp and owner is fixed so the image ID is stable.
set -eu
work="$(mktemp -d)"
root="$work/root"
mkdir -p "$root/bin" "$root/www" "$root/tmp" "$work/archive/layer"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cp -r "$www"/. "$root/www/"
chmod -R u+w,go+rX "$root"
chmod 1777 "$root/tmp"

tar_fixed() { tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner "$@"; }
tar_fixed -C "$root" -cf "$work/archive/layer/layer.tar" .
layer_sha="$(sha256sum "$work/archive/layer/layer.tar" | cut -d' ' -f1)"

case "$system" in
    x86_64-linux) arch=amd64 ;;
    aarch64-linux) arch=arm64 ;;
    *) arch=unknown ;;
esac
cat >"$work/config.json" <<JSON
{"architecture":"$arch","os":"linux","created":"1970-01-01T00:00:01Z","config":{"Cmd":["/bin/busybox","httpd","-f","-v","-p","8080","-h","/www"],"ExposedPorts":{"8080/tcp":{}},"WorkingDir":"/","Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:$layer_sha"]},"history":[{"created":"1970-01-01T00:00:01Z","created_by":"Examples/hello-server/build-image.sh"}]}
JSON
config_sha="$(sha256sum "$work/config.json" | cut -d' ' -f1)"
mv "$work/config.json" "$work/archive/$config_sha.json"
cat >"$work/archive/manifest.json" <<JSON
[{"Config":"$config_sha.json","RepoTags":["hello-server:latest"],"Layers":["layer/layer.tar"]}]
JSON
tar_fixed -C "$work/archive" -cf - . | gzip -n >"$out"
rm -rf "$work"

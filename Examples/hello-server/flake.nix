{
  description = "hello-server: a tiny busybox HTTP server as a docker image, built offline";

  # No inputs: this flake builds without nixpkgs and without a network. The builder uses the
  # host's /bin/sh, tar, gzip and the static busybox (Debian's busybox-static), which works
  # because Debian's Nix runs builds without a sandbox.
  outputs = { self }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forEach = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
    in {
      packages = forEach (system: rec {
        docker-image = derivation {
          name = "hello-server-image.tar.gz";
          inherit system;
          builder = "/bin/sh";
          args = [ ./build-image.sh ];
          PATH = "/usr/bin:/bin";
          busybox = "/bin/busybox";
          www = ./www;
        };
        default = docker-image;
      });
    };
}

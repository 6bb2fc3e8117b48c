import Foundation

/// Offline flakes whose one package is a gzipped docker-archive image (built as the example's
/// `build-image.sh` builds it: fixed times, owners and order), deterministic or made
/// non-deterministic in one way, so that a reproducibility check has something to find.
public enum ReproducibilityFixtures {
    /// How the image's builder behaves.
    public enum Variant: String, Sendable, CaseIterable {
        /// The same bytes every time.
        case deterministic
        /// Writes the build's time (`date +%s%N`) into `etc/built-at`.
        case timestamp
        /// Writes 16 random bytes into `etc/random-id`.
        case randomBytes = "random-bytes"
        /// Puts the same eight files in the layer in a random order (`shuf`): every file is the
        /// same, only their order in the tar differs.
        case fileOrder = "file-order"
        /// Writes what the build's environment says about itself (the builder's process ID and how
        /// many processes the host runs) into `etc/build-host`.
        case environment
        /// Deterministic, but its second build (a marker in ``stateFolder`` says the first
        /// happened) writes its PID to `rebuild.pid` there and sleeps: for cancellation tests.
        case slowRebuild = "slow-rebuild"

        /// The file inside the layer that differs between two builds (nil when none does).
        public var differingFile: String? {
            switch self {
            case .deterministic, .slowRebuild: return nil
            case .timestamp: return "etc/built-at"
            case .randomBytes: return "etc/random-id"
            case .fileOrder: return "data/"  // the first of the shuffled files, whichever it is
            case .environment: return "etc/build-host"
            }
        }
    }

    /// The attribute the flake builds: `.#image`.
    public static let installable = ".#image"

    /// Writes the flake (`flake.nix`, `build-image.sh`) for `variant` into `repository` and
    /// commits it. `nonce` goes into the derivation, so that each test builds its own.
    /// `stateFolder` (world-writable: nix's build users write there) is used by `.slowRebuild`.
    @discardableResult
    public static func commit(_ variant: Variant, to repository: GitFixtureRepository,
                              nonce: String = UUID().uuidString, stateFolder: URL? = nil) throws -> String {
        try repository.commit("image flake (\(variant.rawValue))", files: [
            "flake.nix": flake(nonce: nonce, variant: variant, stateFolder: stateFolder),
            "build-image.sh": builder(variant),
        ])
    }

    /// A pipeline that builds the flake's image in the stage `image`, with no binary cache;
    /// `nightlyReproduce` sets `nightly: { reproduce: true }`.
    public static func pipeline(name: String = "repro", repository: URL, nightlyReproduce: Bool = false) -> String {
        """
        version: 1
        name: \(name)
        source: { git: "\(repository.path)", ref: main }
        nix:
          options: { substituters: "" }
        \(nightlyReproduce ? "nightly: { reproduce: true }" : "")
        stages:
          image:
            nix-build: { installable: "\(installable)" }

        """
    }

    static func flake(nonce: String, variant: Variant, stateFolder: URL?) -> String {
        NixFixtures.offlineFlake(description: "sutradhar reproducibility fixture (\(variant.rawValue))", packages: [
            ("image", "repro-fixture-image.tar.gz",
             ["args = [ ./build-image.sh ];", "nonce = \"\(nonce)\";", "state = \"\(stateFolder?.path ?? "")\";"]),
        ])
    }

    static func builder(_ variant: Variant) -> String {
        let twist: String
        switch variant {
        case .deterministic: twist = ""
        case .slowRebuild:
            twist = #"""
                if [ -e "$state/built-once" ]; then
                    sleep 300 &
                    printf '%s\n%s\n' "$$" "$!" > "$state/rebuild.pid.tmp" && mv "$state/rebuild.pid.tmp" "$state/rebuild.pid"
                    wait
                fi
                touch "$state/built-once"
                """#
        case .timestamp: twist = #"date +%s%N > "$root/etc/built-at""#
        case .randomBytes: twist = #"head -c 16 /dev/urandom > "$root/etc/random-id""#
        case .fileOrder: twist = ""
        case .environment: twist = #"echo "built by pid $$ on a host running $(ls /proc | grep -c '^[0-9]') processes" > "$root/etc/build-host""#
        }
        // The file-order variant lists the layer's files in a shuffled order instead of sorting them.
        let layer = variant == .fileOrder
            ? #"(cd "$root" && tar --mtime=@1 --owner=0 --group=0 --numeric-owner --no-recursion -cf "$work/archive/layer/layer.tar" ./etc ./etc/motd ./data $(find ./data -type f | shuf))"#
            : #"tar_fixed -C "$root" -cf "$work/archive/layer/layer.tar" ."#
        return """
            # A docker-archive of one layer; every time, owner and order is fixed, except for the
            # one thing the variant makes differ.
            set -eu
            work="$(mktemp -d)"
            root="$work/root"
            mkdir -p "$root/etc" "$root/data" "$work/archive/layer"
            echo "welcome" > "$root/etc/motd"
            for i in 1 2 3 4 5 6 7 8; do echo "file $i" > "$root/data/file-$i"; done
            \(twist)
            tar_fixed() { tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner "$@"; }
            \(layer)
            layer_sha="$(sha256sum "$work/archive/layer/layer.tar" | cut -d' ' -f1)"
            cat >"$work/config.json" <<JSON
            {"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:01Z","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:$layer_sha"]}}
            JSON
            config_sha="$(sha256sum "$work/config.json" | cut -d' ' -f1)"
            mv "$work/config.json" "$work/archive/$config_sha.json"
            mkdir -p "$work/archive/$layer_sha"
            mv "$work/archive/layer/layer.tar" "$work/archive/$layer_sha/layer.tar"
            rmdir "$work/archive/layer"
            cat >"$work/archive/manifest.json" <<JSON
            [{"Config":"$config_sha.json","RepoTags":["repro-fixture:latest"],"Layers":["$layer_sha/layer.tar"]}]
            JSON
            tar_fixed -C "$work/archive" -cf - . | gzip -n >"$out"
            rm -rf "$work"

            """
    }
}

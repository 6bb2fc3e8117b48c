import Foundation
import NixBuild
import Testing

@Suite struct ResolveInstallableTests {
    let checkout = URL(fileURLWithPath: "/var/cache/sutradhar/checkouts/abc123")

    @Test(arguments: [
        (".", "path:/var/cache/sutradhar/checkouts/abc123"),
        (".#docker-image", "path:/var/cache/sutradhar/checkouts/abc123#docker-image"),
        ("./#docker-image", "path:/var/cache/sutradhar/checkouts/abc123#docker-image"),
        ("./sub#attr", "path:/var/cache/sutradhar/checkouts/abc123/sub#attr"),
        ("./sub/../other#a.b", "path:/var/cache/sutradhar/checkouts/abc123/other#a.b"),
        ("..#attr", "path:/var/cache/sutradhar/checkouts#attr"),
        (".?dir=nested#attr", "path:/var/cache/sutradhar/checkouts/abc123?dir=nested#attr"),
    ])
    func relativeFlakesBecomeAbsolutePathFlakes(installable: String, expected: String) {
        #expect(Nix.resolveInstallable(installable, in: checkout) == expected)
    }

    @Test(arguments: [
        "github:owner/repo#attr",
        "git+file:///srv/repo?ref=main#attr",
        "path:/already/absolute#attr",
        "/nix/store/0c0lyq6rkbbyzzcghv3wlwcw7bk1xy32-hello-2.12",
        "/nix/store/0c0lyq6rkbbyzzcghv3wlwcw7bk1xy32-hello-2.12.drv^out",
        "nixpkgs#hello",
        "sub#attr",
    ])
    func otherInstallablesAreLeftAlone(installable: String) {
        #expect(Nix.resolveInstallable(installable, in: checkout) == installable)
    }

    @Test func folderWithASpaceFallsBackToARelativePathFlake() {
        // nix 2.8 neither accepts a space in a path: URL nor decodes %20, so the path stays
        // relative to the working directory that nix runs in.
        let folder = URL(fileURLWithPath: "/home/me/My Builds/abc")
        #expect(Nix.resolveInstallable(".#attr", in: folder) == "path:.#attr")
        #expect(Nix.resolveInstallable("./sub#attr", in: folder) == "path:./sub#attr")
    }
}

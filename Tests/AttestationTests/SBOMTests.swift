import Attestation
import Foundation
import Testing

/// The CycloneDX encoding of a closure and the NAR hash forms nix prints.
@Suite struct SBOMTests {
    @Test func narHashFormsAllGiveTheSameHex() throws {
        // The same digest as SRI base64 (nix 2.8's path-info) and as nix base32 (older nix).
        let sri = "sha256-ZLVUAEL/65QVt3vLmq/H5PXBlfMTttrl6pPWc0AZNas="
        let hex = try #require(StorePathInfo.narHashHex(sri))
        #expect(hex == "64b5540042ffeb9415b77bcb9aafc7e4f5c195f313b6dae5ea93d673401935ab")
        #expect(StorePathInfo.narHashHex("sha256:" + hex) == hex)
        #expect(StorePathInfo.narHashHex("sha256:1nixbase32isfiftytwocharacterslong000000000000000") == nil)
        #expect(StorePathInfo.narHashHex("md5-abc") == nil)
    }

    @Test func nixBase32DecodesAKnownHash() {
        // `nix hash to-base32 sha256-ZLVUAEL/65QVt3vLmq/H5PXBlfMTttrl6pPWc0AZNas=`
        #expect(StorePathInfo.narHashHex("sha256:1arm35077mlkxbjxmdhkyfaw3xg4qyprmjvvnwar9szz88059db4")
            == "64b5540042ffeb9415b77bcb9aafc7e4f5c195f313b6dae5ea93d673401935ab")
    }

    @Test func bothPathInfoShapesAreRead() throws {
        let list = #"[{"path":"/nix/store/aaa-hello-2.12","narHash":"sha256-ZLVUAEL/65QVt3vLmq/H5PXBlfMTttrl6pPWc0AZNas=","narSize":5,"references":["/nix/store/aaa-hello-2.12","/nix/store/bbb-glibc-2.37"]}]"#
        let object = #"{"/nix/store/aaa-hello-2.12":{"narHash":"sha256-ZLVUAEL/65QVt3vLmq/H5PXBlfMTttrl6pPWc0AZNas=","narSize":5,"references":["/nix/store/bbb-glibc-2.37"]}}"#
        let fromList = try StorePathInfo.parse(pathInfoJSON: Data(list.utf8))
        let fromObject = try StorePathInfo.parse(pathInfoJSON: Data(object.utf8))
        #expect(fromList == fromObject)
        #expect(fromList.first?.references == ["/nix/store/bbb-glibc-2.37"])
        #expect(fromList.first?.name == "hello-2.12")
        #expect(throws: AttestationError.self) { try StorePathInfo.parse(pathInfoJSON: Data(#"[{"path":"/nix/store/x"}]"#.utf8)) }
    }

    @Test func theBOMListsEveryPathWithItsHashAndReferences() throws {
        let closure = [
            StorePathInfo(path: "/nix/store/aaa-hello-2.12", narSHA256: String(repeating: "1", count: 64), narSize: 5,
                          references: ["/nix/store/bbb-glibc-2.37"], deriver: nil),
            StorePathInfo(path: "/nix/store/bbb-glibc-2.37", narSHA256: String(repeating: "2", count: 64), narSize: 7,
                          references: [], deriver: "/nix/store/ccc-glibc-2.37.drv"),
        ]
        let data = try NixClosureSBOM.encode(root: "/nix/store/aaa-hello-2.12", closure: closure, toolVersion: "test")
        #expect(try NixClosureSBOM.encode(root: "/nix/store/aaa-hello-2.12", closure: closure.reversed(), toolVersion: "test") == data)
        let bom = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(bom["specVersion"] as? String == "1.5")
        let components = try #require(bom["components"] as? [[String: Any]])
        #expect(components.map { $0["bom-ref"] as? String } == ["/nix/store/aaa-hello-2.12", "/nix/store/bbb-glibc-2.37"])
        #expect(components.map { $0["version"] as? String } == ["2.12", "2.37"])
        let dependencies = try #require(bom["dependencies"] as? [[String: Any]])
        #expect(dependencies.first?["dependsOn"] as? [String] == ["/nix/store/bbb-glibc-2.37"])
        #expect((bom["serialNumber"] as? String)?.hasPrefix("urn:uuid:") == true)
    }
}

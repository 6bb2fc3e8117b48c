/// A Nix release number, as printed by `nix --version`.
public struct NixVersion: Sendable, Comparable, Hashable, CustomStringConvertible {
    /// The first number of the release (`2` in 2.8.0).
    public let major: Int
    /// The second number of the release (`8` in 2.8.0).
    public let minor: Int
    /// The third number of the release (`0` in 2.8.0); 0 when nix printed none (`2.4pre…`).
    public let patch: Int

    /// The oldest release this module works with: 2.4 brought flakes and `nix build --json`.
    public static let minimumSupported = NixVersion(major: 2, minor: 4, patch: 0)

    /// Creates a version from its three numbers.
    public init(major: Int, minor: Int, patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Reads the version from the output of `nix --version`.
    ///
    /// Understands `nix (Nix) 2.8.0`, pre-releases such as `nix (Nix) 2.4pre20211001_dd77f71`
    /// (read as 2.4.0), and forks that name themselves in the parentheses, such as
    /// `nix (Determinate Nix 3.6.2) 2.29.0` or `nix (Lix, like Nix) 2.91.1`: the number after the
    /// parentheses is the Nix language and CLI version, which is what matters here.
    /// Returns `nil` when the first line carries no `MAJOR.MINOR` number.
    public static func parse(_ versionOutput: String) -> NixVersion? {
        let firstLine = versionOutput.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        // Whatever sits in the parentheses is a distribution's name and may hold its own number.
        let afterName: Substring
        if let closing = firstLine.lastIndex(of: ")") {
            afterName = firstLine[firstLine.index(after: closing)...]
        } else {
            afterName = firstLine[...]
        }
        for token in afterName.split(separator: " ").reversed() {
            if let version = parseNumber(token) {
                return version
            }
        }
        return nil
    }

    /// Reads `MAJOR.MINOR[.PATCH]` from the start of a token, ignoring a suffix such as `pre2021…`.
    private static func parseNumber(_ token: Substring) -> NixVersion? {
        var numbers: [Int] = []
        var digits = ""
        for character in token {
            if let digit = character.wholeNumberValue, character.isASCII {
                digits.append(Character(String(digit)))
            } else if character == ".", !digits.isEmpty, numbers.count < 2 {
                numbers.append(Int(digits)!)
                digits = ""
            } else {
                break
            }
        }
        if !digits.isEmpty, let last = Int(digits) {
            numbers.append(last)
        }
        guard numbers.count >= 2 else { return nil }
        return NixVersion(major: numbers[0], minor: numbers[1], patch: numbers.count > 2 ? numbers[2] : 0)
    }

    /// Orders versions by major, then minor, then patch number.
    public static func < (lhs: NixVersion, rhs: NixVersion) -> Bool {
        (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
    }

    /// The version as `MAJOR.MINOR.PATCH`.
    public var description: String { "\(major).\(minor).\(patch)" }
}

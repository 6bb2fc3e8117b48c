/// An `application/x-www-form-urlencoded` body, parsed without anything that can trap.
///
/// Foundation's `URLComponents.percentEncodedQuery` setter traps (SIGILL) on text that is not
/// strictly percent-encoded — `commit=50%`, a raw space, `é` — which killed the server and
/// abandoned its runs. This parser accepts what browsers send and tolerates what they do not:
/// `+` is a space, `%XY` with two hex digits is a byte, any other `%` is kept as it is, and the
/// bytes are read as UTF-8 with invalid sequences replaced. The first value of a name wins.
enum FormBody {
    /// The fields of `body`.
    static func fields(_ body: some Collection<UInt8>) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = decoded(parts[0])
            let value = parts.count > 1 ? decoded(parts[1]) : ""
            if fields[name] == nil { fields[name] = value }
        }
        return fields
    }

    /// `bytes` with `+` as a space and valid `%XY` escapes decoded, as UTF-8 text.
    static func decoded(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        while index < input.count {
            let byte = input[index]
            if byte == UInt8(ascii: "+") {
                output.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index + 2 < input.count,
                      let high = hex(input[index + 1]), let low = hex(input[index + 2]) {
                output.append(high << 4 | low)
                index += 3
                continue
            } else {
                output.append(byte)
            }
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

import Foundation

/// A bundle of envelopes about one artefact, one DSSE envelope (compact JSON) per line: the
/// `.intoto.jsonl` form SLSA's generators publish beside a release, and what a push beside a
/// binary cache writes per image.
public enum AttestationBundle {
    /// The most envelopes a bundle keeps: every rerun that signs anew adds one, and a deploy step
    /// needs the newest, so the oldest go first.
    public static let maximumEnvelopes = 64
    /// The largest bundle read (a bundle is a few envelopes of a few KiB each).
    public static let maximumSize = 16 << 20

    /// The envelopes of `bundle`, one per non-empty line.
    /// - Throws: `AttestationError` `.malformedEnvelope` naming the line that is not an envelope.
    public static func envelopes(in bundle: Data) throws -> [Data] {
        var lines: [Data] = []
        for (index, line) in bundle.split(separator: UInt8(ascii: "\n")).enumerated() {
            let data = Data(line)
            do {
                _ = try Envelope.decode(data)
            } catch let error as AttestationError {
                throw AttestationError(.malformedEnvelope, "line \(index + 1): \(error.message)")
            }
            lines.append(data)
        }
        return lines
    }

    /// `bundle` (nil: none yet) with `envelope` added as its last line: an equal envelope already
    /// there is moved to the end rather than repeated, a line that is not an envelope (a torn
    /// write of another tool) is dropped, and past ``maximumEnvelopes`` the oldest go.
    /// - Throws: `AttestationError` `.malformedEnvelope` if `envelope` is not one.
    public static func adding(_ envelope: Data, to bundle: Data?) throws -> Data {
        let line = try CanonicalJSON.encode(Envelope.decode(envelope))
        var lines = (bundle ?? Data()).split(separator: UInt8(ascii: "\n")).map { Data($0) }
            .filter { $0 != line && (try? Envelope.decode($0)) != nil }
        lines.append(line)
        return Data(lines.suffix(maximumEnvelopes).joined(separator: [UInt8(ascii: "\n")])) + [UInt8(ascii: "\n")]
    }
}

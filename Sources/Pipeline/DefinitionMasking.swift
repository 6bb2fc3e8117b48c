import Foundation
import Yams

/// A definition's text as it may be shown to someone (the dashboard's pipeline page, a rendered
/// Kubernetes manifest's note): every value of an `env:` mapping, which is where secrets go, is
/// replaced by `***`; names, comments and layout stay as written.
public enum DefinitionMasking {
    /// What a masked value reads as.
    public static let mask = "***"

    /// `text` with each `env:` value masked, wherever an `env:` mapping appears (a stage, a
    /// probe, a sidecar). Text that is not YAML is returned with nothing masked only when it has
    /// no `env:` at all; otherwise every line from the first `env:` on is masked after its key,
    /// so a definition that does not parse never shows a value either.
    public static func masked(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let root = try? Yams.compose(yaml: text) else {
            return text.contains("env") ? maskedBlindly(lines) : text
        }
        var values: [Node] = []
        collectEnvironmentValues(root, into: &values)
        // Right to left on a line, so earlier columns stay valid.
        for node in values.sorted(by: { ($0.mark?.line ?? 0, $0.mark?.column ?? 0) > ($1.mark?.line ?? 0, $1.mark?.column ?? 0) }) {
            guard let mark = node.mark, mark.line >= 1, mark.line <= lines.count else { continue }
            mask(node, at: mark, in: &lines)
        }
        return lines.joined(separator: "\n")
    }

    private static func collectEnvironmentValues(_ node: Node, into values: inout [Node]) {
        switch node {
        case .mapping(let mapping):
            for (key, value) in mapping {
                if case .scalar(let scalar) = key, scalar.string == "env", case .mapping(let environment) = value {
                    values += environment.map(\.value)
                } else {
                    collectEnvironmentValues(value, into: &values)
                }
            }
        case .sequence(let sequence):
            for item in sequence { collectEnvironmentValues(item, into: &values) }
        default:
            break
        }
    }

    /// Masks one value starting at `mark`: to the end of a quoted scalar, to the next `,` or `}`
    /// of a flow mapping, else to the end of the line; a block scalar (`|`, `>`) also loses the
    /// lines indented under it.
    private static func mask(_ node: Node, at mark: Mark, in lines: inout [String]) {
        let index = mark.line - 1
        let line = Array(lines[index])
        let start = min(max(0, mark.column - 1), line.count)
        guard start < line.count else { return }
        var end = line.count
        let first = line[start]
        if first == "\"" || first == "'" {
            var position = start + 1
            while position < line.count {
                if line[position] == "\\", first == "\"" { position += 2; continue }
                if line[position] == first {
                    if first == "'", position + 1 < line.count, line[position + 1] == "'" { position += 2; continue }
                    break
                }
                position += 1
            }
            end = min(position + 1, line.count)
        } else if first == "|" || first == ">" {
            let indent = line.prefix { $0 == " " }.count
            var next = index + 1
            while next < lines.count, lines[next].trimmingCharacters(in: .whitespaces).isEmpty || lines[next].prefix(while: { $0 == " " }).count > indent {
                lines[next] = String(repeating: " ", count: indent + 2) + mask
                next += 1
            }
        } else if let stop = line[start...].firstIndex(where: { $0 == "," || $0 == "}" }), isInFlowMapping(line, before: start) {
            end = stop
        } else if let comment = line[start...].indices.first(where: { line[$0] == "#" && $0 > start && line[$0 - 1] == " " }) {
            end = comment - 1
        }
        lines[index] = String(line[..<start]) + mask + String(line[end...])
    }

    private static func isInFlowMapping(_ line: [Character], before column: Int) -> Bool {
        line[..<column].contains("{")
    }

    /// For text that is not YAML: after the first `env:`, every `key: value` keeps only its key.
    private static func maskedBlindly(_ lines: [String]) -> String {
        var seenEnvironment = false
        return lines.map { line -> String in
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("env:") || line.contains(" env:") { seenEnvironment = true }
            guard seenEnvironment, let colon = line.firstIndex(of: ":") else { return line }
            let rest = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            return rest.isEmpty ? line : String(line[...colon]) + " " + mask
        }.joined(separator: "\n")
    }
}

// libyaml is Yams' own C target: reading its events directly is the only way to see aliases
// before Yams composes (and hashes) the tree they expand to.
internal import CYaml

/// Bounds the size a YAML text expands to once aliases are followed, reading libyaml's events
/// (no tree is built), so a billion-laughs alias bomb costs at most one pass over the text.
enum ExpansionBudget {
    /// Where the expanded node count first exceeds `limit` (1-based line and column of the
    /// event that crossed it), or nil if the text fits. Syntax errors stop the count and are
    /// left to the composer, which reports them with their position.
    static func firstExcess(in yaml: String, limit: Int) -> (line: Int, column: Int)? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        var bytes = Array(yaml.utf8)
        return bytes.withUnsafeMutableBufferPointer { buffer -> (line: Int, column: Int)? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            // Expanded size of each anchored node, and of each collection still open.
            var anchors: [String: Int] = [:]
            var open: [(anchor: String?, size: Int)] = []
            var total = 0
            // Adds to the innermost open collection (or the documents); false once over the limit.
            // Every counter stays within the limit, so no sum can overflow.
            func add(_ size: Int) -> Bool {
                if open.isEmpty {
                    total += size
                    return total <= limit
                }
                open[open.count - 1].size += size
                return open[open.count - 1].size <= limit
            }
            func name(_ anchor: UnsafeMutablePointer<yaml_char_t>?) -> String? {
                anchor.map { String(cString: $0) }
            }
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                let fits: Bool
                switch event.type {
                case YAML_SCALAR_EVENT:
                    if let anchor = name(event.data.scalar.anchor) { anchors[anchor] = 1 }
                    fits = add(1)
                case YAML_ALIAS_EVENT:
                    fits = add(name(event.data.alias.anchor).flatMap { anchors[$0] } ?? 1)
                case YAML_SEQUENCE_START_EVENT:
                    open.append((name(event.data.sequence_start.anchor), 1))
                    fits = true
                case YAML_MAPPING_START_EVENT:
                    open.append((name(event.data.mapping_start.anchor), 1))
                    fits = true
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    let done = open.removeLast()
                    if let anchor = done.anchor { anchors[anchor] = done.size }
                    fits = add(done.size)
                case YAML_STREAM_END_EVENT:
                    return nil
                default:
                    fits = true
                }
                if !fits {
                    return (Int(event.start_mark.line) + 1, Int(event.start_mark.column) + 1)
                }
            }
        }
    }
}

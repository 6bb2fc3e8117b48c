/// Text that goes into an HTML page or an SVG document. Everything the dashboard shows from a
/// run — log lines, commit messages, error text, definition text, stage and pipeline names — is
/// user-controlled, so every such string passes through `escaped` before it is written.
public enum MarkupText {
    /// `text` with `& < > " '` replaced by entities: safe in element content and in a quoted
    /// attribute value, in HTML and in SVG alike.
    public static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}

/// How text that Sutradhar did not write (a log line, a commit subject, an error a daemon or a
/// probe sent back, a definition's strings) is shown to a person. One policy for every front end.
///
/// On a terminal such text must not act: an escape sequence can write the clipboard (OSC 52),
/// retitle the window, plant a hyperlink to a local file (OSC 8), clear the screen or move the
/// cursor over what Sutradhar printed; a right-to-left override reorders what the reader sees.
/// So control characters and bidirectional formatting characters are made *visible* instead,
/// as `git` and `less` do: C0 controls in caret notation (`ESC` becomes `^[`, `DEL` `^?`), C1
/// controls and bidi controls as `<U+XXXX>`. Tabs and (where asked) newlines stay as they are.
///
/// JSON output keeps the exact text (it is data for a program, escaped by the encoder); HTML is
/// escaped by `MarkupText.escaped` in the dashboard's one place for it.
public enum TextPolicy {
    /// `text` made safe for a terminal: nothing in it can move the cursor, change a setting of
    /// the terminal or reorder what is shown; every such character is shown as a visible
    /// notation instead of being dropped, so the reader sees that it was there.
    /// - Parameters:
    ///   - text: text from outside (a log line, a name, an error message).
    ///   - keepingNewlines: keep `\n` as line breaks (multi-line text such as a log tail); when
    ///     false a newline becomes `^J`, for text that must stay on one line.
    public static func terminal(_ text: some StringProtocol, keepingNewlines: Bool = true) -> String {
        // Fast path: most text has nothing to change.
        if !text.unicodeScalars.contains(where: { needsEscaping($0, keepingNewlines: keepingNewlines) }) {
            return String(text)
        }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard needsEscaping(scalar, keepingNewlines: keepingNewlines) else {
                result.append(scalar)
                continue
            }
            result.append(contentsOf: visible(scalar).unicodeScalars)
        }
        return String(result)
    }

    /// Whether `scalar` would act on a terminal or reorder text.
    static func needsEscaping(_ scalar: Unicode.Scalar, keepingNewlines: Bool) -> Bool {
        switch scalar.value {
        case 0x09: return false                       // tab: harmless
        case 0x0A: return !keepingNewlines
        case 0x00...0x1F, 0x7F: return true           // C0 controls, DEL
        case 0x80...0x9F: return true                 // C1 controls (0x9B is a one-byte CSI)
        default: return isBidiControl(scalar)
        }
    }

    /// The explicit directional formatting characters (Unicode's Bidi_Control property, which
    /// Swift does not expose): LRM, RLM, ALM, the embeddings and overrides, the isolates.
    static func isBidiControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    /// The visible notation of a character that must not act.
    static func visible(_ scalar: Unicode.Scalar) -> String {
        switch scalar.value {
        case 0x7F: return "^?"
        case 0x00...0x1F: return "^" + String(Unicode.Scalar(UInt8(scalar.value + 0x40)))
        default:
            let hex = String(scalar.value, radix: 16, uppercase: true)
            return "<U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex + ">"
        }
    }
}

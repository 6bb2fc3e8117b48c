import Foundation
import SutradharKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Fitting the live view's rows to the terminal, in display columns.
///
/// A row wider than the terminal wraps onto a second physical row, but the redraw moves the cursor
/// up one row per stage: the wrapped part stays behind and the table is printed again and again.
/// So every redrawn row is cut to the width, measured conservatively (see ``columns(of:)``).
enum TerminalText {
    /// The width of the terminal on `descriptor` (`ioctl(TIOCGWINSZ)`), or nil when it is no
    /// terminal or reports no width (a pseudo-terminal nobody sized says 0).
    static func width(of descriptor: Int32) -> Int? {
        var size = winsize()
        guard ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    /// The columns `character` takes, never less than a terminal gives it: 1 for printable ASCII,
    /// 0 for control characters, 2 for anything else. Wide (CJK, emoji) characters take 2, and
    /// "ambiguous" ones such as `…` and `│` take 2 in East Asian locales; counting a narrow one as 2
    /// only cuts a row a little early, while counting a wide one as 1 would wrap it.
    static func columns(of character: Character) -> Int {
        guard let ascii = character.asciiValue else { return 2 }
        return ascii < 0x20 || ascii == 0x7F ? 0 : 1
    }

    /// `text` on one row, unable to move the cursor or restyle the view.
    static func printable(_ text: some StringProtocol) -> String {
        // A tab would jump to the next tab stop and wrap the row: a space. The rest as every
        // human-facing output shows it (`TextPolicy`): an escape as `^[`, an override as `<U+202E>`.
        TextPolicy.terminal(String(text).replacingOccurrences(of: "\t", with: " "), keepingNewlines: false)
    }

    /// `text` cut to at most `width` display columns, ending in `…` when it was cut. Style
    /// sequences (`ESC[…m`, which the renderer adds) take no columns and are kept whole; after a
    /// cut, a reset ends the style that was open.
    static func fit(_ text: String, width: Int) -> String {
        guard visibleColumns(of: text[...]) > width else { return text }
        let ellipsis: Character = "…"
        let room = max(0, width - columns(of: ellipsis))
        var result = ""
        var used = 0
        var inSequence = false
        for character in text {
            if inSequence || character == "\u{1B}" {
                inSequence = character == "\u{1B}" || !character.isLetter
                result.append(character)
                continue
            }
            let needed = columns(of: character)
            if used + needed > room { break }
            result.append(character)
            used += needed
        }
        result.append(ellipsis)
        if result.contains("\u{1B}[") { result += "\u{1B}[0m" }
        return result
    }

    /// The columns `text` takes, its style sequences aside.
    private static func visibleColumns(of text: Substring) -> Int {
        var total = 0
        var inSequence = false
        for character in text {
            if inSequence {
                if character.isLetter { inSequence = false }
            } else if character == "\u{1B}" {
                inSequence = true
            } else {
                total += columns(of: character)
            }
        }
        return total
    }
}

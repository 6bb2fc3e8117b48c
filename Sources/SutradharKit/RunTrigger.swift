import Pipeline
import RunHistory

extension RunTrigger {
    /// The trigger when none is given: a folder source is a developer iterating; JSON events read
    /// by no terminal are a machine; anything else is a person.
    /// - Parameters:
    ///   - source: the source override (`--source`), if any: a URL or a folder.
    ///   - jsonEvents: whether the events are printed as JSON lines.
    ///   - outputIsTerminal: whether standard output is a terminal.
    public static func inferred(source: String?, jsonEvents: Bool, outputIsTerminal: Bool) -> RunTrigger {
        if let source, !SourceSpec.isURL(source) { return .local }
        if jsonEvents, !outputIsTerminal { return .agent }
        return .manual
    }
}

/// What started a run, recorded in the run history (its `trigger` column holds `rawValue`).
public enum RunTrigger: String, Sendable, Codable, CaseIterable {
    /// A program (an agent, a CI job) reading the JSON events.
    case agent
    /// The nightly rebuild (`sutradhar nightly`, a systemd timer).
    case nightly
    /// A developer iterating on a working tree (`--source FOLDER`, `watch`).
    case local
    /// A person at a terminal.
    case manual
}

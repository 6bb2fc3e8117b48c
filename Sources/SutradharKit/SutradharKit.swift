// SutradharKit: the one product a front end depends on. `import SutradharKit` gives the
// definition format (Pipeline), running a plan with typed events (Engine), the operations above
// the history (Operations: doctor, cache tools, nightly, schedule, watch), the run history
// (RunHistory) and the cache's types (BuildCache), plus the logic every front end shares
// (cache root, pipeline lookup, triggers, a run as an AsyncSequence of events).
@_exported import BuildCache
@_exported import Engine
@_exported import Launcher
@_exported import Operations
@_exported import Pipeline
@_exported import RunHistory
// Attestations are made by the engine and read through Operations and RunHistory: a front end
// needs only the error they throw.
@_exported import struct Attestation.AttestationError
@_exported import struct Attestation.VerifyingKey

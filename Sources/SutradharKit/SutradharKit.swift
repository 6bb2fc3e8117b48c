@_exported import Automation
@_exported import BuildCache
@_exported import Engine
@_exported import Insights
@_exported import KubeRendering
@_exported import Launcher
@_exported import Maintenance
@_exported import Pipeline
@_exported import RunEvents
@_exported import RunHistory
@_exported import Verification
@_exported import struct Attestation.AttestationError
@_exported import struct Attestation.VerifyingKey
@_exported import struct FileWatching.CallerError
